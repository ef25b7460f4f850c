"""`CloudBucketMount`: an S3 prefix mounted into containers. Accepted, so that Modal apps that
name one import; mounting it is not supported yet and fails with InvalidError when the
function is defined."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class CloudBucketMount:
    bucket_name: str
    bucket_endpoint_url: str | None = None
    key_prefix: str | None = None
    secret: object = None
    read_only: bool = False
    requester_pays: bool = False
