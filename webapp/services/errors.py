"""The one exception type services raise for bad input or a conflict with stored state.

The API turns it into ``{"error": message}`` with its status; the CLI prints the message and
exits non-zero. Services never return half-done work after raising it.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A client mistake (4xx): ``status`` is the HTTP status, ``extra`` goes into the JSON body."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra
