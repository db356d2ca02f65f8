"""Who is calling: API tokens, session cookies, or the implicit local user."""

from __future__ import annotations

import hmac
import secrets
from typing import Callable, Protocol

from flask import Request, session

from ..errors import AuthenticationError, ForbiddenError, NotFoundError
from ..project import Principal
from ..store import AnnotationStore
from ..store.accounts import role_level

LOCAL_USER = Principal("local", "manager")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class Authenticator(Protocol):
    """Identifies the user of a request or raises AuthenticationError."""

    def identify(self, request: Request) -> Principal: ...


def require_role(user: Principal, role: str) -> None:
    """Refuse the request unless the user's role reaches ``role``."""
    if role_level(user.role) < role_level(role):
        raise ForbiddenError(f'This needs the "{role}" role; {user.name} is "{user.role}"')


class StoreAuthenticator:
    """Standalone accounts kept in the store.

    Bearer tokens for scripts; a signed session cookie for the browser, where every
    state-changing request must echo the session's CSRF token in ``X-CSRF-Token``.
    With no account at all and ``local_mode`` (loopback), everyone is ``local``.
    """

    def __init__(self, store: AnnotationStore, *, local_mode: bool) -> None:
        self.store = store
        self.local_mode = local_mode

    def identify(self, request: Request) -> Principal:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError('Use "Authorization: Bearer <token>"')
            user = self.store.user_for_token(token.strip())
            return Principal(user.name, user.role)
        name = session.get("user")
        if name:
            if request.method in UNSAFE_METHODS:
                sent = request.headers.get("X-CSRF-Token", "")
                if not hmac.compare_digest(sent, session.get("csrf", "")):
                    raise ForbiddenError("Missing or wrong X-CSRF-Token header")
            try:
                user = self.store.get_user(name)
            except NotFoundError:
                session.clear()
                raise AuthenticationError("This account no longer exists") from None
            return Principal(user.name, user.role)
        if self.local_mode and self.store.count_users() == 0:
            return LOCAL_USER
        raise AuthenticationError("Sign in first")

    def login(self, name: str, password: str) -> Principal:
        user = self.store.authenticate(name, password)
        session.clear()
        session["user"] = user.name
        session["csrf"] = secrets.token_urlsafe(24)
        session.permanent = True
        return Principal(user.name, user.role)


class HeaderAuthenticator:
    """Identity given by the host (DSS: browser headers checked by the DSS API)."""

    def __init__(self, resolve: Callable[[dict[str, str]], Principal]) -> None:
        self.resolve = resolve

    def identify(self, request: Request) -> Principal:
        return self.resolve(dict(request.headers))

