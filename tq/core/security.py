"""Passwords (argon2id via passlib, off the event loop), API tokens (PyJWT, HS256) and the
one-time tokens of emailed links (derived, never stored)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jwt
from passlib.context import CryptContext

from config import Settings
from tq.core.errors import Unauthorized

JWT_ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "role", "iat", "exp", "jti", "iss", "aud"]


class PasswordHasher:
    """argon2id hashing in a small thread pool, so logins never stall the event loop."""

    def __init__(self, settings: Settings) -> None:
        self.context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__time_cost=settings.argon2_time_cost,
            argon2__memory_cost=settings.argon2_memory_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        self.pool = ThreadPoolExecutor(
            max_workers=settings.password_hash_threads, thread_name_prefix="password-hash"
        )
        # Verified when the email is unknown, so both failures cost the same time.
        self.dummy_hash = self.context.hash(uuid.uuid4().hex)

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.context.hash, password)

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one uses old parameters, else None)."""
        loop = asyncio.get_running_loop()
        ok, new_hash = await loop.run_in_executor(
            self.pool, self.context.verify_and_update, password, hashed or self.dummy_hash
        )
        return bool(ok and hashed), new_hash if hashed else None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    role: str
    jti: str
    issued_at: int
    expires_at: int


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self.secret = settings.jwt_secret
        self.ttl = settings.jwt_expires_in
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        # token -> its claims, oldest first (dicts keep insertion order): bounded, first in
        # first out. Keyed by the whole token, so a token changed by one byte is a miss.
        self.verified: dict[str, TokenClaims] = {}
        self.verified_max = settings.verified_token_cache_size

    def issue(self, user_id: str, role: str) -> tuple[str, TokenClaims]:
        now = int(time.time())
        claims = TokenClaims(user_id, role, uuid.uuid4().hex, now, now + self.ttl)
        payload = {
            "sub": user_id,
            "role": role,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "jti": claims.jti,
            "iss": self.issuer,
            "aud": self.audience,
        }
        return jwt.encode(payload, self.secret, algorithm=JWT_ALGORITHM), claims

    def verify(self, token: str) -> TokenClaims:
        """The claims of a valid token; Unauthorized otherwise. A token seen before is answered
        from `verified` while it has not expired (PyJWT's rule: valid while now < exp); time
        only moves forward, so the other checks hold as they did."""
        claims = self.verified.get(token)
        if claims is not None and time.time() < claims.expires_at:
            return claims
        claims = self._decode(token)
        if self.verified_max:
            if len(self.verified) >= self.verified_max:
                # The first seen goes first: tokens share one lifetime, so it expires soonest.
                del self.verified[next(iter(self.verified))]
            self.verified[token] = claims
        return claims

    def _decode(self, token: str) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self.secret,
                algorithms=[JWT_ALGORITHM],  # pinned: "none" and RS/HS confusion are refused
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError:
            raise Unauthorized("Invalid or expired token") from None
        if not all(isinstance(payload[k], str) for k in ("sub", "role", "jti")):
            raise Unauthorized("Invalid or expired token")
        return TokenClaims(
            payload["sub"],
            payload["role"],
            payload["jti"],
            int(payload["iat"]),
            int(payload["exp"]),
        )


def bearer_token(authorization: str | None, *, basic: bool = False) -> str:
    """The token of `Authorization: Bearer <token>`; with `basic`, also the password of
    `Basic base64(<any name>:<token>)`, for clients that can only put credentials in the
    server URL (`http://token:<token>@host`), as Piston clients can."""
    if not authorization:
        raise Unauthorized()
    scheme, _, token = authorization.partition(" ")
    if basic and scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("Malformed Basic credentials") from None
        if password.strip():
            return password.strip()
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use an 'Authorization: Bearer <token>' header")
    return token.strip()


def new_nonce() -> str:
    """The random part of a link token (128 bits)."""
    return secrets.token_urlsafe(16)


def derived_secret(secret: str, purpose: str, subject: str, nonce: str) -> bytes:
    """32 bytes only the server can compute: an HMAC of (purpose, subject, nonce) under its
    secret. What is stored is the nonce, so the database alone reveals none of them."""
    key = hashlib.sha256(f"tq-link-token\0{purpose}\0{secret}".encode()).digest()
    return hmac.new(key, f"{subject}\0{nonce}".encode(), hashlib.sha256).digest()


def link_token(secret: str, purpose: str, subject: str, nonce: str) -> str:
    """A link's one-time token (derived, see `derived_secret`). Only the nonce and
    `token_hash(token)` are stored, so the database alone can neither show nor forge a link,
    while the worker that emails it can derive it again."""
    mac = derived_secret(secret, purpose, subject, nonce)
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


# A link token as `link_token` makes it: 43 characters of URL-safe base64 (an HMAC-SHA256).
LINK_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 - a pattern, not a secret
_LINK_TOKEN = re.compile(LINK_TOKEN_PATTERN)


def is_link_token(token: str) -> bool:
    """Shaped like a link token (anything else is not found, with no lookup)."""
    return bool(_LINK_TOKEN.fullmatch(token))


def token_hash(token: str) -> str:
    """How a link token is stored and looked up (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Sealer:
    """Secrets we must use again later (an identity provider's client secret) are stored
    sealed (Fernet: AES-CBC with an HMAC), under a key derived from `key`: the database alone
    does not reveal them."""

    def __init__(self, key: str) -> None:
        from cryptography.fernet import Fernet

        digest = hashlib.sha256(f"tq-sealed-secret\0{key}".encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def unseal(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode()).decode()
