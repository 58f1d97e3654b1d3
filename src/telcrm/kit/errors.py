"""Domain errors. Business code raises these; the API edge maps them to the TMF Error body."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, field: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


class ValidationFailed(DomainError):
    status = 400
    code = "INVALID_VALUE"


class WrongReference(DomainError):
    """A reference that resolves here, but to an object of the wrong kind."""

    status = 400
    code = "WRONG_REFERENCE"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"


class InvalidTransition(Conflict):
    code = "INVALID_STATE_TRANSITION"


class Unauthenticated(DomainError):
    status = 401
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    status = 403
    code = "FORBIDDEN"
