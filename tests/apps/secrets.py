"""An app whose functions read Secrets, and one that tries to leak its secret."""

import hashlib
import os

import modal  # resolves to squall: the file is written as a Modal user would

app = modal.App("secrets-itest")

api = modal.Secret.from_name("api", required_keys=["TOKEN"])
inline = modal.Secret.from_dict({"INLINE": "inline-value"})


@app.function(secrets=[api])
def token_digest():
    """A digest, not the value: a returned value would be stored like any result."""
    return hashlib.sha256(os.environ["TOKEN"].encode()).hexdigest() if "TOKEN" in os.environ else None


@app.function()
def no_token():
    return os.environ.get("TOKEN"), os.environ.get("INLINE")


@app.function(secrets=[inline])
def inline_value():
    return os.environ.get("INLINE")


@app.function(secrets=[api])
def leak():
    print(f"the token is {os.environ['TOKEN']}", flush=True)
    raise RuntimeError(f"failed with token {os.environ['TOKEN']}")


needs_missing = modal.App("secrets-missing-itest")


@needs_missing.function(secrets=[modal.Secret.from_name("api", required_keys=["TOKEN", "NOT_THERE"])])
def never_runs():
    return 1
