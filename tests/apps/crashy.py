"""An app whose module dies while containers import it."""

import os

import modal

app = modal.App("crashy")

if not modal.is_local():
    os._exit(3)  # e.g. a model load at import time that segfaults or runs out of memory


@app.function()
def never_runs() -> None:
    pass
