"""Who is calling the webapp backend: the DSS user behind the browser's headers.

DSS checks the headers (its session cookie) and answers with the login and groups
(``api_client().get_auth_info_from_browser_headers``). Everyone is an annotator; the
webapp settings may name reviewer and manager users or groups.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable, Mapping

from ..errors import AuthenticationError
from ..project import Principal
from ..web.auth import HeaderAuthenticator
from .settings import DssSettings

log = logging.getLogger(__name__)

AuthInfo = Callable[[dict[str, str]], Mapping[str, Any]]


class RoleMap:
    """Maps a DSS login and its groups to a role; the highest matching role wins."""

    def __init__(self, *, reviewer_users: Iterable[str] = (),
                 reviewer_groups: Iterable[str] = (), manager_users: Iterable[str] = (),
                 manager_groups: Iterable[str] = ()) -> None:
        self.reviewer_users = frozenset(reviewer_users)
        self.reviewer_groups = frozenset(reviewer_groups)
        self.manager_users = frozenset(manager_users)
        self.manager_groups = frozenset(manager_groups)

    @classmethod
    def from_settings(cls, settings: DssSettings) -> RoleMap:
        return cls(reviewer_users=settings.reviewer_users,
                   reviewer_groups=settings.reviewer_groups,
                   manager_users=settings.manager_users,
                   manager_groups=settings.manager_groups)

    def role_for(self, login: str, groups: Iterable[str]) -> str:
        groups = set(groups)
        if login in self.manager_users or groups & self.manager_groups:
            return "manager"
        if login in self.reviewer_users or groups & self.reviewer_groups:
            return "reviewer"
        return "annotator"


class DssIdentity:
    """Resolves browser headers to a Principal, asking DSS at most once per session
    every ``ttl`` seconds (each ask is an HTTP call to the DSS backend)."""

    def __init__(self, auth_info: AuthInfo, roles: RoleMap, *, ttl: float = 30.0,
                 max_entries: int = 1000, clock: Callable[[], float] = time.monotonic) -> None:
        self._auth_info = auth_info
        self.roles = roles
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _session_key(headers: Mapping[str, str]) -> str | None:
        # Only the credentials the browser sends identify a session; without them, no
        # caching (DSS still gets to decide).
        parts = [f"{k.lower()}={v}" for k, v in sorted(headers.items())
                 if k.lower() in ("cookie", "authorization")]
        if not parts:
            return None
        return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()

    def __call__(self, headers: dict[str, str]) -> Principal:
        key = self._session_key(headers)
        now = self._clock()
        if key is not None:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] > now:
                    return hit[1]
        principal = self._resolve(headers)
        if key is not None:
            with self._lock:
                self._cache[key] = (now + self.ttl, principal)
                self._cache.move_to_end(key)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        return principal

    def _resolve(self, headers: dict[str, str]) -> Principal:
        try:
            info = self._auth_info(headers)
        except Exception as exc:  # DSS refuses unknown sessions with its own exception
            log.info("DSS did not identify the browser: %s", exc)
            raise AuthenticationError(
                "DSS could not identify you: sign in to DSS, then reload this page"
            ) from None
        login = info.get("authIdentifier") if isinstance(info, Mapping) else None
        if not isinstance(login, str) or not login:
            raise AuthenticationError(
                "DSS could not identify you: sign in to DSS, then reload this page")
        groups = info.get("groups") or []
        return Principal(login, self.roles.role_for(login, [str(g) for g in groups]))


def dss_authenticator(settings: DssSettings, auth_info: AuthInfo | None = None,
                      **options: Any) -> HeaderAuthenticator:
    """The authenticator of a DSS webapp backend."""
    if auth_info is None:
        import dataiku

        def auth_info(headers: dict[str, str]) -> Mapping[str, Any]:
            return dataiku.api_client().get_auth_info_from_browser_headers(headers)

    return HeaderAuthenticator(DssIdentity(auth_info, RoleMap.from_settings(settings),
                                           **options))
