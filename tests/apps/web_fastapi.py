"""A FastAPI endpoint and a FastAPI app with a WebSocket route; the image installs FastAPI."""

import modal  # resolves to squall: the file is written as a Modal user would

app = modal.App("webfastapi")
image = modal.Image.debian_slim().pip_install("fastapi==0.115.6")


@app.function(image=image)
@modal.fastapi_endpoint(method="POST", docs=True)
def add(item: dict, scale: int = 1) -> dict:
    return {"sum": (item["a"] + item["b"]) * scale}


@app.function(image=image)
@modal.fastapi_endpoint()
def hello(name: str = "world") -> str:
    return f"hello {name}"
