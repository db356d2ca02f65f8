"""Who is calling: API tokens, login sessions, or the implicit local user."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Callable, Protocol
from urllib.parse import urlsplit

from flask import Request, g

from ..errors import (
    AuthenticationError,
    ForbiddenError,
    NotLoopbackError,
    SessionChangedError,
)
from ..project import Principal
from ..standalone import is_loopback as is_loopback_name
from ..store import AnnotationStore
from ..store.accounts import hash_token, role_level

LOCAL_USER = Principal("local", "manager")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SESSION_COOKIE = "labeling_session"
SESSION_LIFETIME = 7 * 24 * 3600.0


class Authenticator(Protocol):
    """Identifies the user of a request or raises AuthenticationError."""

    def identify(self, request: Request) -> Principal: ...


@dataclass(frozen=True)
class LoginBrake:
    """How many failed logins within ``window`` seconds lock a name, or an address, out
    until the oldest of them is ``window`` old. An address has more room, since several
    people may share one (a NAT; every client behind a reverse proxy)."""

    per_name: int = 10
    per_address: int = 100
    window: float = 900.0


@dataclass(frozen=True)
class Login:
    """A successful login: who, and the new session's id (the cookie) and CSRF token."""

    principal: Principal
    session_id: str
    csrf_token: str


def require_role(user: Principal, role: str) -> None:
    """Refuse the request unless the user's role reaches ``role``."""
    if role_level(user.role) < role_level(role):
        raise ForbiddenError(f'This needs the "{role}" role; {user.name} is "{user.role}"')


def _host_name(host: str) -> str:
    """The name of a Host header value, without its port (``[::1]:8080`` → ``::1``)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def check_local_request(request: Request) -> None:
    """Refuse what a web page could send to the account-less server through the user's
    browser: a request under another host name (DNS rebinding: attacker.example made
    to resolve to 127.0.0.1 reads items and writes labels as the local manager), or a
    write from a page of another site (its Origin)."""
    host = request.host
    if not is_loopback_name(_host_name(host)):
        raise NotLoopbackError(
            f"Without accounts this server only answers requests to localhost or "
            f"127.0.0.1 (this one was for {host[:100]!r})")
    origin = request.headers.get("Origin")
    if request.method in UNSAFE_METHODS and origin is not None:
        try:
            parts = urlsplit(origin)
            scheme, name = parts.scheme, parts.hostname or ""
        except ValueError:  # not a URL ("http://[zz")
            scheme = name = ""
        if scheme not in ("http", "https") or not is_loopback_name(name):
            raise NotLoopbackError(
                f"Without accounts this server only accepts changes from its own pages "
                f"(this one came from {origin[:100]!r})")


class StoreAuthenticator:
    """Standalone accounts kept in the store.

    Bearer tokens for scripts; a login session for the browser: the cookie carries a
    random session id, the store keeps its hash, its account and its CSRF token, which
    every state-changing request must echo in ``X-CSRF-Token``. Logging out deletes the
    session, so a copied cookie stops working; the role is read from the account on
    every request, so a demotion or a deletion applies at once. No signing key exists,
    so there is none to steal: a copy of the store (0600 anyway) holds only hashes of
    session ids and tokens.

    With no account at all and ``local_mode`` (loopback), everyone is ``local``, as long
    as the request really comes from this machine (``check_local_request``).
    """

    def __init__(self, store: AnnotationStore, *, local_mode: bool,
                 brake: LoginBrake = LoginBrake(),
                 session_lifetime: float = SESSION_LIFETIME) -> None:
        self.store = store
        self.local_mode = local_mode
        self.brake = brake
        self.session_lifetime = session_lifetime

    def identify(self, request: Request) -> Principal:
        """The caller; for a cookie session, also sets ``g.csrf_token``."""
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError('Use "Authorization: Bearer <token>"')
            user = self.store.user_for_token(token.strip())
            return Principal(user.name, user.role)
        session_id = request.cookies.get(SESSION_COOKIE)
        found = self.store.get_session(session_id) if session_id else None
        if found is not None:
            user, csrf = found
            if request.method in UNSAFE_METHODS:
                _check_csrf(request, csrf)
            g.csrf_token = csrf
            return Principal(user.name, user.role)
        if self.local_mode and self.store.count_users() == 0:
            check_local_request(request)
            return LOCAL_USER
        if session_id:
            raise AuthenticationError("Your session has ended: sign in again")
        raise AuthenticationError("Sign in first")

    def login(self, name: str, password: str, request: Request) -> Login:
        """Check the password (unless too many failures came lately for this name or
        from this address) and open a new session, ending the one the request had."""
        brake = self.brake
        # Hashed: a name can be any length, and only names of accounts are kept as is.
        keys = [(f"name:{hash_token(name)}", brake.per_name)]
        if request.remote_addr:
            keys.append((f"addr:{request.remote_addr}", brake.per_address))
        # Counted before the slow hash, so parallel guesses cannot outrun the brake; a
        # wrong password leaves the attempt counted as a failure.
        attempt = self.store.begin_login(keys, window=brake.window)
        user = self.store.authenticate(name, password)
        session_id, csrf = self.store.finish_login(
            attempt, user.name, lifetime=self.session_lifetime, forget=[keys[0][0]],
            ending=request.cookies.get(SESSION_COOKIE))
        return Login(Principal(user.name, user.role), session_id, csrf)

    def logout(self, request: Request) -> None:
        """End the request's session, if it names a live one: with its CSRF token, so
        that no other page can sign the user out."""
        session_id = request.cookies.get(SESSION_COOKIE)
        found = self.store.get_session(session_id) if session_id else None
        if found is not None:
            _check_csrf(request, found[1])
            self.store.end_session(session_id)


def _check_csrf(request: Request, csrf: str) -> None:
    sent = request.headers.get("X-CSRF-Token", "")
    # Bytes: compare_digest refuses str with non-ASCII characters.
    if not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), csrf.encode()):
        raise SessionChangedError(
            "This page's sign-in is no longer the browser's (signed in or out in another "
            "tab or window?), or the request lacks its X-CSRF-Token header")


class HeaderAuthenticator:
    """Identity given by the host (DSS: browser headers checked by the DSS API)."""

    def __init__(self, resolve: Callable[[dict[str, str]], Principal]) -> None:
        self.resolve = resolve

    def identify(self, request: Request) -> Principal:
        return self.resolve(dict(request.headers))
