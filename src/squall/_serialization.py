"""How values cross the wire: cloudpickle for arguments, results and exceptions.

Shared by the SDK and the container agent, so it imports nothing heavy.
"""

from __future__ import annotations

import pickle
import traceback

import cloudpickle

from squall._proto.squall.v1 import common_pb2 as pb
from squall.exception import DeserializationError, RemoteError, SerializationError


def serialize(obj) -> bytes:
    try:
        return cloudpickle.dumps(obj, protocol=4)
    except Exception as exc:
        raise SerializationError(f"cannot serialize {type(obj).__name__} value {_short(obj)}: {exc}. Arguments and results must be picklable (cloudpickle).") from exc


def deserialize(data: bytes):
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise DeserializationError(f"cannot deserialize a value ({exc}); are the same packages installed locally and in the image?") from exc


def serialize_args(args: tuple, kwargs: dict) -> bytes:
    try:
        return cloudpickle.dumps((args, kwargs), protocol=4)
    except Exception:
        pass
    for name, value in [*((f"argument {i}", a) for i, a in enumerate(args)), *((f"argument {k!r}", v) for k, v in kwargs.items())]:
        try:
            cloudpickle.dumps(value, protocol=4)
        except Exception as exc:
            raise SerializationError(
                f"cannot serialize {name} of type {type(value).__name__} ({_short(value)}): {exc}. Arguments must be picklable (cloudpickle)."
            ) from None
    return serialize((args, kwargs))


def exception_result(exc: BaseException, status=pb.FAILURE) -> pb.Result:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        data = cloudpickle.dumps(exc, protocol=4)
        pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
    except Exception:
        data = b""
    return pb.Result(status=status, data=data, exception_repr=f"{type(exc).__name__}: {exc}", traceback=tb)


def exception_from_result(result: pb.Result) -> BaseException:
    """The remote exception as its own type, carrying the remote traceback in its notes."""
    exc: BaseException | None = None
    if result.data:
        try:
            exc = pickle.loads(result.data)
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(result.exception_repr or "remote error")
    if result.traceback:
        exc.__squall_remote_traceback__ = result.traceback  # type: ignore[attr-defined]
        if hasattr(exc, "add_note"):
            exc.add_note("Remote traceback:\n" + result.traceback.rstrip())
    return exc


def _short(obj) -> str:
    text = repr(obj)
    return text if len(text) < 80 else text[:77] + "..."
