"""The error hierarchy users see. Every message says what went wrong and what to do.

One place (`from_grpc_code`) maps wire status codes to these classes.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every error squall raises."""


class NotFoundError(Error):
    pass


class AlreadyExistsError(Error):
    pass


class InvalidError(Error):
    """A value is not allowed; the message names it and what is allowed."""


class AuthError(Error):
    pass


class PermissionDeniedError(Error):
    pass


class ResourceExhaustedError(Error):
    pass


class FunctionTimeoutError(Error):
    pass


class SandboxTimeoutError(Error):
    pass


class RemoteError(Error):
    """A remote exception that could not be re-raised as its own type."""


class InputCancellation(BaseException):
    """Raised inside a container when the input it runs was cancelled."""


class ExecutionError(Error):
    """The platform could not run the input: the container died, ran out of memory, or failed to start."""


class ConnectionError(Error):  # noqa: A001 - the name users expect (Modal's)
    pass


class DeserializationError(Error):
    pass


class ImageBuildError(Error):
    """An image did not build: the message names the step, the command, its exit code and the
    last lines of its output."""


class SerializationError(InvalidError):
    pass


def from_grpc_code(code_name: str, message: str) -> Error:
    cls = {
        "NOT_FOUND": NotFoundError,
        "ALREADY_EXISTS": AlreadyExistsError,
        "INVALID_ARGUMENT": InvalidError,
        "FAILED_PRECONDITION": InvalidError,
        "UNAUTHENTICATED": AuthError,
        "PERMISSION_DENIED": PermissionDeniedError,
        "RESOURCE_EXHAUSTED": ResourceExhaustedError,
        "UNAVAILABLE": ConnectionError,
        "DEADLINE_EXCEEDED": ConnectionError,
    }.get(code_name, Error)
    return cls(message)
