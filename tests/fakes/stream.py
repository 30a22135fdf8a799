"""A fake Stream REST server for tests: the real SDK talks to it through `base_url`.

It checks what the real service checks of a server-side client (the `api_key` parameter and a
server JWT signed with the app secret), keeps users, channels, members and messages in memory,
records every call, and can be told to fail (HTTP status) or stall for fault tests. It runs in
its own thread and event loop so that the pytest loop, the web app and a worker process can all
reach it over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web


@dataclass
class Fault:
    status: int = 500
    delay_s: float = 0.0
    path_contains: str = ""
    remaining: int = 1
    headers: dict[str, str] = field(default_factory=dict)


class FakeStream:
    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- control from tests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(
        self,
        times: int = 1,
        status: int = 500,
        delay_s: float = 0.0,
        path_contains: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(status, delay_s, path_contains, times, headers or {}))

    def heal(self) -> None:
        with self.lock:
            self.faults.clear()

    def calls_to(self, method: str, path_contains: str) -> list[tuple[str, str, Any]]:
        with self.lock:
            return [c for c in self.calls if c[0] == method and path_contains in c[1]]

    async def deliver_webhook(
        self, target_url: str, event: dict[str, Any], webhook_id: str | None = None
    ) -> Any:
        """POST `event` to the app the way Stream delivers webhooks (signed, with its headers)."""
        import httpx

        body, headers = signed_webhook(event, self.api_key, self.api_secret, webhook_id)
        async with httpx.AsyncClient(timeout=15) as http:
            return await http.post(target_url, content=body, headers=headers)

    # --- the HTTP side

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path_contains in path and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.query.get("api_key") != self.api_key:
            return web.json_response({"code": 2, "message": "api_key not valid"}, status=401)
        try:
            claims = jwt.decode(
                request.headers.get("Authorization", ""), self.api_secret, algorithms=["HS256"]
            )
        except jwt.PyJWTError:
            return web.json_response({"code": 5, "message": "bad server token"}, status=401)
        if claims.get("server") is not True or request.headers.get("stream-auth-type") != "jwt":
            return web.json_response({"code": 5, "message": "not a server token"}, status=401)
        body = await request.text()
        with self.lock:
            self.calls.append((request.method, request.path, json.loads(body) if body else None))
        fault = self._take_fault(request.path)
        if fault:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.status >= 400:
                return web.json_response(
                    {"code": 99, "message": "injected failure"},
                    status=fault.status,
                    headers=fault.headers,
                )
        return await handler(request)

    async def _upsert_users(self, request: web.Request) -> web.Response:
        data = await request.json()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.lock:
            for user_id, user in data["users"].items():
                self.users[user_id] = {**self.users.get(user_id, {}), **user, "updated_at": now}
            users = {uid: self.users[uid] for uid in data["users"]}
        return web.json_response({"users": users, "duration": "1ms"})

    async def _delete_user(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        with self.lock:
            user = self.users.pop(user_id, None)
        if user is None:
            return web.json_response({"code": 16, "message": "user does not exist"}, status=404)
        return web.json_response({"user": user, "duration": "1ms"})

    # --- channels: state kept as {"data", "members": [ids], "frozen", "created_by"}

    def channel(self, channel_id: str, channel_type: str = "messaging") -> dict[str, Any] | None:
        with self.lock:
            return self.channels.get(f"{channel_type}:{channel_id}")

    def add_message(self, channel_id: str, message: dict[str, Any]) -> None:
        """Put a message into a channel as if a client had sent it through Stream."""
        with self.lock:
            self.channels[f"messaging:{channel_id}"].setdefault("messages", []).append(message)

    def _messages_page(self, cid: str, page: dict[str, Any]) -> list[dict[str, Any]]:
        messages = self.channels[cid].get("messages", [])
        before = page.get("id_lt")
        if before:
            ids = [m["id"] for m in messages]
            messages = messages[: ids.index(before)] if before in ids else []
        limit = int(page.get("limit", 25))
        return messages[-limit:] if limit else []

    def _channel_view(self, cid: str, page: dict[str, Any] | None = None) -> dict[str, Any]:
        channel = self.channels[cid]
        channel_type, channel_id = cid.split(":", 1)
        return {
            "channel": {
                **channel["data"],
                "id": channel_id,
                "type": channel_type,
                "cid": cid,
                "frozen": channel["frozen"],
                "created_by": {"id": channel["created_by"]},
            },
            "members": [{"user_id": uid, "user": {"id": uid}} for uid in channel["members"]],
            "messages": self._messages_page(cid, page or {"limit": 25}),
        }

    async def _query_channel(self, request: web.Request) -> web.Response:
        cid = f"{request.match_info['type']}:{request.match_info['id']}"
        body = await request.json()
        data = dict(body.get("data") or {})
        members = data.pop("members", [])
        created_by = (data.pop("created_by", None) or {}).get("id")
        with self.lock:
            if cid not in self.channels:
                missing = [m for m in [*members, created_by] if m not in self.users]
                if missing:
                    return web.json_response(
                        {"code": 4, "message": f"users don't exist: {missing}"}, status=400
                    )
                self.channels[cid] = {
                    "data": data,
                    "members": list(dict.fromkeys(members)),
                    "frozen": bool(data.pop("frozen", False)),
                    "created_by": created_by,
                }
            return web.json_response(self._channel_view(cid, body.get("messages")))

    async def _update_channel(self, request: web.Request) -> web.Response:
        cid = f"{request.match_info['type']}:{request.match_info['id']}"
        body = await request.json()
        with self.lock:
            channel = self.channels.get(cid)
            if channel is None:
                return web.json_response({"code": 16, "message": "no such channel"}, status=404)
            for uid in body.get("add_members") or []:
                if uid not in self.users:
                    return web.json_response({"code": 4, "message": "no such user"}, status=400)
                if uid not in channel["members"]:
                    channel["members"].append(uid)
            remove = set(body.get("remove_members") or [])
            channel["members"] = [m for m in channel["members"] if m not in remove]
            if body.get("data"):
                channel["data"].update(body["data"])
            return web.json_response(self._channel_view(cid))

    async def _patch_channel(self, request: web.Request) -> web.Response:
        cid = f"{request.match_info['type']}:{request.match_info['id']}"
        body = await request.json()
        with self.lock:
            channel = self.channels.get(cid)
            if channel is None:
                return web.json_response({"code": 16, "message": "no such channel"}, status=404)
            changes = dict(body.get("set") or {})
            if "frozen" in changes:
                channel["frozen"] = bool(changes.pop("frozen"))
            channel["data"].update(changes)
            for key in body.get("unset") or []:
                channel["data"].pop(key, None)
            return web.json_response(self._channel_view(cid))

    async def _send_event(self, request: web.Request) -> web.Response:
        cid = f"{request.match_info['type']}:{request.match_info['id']}"
        body = await request.json()
        event = body.get("event") or {}
        with self.lock:
            channel = self.channels.get(cid)
            if channel is None:
                return web.json_response({"code": 16, "message": "no such channel"}, status=404)
            if not event.get("type") or (event.get("user") or {}).get("id") not in self.users:
                return web.json_response({"code": 4, "message": "bad event"}, status=400)
            channel.setdefault("events", []).append(event)
        return web.json_response({"event": event, "duration": "1ms"})

    def events(self, channel_id: str, channel_type: str = "messaging") -> list[dict[str, Any]]:
        with self.lock:
            return list(self.channels.get(f"{channel_type}:{channel_id}", {}).get("events", []))

    async def _delete_channel(self, request: web.Request) -> web.Response:
        cid = f"{request.match_info['type']}:{request.match_info['id']}"
        with self.lock:
            if self.channels.pop(cid, None) is None:
                return web.json_response({"code": 16, "message": "no such channel"}, status=404)
        return web.json_response({"channel": {"cid": cid}, "duration": "1ms"})

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/users", self._upsert_users),
            web.delete("/users/{user_id}", self._delete_user),
            web.post("/channels/{type}/{id}/query", self._query_channel),
            web.post("/channels/{type}/{id}/event", self._send_event),
            web.post("/channels/{type}/{id}", self._update_channel),
            web.patch("/channels/{type}/{id}", self._patch_channel),
            web.delete("/channels/{type}/{id}", self._delete_channel),
        ]

    # --- lifecycle

    def start(self) -> FakeStream:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application(middlewares=[self._gate])
            app.add_routes(self.routes())
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-stream", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def message_event(
    kind: str,
    channel_id: str,
    message_id: str,
    text: str,
    user_id: str,
    *,
    created_at: str,
    updated_at: str | None = None,
    deleted_at: str | None = None,
) -> dict[str, Any]:
    """A Stream message event, shaped as Stream sends it."""
    message: dict[str, Any] = {
        "id": message_id,
        "text": text,
        "type": "deleted" if kind == "message.deleted" else "regular",
        "user": {"id": user_id},
        "created_at": created_at,
        "updated_at": updated_at or created_at,
    }
    if deleted_at:
        message["deleted_at"] = deleted_at
    return {
        "type": kind,
        "cid": f"messaging:{channel_id}",
        "channel_id": channel_id,
        "channel_type": "messaging",
        "message": message,
        "user": {"id": user_id},
        "created_at": updated_at or created_at,
    }


def signed_webhook(
    event: dict[str, Any], api_key: str, api_secret: str, webhook_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stream sends: X-Signature is HMAC-SHA256 of the raw body."""
    import hashlib
    import hmac
    import uuid

    body = json.dumps(event, separators=(",", ":")).encode()
    signature = hmac.new(api_secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Signature": signature,
        "X-Api-Key": api_key,
        "X-Webhook-Id": webhook_id or str(uuid.uuid4()),
    }
    return body, headers
