"""The one error the admin operations raise for what an admin asked that cannot be done."""
from __future__ import annotations


class AdminError(ValueError):
    """`str(error)` is a message for the admin, in Vietnamese; `status` the HTTP status that
    says the same (400 bad request, 404 not found, 409 conflicts with what is going on)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
