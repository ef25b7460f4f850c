"""Web endpoints: `@fastapi_endpoint`, `@asgi_app`, `@wsgi_app` and `@web_server`.

Stacked under `@app.function(...)`, each decorator only tags the user's function with a
`WebEndpoint` (validated now, at decoration time); `App.function` copies the tag into the
function's definition. The gateway in the server process then routes HTTP to the function:

    http://<gateway>/<app-name>/<label>/<path>        path form (any host; what get_web_url() returns)
    http://<app-name>-<label>.<web-domain>/<path>     host form, when the server runs with --web-domain

`label` defaults to the function name (lowercase, `_` becomes `-`). Apps that are not deployed
(`squall run`, `squall serve`) get `-dev` after the label, so a served copy never shadows the
deployed one. A request travels as one input of the function (an ASGI scope and body); the
response comes back as the function's streamed outputs. See container/web.py for the container
side and server/gateway.py for the HTTP side.
"""

from __future__ import annotations

import re

from squall._proto.squall.v1 import web_pb2
from squall.exception import InvalidError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DEV_SUFFIX = "-dev"


def _check_label(label, where: str) -> None:
    if label is None:
        return
    if not isinstance(label, str) or not _LABEL.match(label) or "--" in label:
        raise InvalidError(f"{where}(label={label!r}): a label is 1 to 63 lowercase letters, digits and single hyphens, "
                           f"starting and ending with a letter or digit (e.g. 'my-api')")


