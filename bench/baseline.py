"""Baseline: a minimal Sanic app running the same MongoDB queries as our list and get endpoints
with motor, returning the same documents, without our layers (auth, validation, rendering,
population). `ours / baseline` shows what our code costs.

Run: MONGODB_URI=... BASELINE_USER_ID=... python bench/baseline.py PORT
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from bson import ObjectId, json_util
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


async def signed_in(request: Request) -> None:
    """The same two reads our auth makes (revocation in Redis, the user in MongoDB), together."""
    await asyncio.gather(
        request.app.ctx.redis.exists("auth:revoked:baseline"),
        request.app.ctx.db.users.find_one({"_id": USER_ID}),
    )


def dump(value: object) -> HTTPResponse:
    return text(json_util.dumps(value), content_type="application/json")


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
