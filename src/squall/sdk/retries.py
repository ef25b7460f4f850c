"""Retries: how a failed input is tried again (Modal's grouped setting)."""

from __future__ import annotations

from squall.exception import InvalidError


class Retries:
    def __init__(self, *, max_retries: int, backoff_coefficient: float = 2.0, initial_delay: float = 1.0, max_delay: float = 60.0):
        if not isinstance(max_retries, int) or not 0 <= max_retries <= 10:
            raise InvalidError(f"Retries(max_retries={max_retries!r}): must be an integer from 0 to 10")
        if not 1.0 <= backoff_coefficient <= 10.0:
            raise InvalidError(f"Retries(backoff_coefficient={backoff_coefficient!r}): must be from 1.0 to 10.0")
        if not 0.0 <= initial_delay <= 60.0:
            raise InvalidError(f"Retries(initial_delay={initial_delay!r}): must be from 0 to 60 seconds")
        if not 1.0 <= max_delay <= 60.0:
            raise InvalidError(f"Retries(max_delay={max_delay!r}): must be from 1 to 60 seconds")
        self.max_retries = max_retries
        self.backoff_coefficient = backoff_coefficient
        self.initial_delay = initial_delay
        self.max_delay = max_delay

    @classmethod
    def coerce(cls, retries) -> Retries:
        if retries is None:
            return cls(max_retries=0)
        if isinstance(retries, Retries):
            return retries
        if isinstance(retries, int) and not isinstance(retries, bool):
            return cls(max_retries=retries)
        raise InvalidError(f"retries={retries!r}: give an int from 0 to 10 or a squall.Retries(...)")

    def __repr__(self) -> str:
        return f"Retries(max_retries={self.max_retries}, backoff_coefficient={self.backoff_coefficient}, initial_delay={self.initial_delay}, max_delay={self.max_delay})"
