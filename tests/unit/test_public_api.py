import subprocess
import sys

import squall


def test_exported_names_are_pinned():
    assert squall.__all__ == sorted([
        "App", "Cls", "Dict", "Function", "FunctionCall", "Image", "Queue", "Retries", "Sandbox", "Secret", "batched", "concurrent", "current_function_call_id",
        "current_input_id", "enter", "exception", "exit", "is_local", "method", "parameter",
        "Cron", "Period", "asgi_app", "fastapi_endpoint", "wsgi_app", "web_endpoint", "web_server",
        "Volume", "CloudBucketMount", "Tunnel", "SandboxSnapshot",
    ]) + ["__version__"]
    for name in squall.__all__:
        assert getattr(squall, name) is not None


def test_import_squall_stays_light():
    """Containers import squall at every cold start: no server, database or CLI code."""
    code = "import sys, squall, squall.container.agent; bad = [m for m in ('sqlalchemy', 'alembic', 'rich', 'click', 'squall.server') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"SQUALL_CONTAINER_SERVER": "unix:///nonexistent"})
    assert out.stdout.strip() == "[]"


def test_modal_alias(tmp_path):
    code = "from squall._compat import install_modal_alias; install_modal_alias(); import modal, squall; from modal.exception import InvalidError; " \
           "import squall.exception as e; print(modal is squall and InvalidError is e.InvalidError and modal.App is squall.App)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
