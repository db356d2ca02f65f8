"""Errors a user can act on. Each maps to one HTTP status and a JSON body."""

from __future__ import annotations

from typing import Any, Mapping


class LabelingError(Exception):
    """Base of every error meant for a user: the message is written for them.

    ``headers`` go on the HTTP response as they are (e.g. Retry-After)."""

    status = 500
    code = "error"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers: dict[str, str] = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


class ConfigError(LabelingError):
    """A setting is missing or has a value that cannot work."""

    status = 400
    code = "config"


class ValidationError(LabelingError):
    """A request carries a value that is not acceptable (bad label, bad JSON…)."""

    status = 400
    code = "invalid"


class AuthenticationError(LabelingError):
    """The request does not say who makes it, or says it wrongly."""

    status = 401
    code = "unauthenticated"


class ForbiddenError(LabelingError):
    """The user is known but their role does not allow the action."""

    status = 403
    code = "forbidden"


class SessionChangedError(ForbiddenError):
    """A write whose CSRF token is not that of the browser's session: usually another
    tab signed in or out since the page was loaded (the cookie is shared, the token is
    the page's)."""

    code = "session_changed"


class NotLoopbackError(ForbiddenError):
    """A request to the account-less local server that did not come from this machine."""

    code = "not_loopback"


class NotFoundError(LabelingError):
    """The item, user or annotation asked for does not exist."""

    status = 404
    code = "not_found"


class ConflictError(LabelingError):
    """The action clashes with the current state (e.g. a user that exists already)."""

    status = 409
    code = "conflict"


class AlreadyAnnotatedError(ConflictError):
    """A save meant as the caller's first annotation of an item found one already (the
    same user in another tab or window): nothing was overwritten."""

    code = "already_annotated"


class StaleSaveError(ConflictError):
    """A save arrived after a later save of the same item from the same page (a request
    the page had given up on, delayed): the later one is kept."""

    code = "stale"


class ResendDiffersError(StaleSaveError):
    """A save with the ``client_id`` and ``sequence`` of one already applied, but another
    content: a resend must repeat its request, and an edit takes a higher sequence."""

    code = "resend_differs"


class TooManyAttemptsError(LabelingError):
    """Too many failed logins lately: wait ``retry_after`` seconds (429 + Retry-After)."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)},
                         retry_after=retry_after)
        self.retry_after = retry_after


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line of at most ``limit`` characters (a message quoted in a log
    line or a one-line error)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