def default_label(function_name: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", function_name.lower()).strip("-")
    return re.sub(r"-{2,}", "-", label)[:63].strip("-") or "fn"


def _tag(where: str, endpoint: web_pb2.WebEndpoint):
    from squall.sdk.function import Function

    def deco(raw_f):
        if isinstance(raw_f, Function):
            raise InvalidError(f"@{where} must come below @app.function(...) (the decorator nearest the function), not above it")
        if not callable(raw_f):
            raise InvalidError(f"@{where} decorates a function, not {raw_f!r}")
        if getattr(raw_f, "__squall_web__", None) is not None:
            raise InvalidError(f"{getattr(raw_f, '__name__', raw_f)} already has a web decorator; use one of fastapi_endpoint, asgi_app, wsgi_app, web_server")
        raw_f.__squall_web__ = endpoint
        return raw_f

    return deco


def fastapi_endpoint(_warn_parentheses=None, *, method: str = "GET", label: str | None = None, docs: bool = False,
                     requires_proxy_auth: bool = False, custom_domains=None):
    """Serve the function as one FastAPI route at its URL's root. The image needs `fastapi`
    (e.g. `Image.debian_slim().pip_install("fastapi[standard]")`)."""
    if _warn_parentheses is not None:
        raise InvalidError("use @fastapi_endpoint() with parentheses")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidError(f"@fastapi_endpoint(method={method!r}): choose one of {', '.join(METHODS)}")
    _check_label(label, "@fastapi_endpoint")
    _no_custom_domains(custom_domains, "fastapi_endpoint")
    return _tag("fastapi_endpoint", web_pb2.WebEndpoint(kind="fastapi_endpoint", method=method.upper(), label=label or "", docs=bool(docs),
                                                        requires_proxy_auth=bool(requires_proxy_auth)))


web_endpoint = fastapi_endpoint  # Modal's older name


def asgi_app(_warn_parentheses=None, *, label: str | None = None, requires_proxy_auth: bool = False, custom_domains=None):
    """The function returns an ASGI app (FastAPI, Starlette, a plain ASGI callable); it is
    called once per container, and the app serves every request (WebSockets too)."""
    if _warn_parentheses is not None:
        raise InvalidError("use @asgi_app() with parentheses")
    _check_label(label, "@asgi_app")
    _no_custom_domains(custom_domains, "asgi_app")
    return _tag("asgi_app", web_pb2.WebEndpoint(kind="asgi_app", label=label or "", requires_proxy_auth=bool(requires_proxy_auth)))


def wsgi_app(_warn_parentheses=None, *, label: str | None = None, requires_proxy_auth: bool = False, custom_domains=None):
    """The function returns a WSGI app (Flask, Django); it runs in threads of the container."""
    if _warn_parentheses is not None:
        raise InvalidError("use @wsgi_app() with parentheses")
    _check_label(label, "@wsgi_app")
    _no_custom_domains(custom_domains, "wsgi_app")
    return _tag("wsgi_app", web_pb2.WebEndpoint(kind="wsgi_app", label=label or "", requires_proxy_auth=bool(requires_proxy_auth)))


def web_server(port: int, *, startup_timeout: float = 5.0, label: str | None = None, requires_proxy_auth: bool = False, custom_domains=None):
    """The function starts an HTTP server listening on `port` inside the container (and
    returns); requests are forwarded to it once the port opens."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidError(f"@web_server(port={port!r}): give the port the server listens on, an integer from 1 to 65535")
    if isinstance(startup_timeout, bool) or not isinstance(startup_timeout, (int, float)) or not 0 < startup_timeout <= 3600:
        raise InvalidError(f"@web_server(startup_timeout={startup_timeout!r}): give seconds, more than 0 and at most 3600")
    _check_label(label, "@web_server")
    _no_custom_domains(custom_domains, "web_server")
    return _tag("web_server", web_pb2.WebEndpoint(kind="web_server", port=port, startup_timeout_s=float(startup_timeout), label=label or "",
                                                  requires_proxy_auth=bool(requires_proxy_auth)))


def _no_custom_domains(custom_domains, where: str) -> None:
    if custom_domains:
        raise InvalidError(f"@{where}(custom_domains=...) is not supported: serve the gateway under your domain with `squall server --web-domain`")


def attach(app, function_name: str, raw_f, definition) -> None:
    """Copy a web decorator's tag into the definition; a label may be used once per app."""
    endpoint = getattr(raw_f, "__squall_web__", None)
    if endpoint is None:
        return
    definition.web.CopyFrom(endpoint)
    if not definition.web.label:
        definition.web.label = default_label(function_name)
    for other_name, other in app.registered_functions.items():
        if other._definition.HasField("web") and other._definition.web.label == definition.web.label:
            raise InvalidError(f"app {app.name!r}: web endpoints {other_name!r} and {function_name!r} both have the label {definition.web.label!r}; "
                               f"give one of them another label= (each URL needs its own)")


async def web_call(client, method: str, request, timeout: float = 30.0):
    from squall._proto.squall.v1 import web_pb2_grpc

    stub = getattr(client, "_web_stub", None)
    if stub is None:
        stub = client._web_stub = web_pb2_grpc.WebServiceStub(client.channel)
    return await client._call(getattr(stub, method), request, timeout)


async def web_url(fn) -> str | None:
    """The function's URL on the gateway; None for a function that is not a web endpoint."""
    client = await fn._client()
    if not fn._definition.HasField("web"):
        return None
    resp = await web_call(client, "WebUrls", web_pb2.WebUrlsRequest(function_ids=[fn._function_id]))
    if not resp.gateway_url:
        raise InvalidError("the squall server runs no HTTP gateway (it was started with --http-port -1); web endpoints have no URL")
    return resp.urls.get(fn._function_id)


async def app_urls(app) -> dict[str, str]:
    """Every web function of a running app, by function name."""
    fns = {name: f for name, f in app.registered_functions.items() if f._definition.HasField("web") and f._function_id}
    if not fns:
        return {}
    resp = await web_call(app._running.client, "WebUrls", web_pb2.WebUrlsRequest(function_ids=[f._function_id for f in fns.values()]))
    return {name: resp.urls[f._function_id] for name, f in fns.items() if f._function_id in resp.urls}
