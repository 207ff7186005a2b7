"""Password hashing with scrypt; the parameters travel with each hash so they can change later."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from service.limits import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

# n=2**14, r=8 costs 16 MiB and ~50 ms per hash: slow for guessing, fine for a login.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# Refuse hashes whose stored parameters would make verifying a denial of service.
MAX_N = 2**20
MAX_MEMORY = 256 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
        maxmem=MAX_MEMORY,
    )


def hash_password(password: str) -> str:
    """Return `scrypt$n$r$p$salt$key` for a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded`; compares in constant time."""
    try:
        scheme, n_s, r_s, p_s, salt_s, key_s = encoded.split("$")
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt, key = _unb64(salt_s), _unb64(key_s)
    except ValueError:
        return False
    if scheme != "scrypt" or not (1 < n <= MAX_N and 0 < r <= 32 and 0 < p <= 16 and key):
        return False
    try:
        candidate = _derive(password, salt, n, r, p, len(key))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, key)


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when a username is unknown, so a miss costs as much as a hit."""
    return hash_password(secrets.token_urlsafe(16))


def generate_password() -> str:
    """A random password for bootstrap and for users created without one."""
    return secrets.token_urlsafe(18)


def password_problem(password: str) -> str | None:
    """Why `password` is not acceptable for a new account, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must be at most {MAX_PASSWORD_LENGTH} characters"
    return None
