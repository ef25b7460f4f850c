"""`CloudBucketMount`: the objects under an S3 prefix, mounted read-only into containers.

    data = squall.CloudBucketMount("my-bucket", key_prefix="datasets/",
                                   bucket_endpoint_url="http://minio:9000", secret=aws_secret, read_only=True)

    @app.function(volumes={"/data": data})

It goes the same way as a Volume's files (worker/volumes.py): when a container starts, its
worker lists the prefix, fetches each object it has not cached yet (cached per bucket, key
and ETag) and mounts a tree of hard links to them read-only. Objects are seen as of the
container's start. The credentials are the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
(/ AWS_SESSION_TOKEN / AWS_REGION) of `secret`, which, like every Secret of a function, is
also in the function's environment; without one, the worker's own AWS environment is used.
A writable mount (`read_only=False`, the default) is a copy: what the container wrote, changed or
deleted under the prefix is written back to the bucket when the container ends cleanly.
"""

from __future__ import annotations

import dataclasses

from squall.exception import InvalidError


@dataclasses.dataclass(frozen=True)
class CloudBucketMount:
    bucket_name: str
    bucket_endpoint_url: str | None = None
    key_prefix: str | None = None
    secret: object = None
    read_only: bool = False
    requester_pays: bool = False

    def check(self, where: str) -> None:
        from squall.sdk.secret import Secret

        if not isinstance(self.bucket_name, str) or not self.bucket_name:
            raise InvalidError(f"{where}: CloudBucketMount needs a bucket_name (a non-empty string), got {self.bucket_name!r}")
        if self.secret is not None and not isinstance(self.secret, Secret):
            raise InvalidError(f"{where}: CloudBucketMount(secret={self.secret!r}) must be a squall.Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        if self.key_prefix is not None and (not isinstance(self.key_prefix, str) or self.key_prefix.startswith("/")):
            raise InvalidError(f"{where}: CloudBucketMount(key_prefix={self.key_prefix!r}) must be a string not starting with '/', e.g. 'datasets/'")
        if self.requester_pays:
            raise InvalidError(f"{where}: CloudBucketMount(requester_pays=True) is not supported")
