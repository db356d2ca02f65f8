"""Password and token hashing shared by every store backend."""

from __future__ import annotations

import hashlib
import hmac
import secrets

ROLES = ("viewer", "annotator", "reviewer", "manager")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# Checked for unknown accounts: the same scrypt work as a real hash, and the result is
# ignored anyway.
_DECOY_HASH = f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${'0' * 32}${'0' * 64}"


def role_level(role: str) -> int:
    """Access levels: view < annotate < review < manage."""
    return ROLES.index(role)


def hash_password(password: str) -> str:
    """A salted scrypt hash, self-describing so parameters can change later."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison of a password with its stored hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32,
                               n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate.hex(), digest)


def verify_password(password: str, stored: str | None) -> bool:
    """``check_password``, or, for an unknown account (``stored`` None), the same work
    against a decoy hash and False: a login must take as long whether the name exists."""
    if stored is None:
        check_password(password, _DECOY_HASH)
        return False
    return check_password(password, stored)


def new_token() -> str:
    """A random API token; only its hash is stored."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are random and long, so a fast unsalted hash is enough to look them up."""
    return hashlib.sha256(token.encode()).hexdigest()
