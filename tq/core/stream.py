"""The Stream gateway: the only module that imports the Stream SDK.

One `StreamGateway` per process (web: created at server start; workers: on the worker loop).
SDK failures become two exceptions: `StreamUnavailable` (5xx, 429, timeouts, connection errors:
worth retrying) and `StreamRejected` (other 4xx: retrying will not help).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from stream_chat import StreamChatAsync
from stream_chat.base.exceptions import StreamAPIException

from config import Settings
from tq.core.errors import ServiceUnavailable

log = logging.getLogger("tq.stream")
T = TypeVar("T")


class StreamError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StreamUnavailable(StreamError):
    """Transient: Stream is down, slow, or rate limiting us. Retry later."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class StreamRejected(StreamError):
    """Permanent: Stream refused the request itself."""


class StreamNotConfigured(ServiceUnavailable):
    code, message = "stream_not_configured", "Stream is not configured on this server"


class StreamGateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: StreamChatAsync | None = None

    @property
    def configured(self) -> bool:
        return self.settings.stream_configured

    @property
    def api_key(self) -> str:
        return self.settings.stream_api_key

    @property
    def client(self) -> StreamChatAsync:
        if not self.configured:
            raise StreamNotConfigured()
        if self._client is None:
            # Created lazily inside the running loop: the SDK opens an aiohttp session.
            options: dict[str, Any] = {}
            if self.settings.stream_base_url:
                options["base_url"] = self.settings.stream_base_url
            self._client = StreamChatAsync(
                self.settings.stream_api_key,
                self.settings.stream_api_secret,
                timeout=self.settings.stream_timeout_s,
                **options,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def create_user_token(self, stream_id: str) -> tuple[str, int]:
        """A Stream user token (chat and video) with iat and exp; returns (token, exp)."""
        now = int(time.time())
        exp = now + self.settings.stream_token_ttl
        # iat is backdated a little: Stream rejects tokens "issued in the future" on clock skew.
        return self.client.create_token(stream_id, exp=exp, iat=now - 5), exp

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(call(), self.settings.stream_timeout_s + 1)
        except StreamAPIException as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise StreamUnavailable(
                    f"{what}: Stream answered {exc.status_code}",
                    exc.status_code,
                    retry_after=_retry_after(exc),
                ) from None
            raise StreamRejected(
                f"{what}: Stream refused ({exc.status_code})", exc.status_code
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise StreamUnavailable(f"{what}: {type(exc).__name__}") from None

    # --- users

    async def upsert_user(self, user: dict[str, Any]) -> None:
        await self._call("upsert user", lambda: self.client.upsert_user(user))

    async def delete_user(self, stream_id: str) -> None:
        try:
            await self._call(
                "delete user",
                lambda: self.client.delete_user(stream_id, mark_messages_deleted=False),
            )
        except StreamRejected as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise


def _retry_after(exc: StreamAPIException) -> float | None:
    """Seconds until Stream's rate-limit window resets, when its answer says so."""
    headers = getattr(exc, "headers", None) or {}
    reset = headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset")
    if reset and str(reset).isdigit():
        return max(0.0, int(reset) - time.time())
    return None
