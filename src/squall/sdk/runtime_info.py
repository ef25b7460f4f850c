"""What code can ask about where it runs."""

from __future__ import annotations

import os

from squall import config


def is_local() -> bool:
    """False inside a squall container, True everywhere else."""
    return os.environ.get(config.ENV_IS_REMOTE) != "1"


def current_input_id() -> str | None:
    from squall._context import current

    return current.input_id or None


def current_function_call_id() -> str | None:
    from squall._context import current

    return current.call_id or None
