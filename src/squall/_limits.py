"""Limits on Dicts and Queues, checked by the SDK before it sends and by the server again.

| limit                          | value            | error when exceeded                  |
|--------------------------------|------------------|--------------------------------------|
| Dict / Queue name              | 1-64 characters of `A-Z a-z 0-9 . _ -` | InvalidError   |
| Dict key (pickled)             | 64 KiB           | InvalidError                         |
| Dict value (pickled)           | 16 MiB           | InvalidError                         |
| keys in one Dict               | 1,000,000        | ResourceExhaustedError               |
| Queue item (pickled)           | 1 MiB            | InvalidError                         |
| Queue partition key            | 1-64 characters  | InvalidError                         |
| items in one Queue partition   | 100,000          | `queue.Full` (a put that finds no room) |
| items per `put_many` / `get_many` request | 1,000 | split / capped by the SDK              |

Shared by the SDK and the control plane, so it imports nothing heavy.
"""

from __future__ import annotations

import re

from squall.exception import InvalidError

MAX_NAME_LEN = 64
MAX_DICT_KEY_BYTES = 64 * 1024
MAX_DICT_VALUE_BYTES = 16 * 1024 * 1024
MAX_DICT_KEYS = 1_000_000
MAX_QUEUE_ITEM_BYTES = 1024 * 1024
MAX_PARTITION_KEY_LEN = 64
MAX_QUEUE_PARTITION_ITEMS = 100_000
MAX_ITEMS_PER_REQUEST = 1000

_NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_name(kind: str, name) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidError(f"a {kind} needs a name (a non-empty string), got {name!r}")
    if len(name) > MAX_NAME_LEN:
        raise InvalidError(f"{kind} name {name[:20]!r}... is {len(name)} characters; the limit is {MAX_NAME_LEN}")
    if not _NAME.fullmatch(name):
        raise InvalidError(f"{kind} name {name!r} may contain only letters, digits, '.', '_' and '-' (at most {MAX_NAME_LEN} characters)")
    return name


def check_partition(partition) -> str:
    if partition is None:
        return ""
    if not isinstance(partition, str) or not partition:
        raise InvalidError(f"a queue partition key must be a non-empty string, got {partition!r}")
    if len(partition) > MAX_PARTITION_KEY_LEN:
        raise InvalidError(f"queue partition key {partition[:20]!r}... is {len(partition)} characters; the limit is {MAX_PARTITION_KEY_LEN}")
    return partition


def check_size(what: str, data: bytes, limit: int) -> bytes:
    if len(data) > limit:
        raise InvalidError(f"{what} is {_mib(len(data))} pickled; the limit is {_mib(limit)}")
    return data


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"


_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_env_key(key) -> str:
    """A Secret's key becomes an environment variable name: letters, digits and '_', not starting with a digit."""
    if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
        raise InvalidError(f"secret key {key!r} is not a valid environment variable name (letters, digits and '_', not starting with a digit)")
    return key
