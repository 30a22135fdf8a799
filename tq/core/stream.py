"""The Stream gateway: the only module that imports the Stream SDK.

One `StreamGateway` per process (web: created at server start; workers: on the worker loop).
SDK failures become two exceptions: `StreamUnavailable` (5xx, 429, timeouts, connection errors:
worth retrying) and `StreamRejected` (other 4xx: retrying will not help).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from stream_chat import StreamChatAsync
from stream_chat.base.exceptions import StreamAPIException

from config import Settings
from tq.core.errors import ServiceUnavailable
from tq.core.metrics import STREAM_ERRORS

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


CHANNEL_TYPE = "messaging"


@dataclass(frozen=True)
class StreamChannelSpec:
    """What one Stream channel should hold, derived from the database."""

    channel_id: str
    created_by: str
    members: list[dict[str, Any]]  # Stream user payloads; their ids are the wanted member set
    data: dict[str, Any]
    frozen: bool


class StreamGateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: StreamChatAsync | None = None
        self._sdk_session: Any = None  # the SDK's own session, replaced below

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
            client = StreamChatAsync(
                self.settings.stream_api_key,
                self.settings.stream_api_secret,
                timeout=self.settings.stream_timeout_s,
                **options,
            )
            # The SDK's errors carry no headers; this session records a 429's reset time.
            trace = aiohttp.TraceConfig()
            trace.on_request_end.append(_remember_rate_limit)
            default_session = client.session
            client.set_http_session(
                aiohttp.ClientSession(
                    base_url=client.base_url,
                    connector=aiohttp.TCPConnector(keepalive_timeout=59.0),
                    trace_configs=[trace],
                )
            )
            self._sdk_session = default_session
            self._client = client
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            await self._sdk_session.close()
            self._client = None

    def create_user_token(self, stream_id: str) -> tuple[str, int]:
        """A Stream user token (chat and video) with iat and exp; returns (token, exp)."""
        now = int(time.time())
        exp = now + self.settings.stream_token_ttl
        # iat is backdated a little: Stream rejects tokens "issued in the future" on clock skew.
        return self.client.create_token(stream_id, exp=exp, iat=now - 5), exp

    def verify_webhook(self, body: bytes, signature: str | None, api_key: str | None) -> bool:
        """Stream signs webhook bodies with HMAC-SHA256 under the API secret. Same digest as the
        SDK's verify_webhook, but compared in constant time (the SDK uses ==)."""
        if not self.configured or not signature or api_key is None:
            return False
        expected = hmac.new(self.settings.stream_api_secret.encode(), body, hashlib.sha256)
        key_ok = hmac.compare_digest(api_key.encode(), self.settings.stream_api_key.encode())
        return hmac.compare_digest(expected.hexdigest().encode(), signature.encode()) and key_ok

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        rate_limit_reset.set(None)
        try:
            # Awaited in this task (not wait_for's inner task) so the trace hook's context
            # variable is visible here afterwards.
            async with asyncio.timeout(self.settings.stream_timeout_s + 1):
                return await call()
        except StreamAPIException as exc:
            STREAM_ERRORS.labels(str(exc.status_code)).inc()
            if exc.status_code == 429 or exc.status_code >= 500:
                reset = rate_limit_reset.get() if exc.status_code == 429 else None
                raise StreamUnavailable(
                    f"{what}: Stream answered {exc.status_code}",
                    exc.status_code,
                    retry_after=max(0.0, reset - time.time()) if reset else None,
                ) from None
            raise StreamRejected(
                f"{what}: Stream refused ({exc.status_code})", exc.status_code
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            STREAM_ERRORS.labels(type(exc).__name__).inc()
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

    # --- channels

    async def sync_channel(self, spec: StreamChannelSpec) -> list[str]:
        """Make the channel exist with exactly `spec`'s members, data and frozen flag.
        Idempotent: reads Stream's state first and changes only what differs."""
        if spec.members:
            # Members must exist as Stream users before they can join a channel.
            await self._call("upsert users", lambda: self.client.upsert_users(spec.members))
        wanted = [member["id"] for member in spec.members]
        channel = self.client.channel(
            CHANNEL_TYPE, spec.channel_id, {**spec.data, "members": wanted}
        )
        channel.custom_data["created_by"] = {"id": spec.created_by}
        state = await self._call(
            "query channel",
            lambda: channel.query(watch=False, presence=False, state=True, messages={"limit": 0}),
        )
        current = {
            m.get("user_id") or m.get("user", {}).get("id") for m in state.get("members", [])
        }
        to_add = [uid for uid in wanted if uid not in current]
        to_remove = sorted(uid for uid in current if uid and uid not in wanted)
        if to_add:
            await self._call("add members", lambda: channel.add_members(to_add))
        if to_remove:
            await self._call("remove members", lambda: channel.remove_members(to_remove))
        existing = state.get("channel", {})
        changes = {k: v for k, v in spec.data.items() if existing.get(k) != v}
        if bool(existing.get("frozen")) != spec.frozen:
            changes["frozen"] = spec.frozen
        if changes:
            await self._call("update channel", lambda: channel.update_partial(to_set=changes))
        return wanted

    async def channel_messages(
        self, channel_id: str, before_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """One page of the channel's messages, oldest first, before `before_id` (newest page
        when None). A channel Stream does not have holds no messages."""
        channel = self.client.channel(CHANNEL_TYPE, channel_id)
        page: dict[str, Any] = {"limit": limit}
        if before_id:
            page["id_lt"] = before_id
        try:
            state = await self._call(
                "channel messages",
                lambda: channel.query(watch=False, presence=False, state=True, messages=page),
            )
        except StreamRejected as exc:
            if exc.status in (400, 404):
                return []
            raise
        messages = state.get("messages") or []
        return [m for m in messages if isinstance(m, dict) and isinstance(m.get("id"), str)]

    async def send_event(self, channel_id: str, event: dict[str, Any], user_id: str) -> None:
        """A custom event on the channel: every watching client receives it (not stored as a
        message). Stream wants a user to attribute server-side events to."""
        channel = self.client.channel(CHANNEL_TYPE, channel_id)
        await self._call("send event", lambda: channel.send_event(event, user_id))

    async def delete_channel(self, channel_id: str) -> None:
        channel = self.client.channel(CHANNEL_TYPE, channel_id)
        try:
            await self._call("delete channel", lambda: channel.delete(hard=True))
        except StreamRejected as exc:
            if exc.status != 404:
                raise


# Unix time at which Stream's rate-limit window resets, set by the last 429 seen in this task.
rate_limit_reset: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "stream_rate_limit_reset", default=None
)


async def _remember_rate_limit(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
) -> None:
    if params.response.status == 429:
        reset = params.response.headers.get("X-RateLimit-Reset", "")
        if reset.isdigit():
            rate_limit_reset.set(float(reset))
