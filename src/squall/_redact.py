"""Hiding Secret values: shared by the worker (log lines) and the control plane (error results)."""

from __future__ import annotations

MASK = "***"


def redact(text: str, values) -> str:
    """`text` with every occurrence of any of `values` replaced by ***; longest first, so a value
    that contains another is hidden whole."""
    for v in sorted((v for v in values if v), key=len, reverse=True):
        if v in text:
            text = text.replace(v, MASK)
    return text
