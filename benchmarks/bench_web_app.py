"""The trivial web endpoint the web benchmark calls: the same FastAPI route through the
gateway (`hello`) and under uvicorn directly (`direct_app`), plus a plain ASGI endpoint for
scale-from-zero beside a plain function's cold start (same image, same runtime)."""

import squall

app = squall.App("bench-web")
cold_app = squall.App("bench-web-cold")
image = squall.Image.debian_slim().pip_install("fastapi==0.115.6")


def root() -> dict:
    return {"ok": True}


@app.function(image=image, max_containers=1)
@squall.concurrent(max_inputs=64)
@squall.fastapi_endpoint()
def hello() -> dict:
    return root()


def direct_app():
    """What uvicorn serves directly: the same route in a FastAPI app."""
    from fastapi import FastAPI

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    api.add_api_route("/", hello._squall_raw if hasattr(hello, "_squall_raw") else hello, methods=["GET"])
    return api


async def _ok(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


@cold_app.function()
@squall.asgi_app()
def cold_web():
    return _ok


@cold_app.function()
def cold_noop() -> None:
    return None
