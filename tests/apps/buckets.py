"""A function that reads an S3 prefix through a CloudBucketMount (tests/integration/test_s3.py).
The endpoint comes from the test's environment when the app is defined (client side)."""

from __future__ import annotations

import errno
import os
import pathlib

import modal

app = modal.App("buckets-test")
creds = modal.Secret.from_dict({"AWS_ACCESS_KEY_ID": "squall-test", "AWS_SECRET_ACCESS_KEY": "squall-test"})
data = modal.CloudBucketMount("squall-data", bucket_endpoint_url=os.environ.get("SQUALL_TEST_S3_ENDPOINT") or None, key_prefix="datasets/",
                              secret=creds, read_only=True)


@app.function(volumes={"/bucket": data})
def read_bucket() -> dict:
    root = pathlib.Path("/bucket")
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    try:
        (root / "new.txt").write_text("x")
        write_errno = None
    except OSError as exc:
        write_errno = exc.errno
    return {"files": files, "a": (root / "a.txt").read_text(), "nested": (root / "sub" / "b.txt").read_text(),
            "erofs": write_errno == errno.EROFS}


writable = modal.CloudBucketMount("squall-work", bucket_endpoint_url=os.environ.get("SQUALL_TEST_S3_ENDPOINT") or None, key_prefix="work/",
                                  secret=creds)


@app.function(volumes={"/work": writable})
def edit_bucket() -> list[str]:
    root = pathlib.Path("/work")
    seen = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    (root / "new.txt").write_text("written in the container")
    (root / "changed.txt").write_text("changed")
    (root / "gone.txt").unlink()
    return seen
