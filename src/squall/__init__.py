"""Squall: serverless Python on machines you own, with Modal's API.

Public names are exported lazily so `import squall` stays fast inside every container.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "App": "squall.sdk.app",
    "Function": "squall.sdk.function",
    "FunctionCall": "squall.sdk.function",
    "Cls": "squall.sdk.cls",
    "Image": "squall.sdk.image",
    "Dict": "squall.sdk.dict",
    "Queue": "squall.sdk.queue",
    "Retries": "squall.sdk.retries",
    "Secret": "squall.sdk.secret",
    "Volume": "squall.sdk.volume",
    "CloudBucketMount": "squall.sdk.cloud_bucket_mount",
    "Sandbox": "squall.sdk.sandbox",
    "Tunnel": "squall.sdk.tunnel",
    "SandboxSnapshot": "squall.sdk.sandbox_snapshot",
    "enter": "squall.sdk.partial",
    "exit": "squall.sdk.partial",
    "method": "squall.sdk.partial",
    "concurrent": "squall.sdk.partial",
    "batched": "squall.sdk.partial",
    "parameter": "squall.sdk.partial",
    "current_input_id": "squall.sdk.runtime_info",
    "current_function_call_id": "squall.sdk.runtime_info",
    "is_local": "squall.sdk.runtime_info",
    "exception": "squall.exception",
    "fastapi_endpoint": "squall.sdk.web",
    "web_endpoint": "squall.sdk.web",
    "asgi_app": "squall.sdk.web",
    "wsgi_app": "squall.sdk.web",
    "web_server": "squall.sdk.web",
    "Period": "squall.sdk.schedule",
    "Cron": "squall.sdk.schedule",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'squall' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if name == "exception" else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
