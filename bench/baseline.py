"""Baseline: a minimal Sanic app making the same MongoDB and Redis reads as our read routes
with motor, answering the documents as JSON (ids and times as strings, the stdlib encoder),
without our layers (JWT, validation, response models, middleware, metrics). `ours / baseline`
per route is what our code costs (issue 24 holds it within 1.2x).

Run: MONGODB_URI=... BASELINE_USER_ID=... python bench/baseline.py PORT
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient
from redis.asyncio import Redis
from sanic import Request, Sanic
from sanic.response import HTTPResponse, text

app = Sanic("baseline")
USER_ID = ObjectId(os.environ["BASELINE_USER_ID"])


@app.before_server_start
async def connect(app: Sanic[Any, Any]) -> None:
    uri = os.environ["MONGODB_URI"]
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(uri, tz_aware=True)
    app.ctx.db = client.get_default_database()
    app.ctx.redis = Redis.from_url(os.environ["REDIS_URL"])


async def signed_in(request: Request) -> dict[str, Any]:
    """The same two reads our auth makes (revocation in Redis, the user in MongoDB), together."""
    _, user = await asyncio.gather(
        request.app.ctx.redis.exists("auth:revoked:baseline"),
        request.app.ctx.db.users.find_one({"_id": USER_ID}),
    )
    return dict(user)


def dump(value: object) -> HTTPResponse:
    # ObjectIds and datetimes as strings, as any lean server would.
    return text(json.dumps(value, default=str), content_type="application/json")


@app.get("/api/health")
async def health(request: Request) -> HTTPResponse:
    return dump({"status": "ok", "version": "baseline"})


@app.get("/api/auth/me")
async def me(request: Request) -> HTTPResponse:
    user = await signed_in(request)
    user.pop("password", None)
    return dump({"user": user})


@app.get("/api/sessions")
async def sessions(request: Request) -> HTTPResponse:
    """Same filter, sort and limit as GET /api/sessions?limit=20, plus the user lookup."""
    await signed_in(request)
    db = request.app.ctx.db
    filter_ = {"members": USER_ID}
    total = await db.sessions.count_documents(filter_)
    docs = (
        await db.sessions.find(filter_).sort([("createdAt", -1), ("_id", -1)]).limit(20).to_list(20)
    )
    ids = list({uid for doc in docs for uid in doc["members"]})
    users = await db.users.find({"_id": {"$in": ids}}).to_list(None)
    return dump({"sessions": docs, "users": users, "total": total})


@app.get("/api/sessions/active")
async def active(request: Request) -> HTTPResponse:
    await signed_in(request)
    db = request.app.ctx.db
    docs = (
        await db.sessions.find({"status": "active"})
        .sort([("createdAt", -1), ("_id", -1)])
        .limit(20)
        .to_list(20)
    )
    ids = list({uid for doc in docs for uid in doc["members"]})
    users = await db.users.find({"_id": {"$in": ids}}).to_list(None)
    return dump({"sessions": docs, "users": users})


@app.get("/api/sessions/<session_id:str>")
async def one(request: Request, session_id: str) -> HTTPResponse:
    await signed_in(request)
    db = request.app.ctx.db
    doc = await db.sessions.find_one({"_id": ObjectId(session_id)})
    users = await db.users.find({"_id": {"$in": doc["members"]}}).to_list(None)
    return dump({"session": doc, "users": users})


@app.get("/api/chat/history/<session_id:str>")
async def history(request: Request, session_id: str) -> HTTPResponse:
    await signed_in(request)
    db = request.app.ctx.db
    # The membership check every member-only route makes.
    await db.sessions.find_one({"_id": ObjectId(session_id), "members": USER_ID}, {"status": 1})
    docs = (
        await db.chat_messages.find({"sessionId": ObjectId(session_id)})
        .sort([("createdAt", -1), ("_id", -1)])
        .limit(51)
        .to_list(51)
    )
    return dump({"messages": docs})


if __name__ == "__main__":
    app.run(
        host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, motd=False
    )
