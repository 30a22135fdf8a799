"""The shared editor on the real stack: the npm y-websocket provider and yjs under Node on one
side, a Python pycrdt client on the other, the real database behind."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pycrdt import Doc, Text
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from config import Settings
from tests.evaluation.test_evaluation import panel
from tests.support import (
    ROOT,
    RecordingHandler,
    act,
    http_client,
    iso,
    register,
    running_app,
    wait_until,
)
from tq.collab import protocol
from tq.collab.models import CodeSnapshot, CodeUpdate
from tq.collab.service import SharedCode, compact, shared_code
from tq.core.db import create_engine
from tq.core.security import TokenService

SCRIPT = ROOT / "tests" / "clients" / "collab.mjs"
# An awareness frame of one client (id 7, clock 1) whose state is JSON nested 4,000 deep (under
# COLLAB_MAX_AWARENESS_BYTES, past any JSON parser's recursion limit).
NESTED = protocol.awareness_message(b"\x01\x07\x01" + protocol.var_string("[" * 4000 + "]" * 4000))


def edit(text: str) -> bytes:
    """An update frame of a fresh client that types `text`."""
    doc: Doc[Any] = Doc()
    doc["code"] = code = Text()
    code += text
    return protocol.update_message(doc.get_update())


def ws_base(server: str) -> str:
    return server.replace("http://", "ws://", 1) + "/api/collab"


async def node(*args: str) -> dict[str, Any]:
    """The Node clients' scenario, without blocking the loop the server under test runs on."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def python_client(server: str, session_id: str, token: str) -> ClientConnection:
    return await connect(f"{ws_base(server)}/{session_id}?token={token}", max_size=None)


async def pull(ws: ClientConnection) -> Doc[Any]:
    """A pycrdt client's sync: its step 1, the server's step 2 applied to an empty document."""
    doc: Doc[Any] = Doc()
    doc["code"] = Text()
    await ws.send(protocol.sync_step1(doc))
    while True:
        frame = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(frame, bytes)
        kind, sub, payload = protocol.parse(frame)
        if kind == protocol.MessageType.SYNC and sub == protocol.SyncType.STEP2:
            doc.apply_update(payload)
            return doc


async def ended(ws: ClientConnection, wait: float) -> int | None:
    """The close code the server sent within `wait` seconds, or None if it stays open."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return None
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code


async def close_code(server: str, session_id: str, token: str, send: bytes | None = None) -> int:
    ws = await python_client(server, session_id, token)
    try:
        if send is not None:
            await ws.send(send)
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code
    finally:
        await ws.close()


async def test_two_clients_converge_a_late_joiner_gets_it_all_and_it_is_kept(
    server: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    p = await panel(client)
    host, cara = p["host"], p["candidate"]
    sid = p["session"]["_id"]
    seen = await node(ws_base(server), sid, "converge", host["token"], cara["token"])
    assert seen["a"] == seen["b"] == seen["late"]
    assert "solve():\n" in seen["a"] and "# candidate notes\n" in seen["a"]
    assert "def " not in seen["late"]  # the deletion was relayed and stored
    assert seen["language"] == p["session"]["language"]
    # Who the host is comes from the server, whatever the client claimed; the rest is theirs.
    assert seen["awarenessOfA"]["user"] == {
        "id": host["user"]["_id"],
        "name": "Hana Host",
        "sessionRole": "host",
        "color": seen["awarenessOfA"]["user"]["color"],
    }
    assert seen["awarenessOfA"]["cursor"] == {"line": 1}

    # Every update was stored with its author before anyone else got it.
    engine = create_engine(settings)
    try:
        log = await (
            engine.get_collection(CodeUpdate)
            .find({"sessionId": ObjectId(sid)})
            .sort([("_id", 1)])
            .to_list(None)
        )
    finally:
        engine.client.close()
    authors = {str(entry["authorId"]) for entry in log if entry["authorId"]}
    assert authors == {host["user"]["_id"], cara["user"]["_id"]}
    assert log[0]["authorId"] is None  # the server's own: meta.language

    # Another web process, with no room in memory, serves the same document from the log.
    async with running_app(settings) as (_app, other):
        ws = await python_client(other, sid, cara["token"])
        doc = await pull(ws)
        await ws.close()
    assert str(doc["code"]) == seen["a"]


async def test_an_editor_that_was_offline_converges_on_reconnecting(
    server: str, client: httpx.AsyncClient
) -> None:
    p = await panel(client)
    sid = p["session"]["_id"]
    seen = await node(ws_base(server), sid, "offline", p["candidate"]["token"], p["host"]["token"])
    assert "written offline" not in seen["whileAway"]  # it really was away
    assert seen["a"] == seen["b"]
    assert "written offline\n" in seen["a"] and "written online\n" in seen["a"]


async def test_refusals_close_with_a_code_and_the_client_stops(
    server: str, client: httpx.AsyncClient
) -> None:
    p = await panel(client)
    sid = p["session"]["_id"]
    assert await close_code(server, sid, "") == 4401
    assert await close_code(server, sid, "not-a-token") == 4401
    assert await close_code(server, sid, p["outsider"]["token"]) == 4404
    assert await close_code(server, str(ObjectId()), p["host"]["token"]) == 4404
    host = await register(client, role="interviewer")
    later = await client.post(
        "/api/sessions",
        json={"title": "Tomorrow", "startTime": iso_in_days(1)},
        headers=host["headers"],
    )
    assert await close_code(server, later.json()["session"]["_id"], host["token"]) == 4409
    # The real client, told 44xx, does not reconnect.
    refused = await node(ws_base(server), sid, "refused", p["outsider"]["token"])
    assert refused["closes"][0][0] == 4404 and refused["shouldConnect"] is False
    assert refused["synced"] is False


def iso_in_days(days: int) -> str:
    return iso(datetime.now(UTC) + timedelta(days=days))


async def test_a_finished_session_is_readable_never_writable(
    server: str, client: httpx.AsyncClient
) -> None:
    p = await panel(client)
    sid = p["session"]["_id"]
    await node(ws_base(server), sid, "write", p["candidate"]["token"], "print(42)")
    assert (await act(client, p["host"], p["session"], "start")).status_code == 200
    assert (await act(client, p["host"], p["session"], "end")).status_code == 200
    seen = await node(ws_base(server), sid, "read-only", p["candidate"]["token"])
    assert "print(42)" in seen["before"]
    assert seen["denied"] == ["read_only"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x07", 4400),  # no such message type
        (b"\x00\x05\x01", 4400),  # a sync frame of no known sub-type
        (b"\x00\x02\x05\xff\xff\xff\xff\xff", 4400),  # an update that is not one
        (protocol.awareness_message(b"\x01\x07\x01" + protocol.var_string("{not json")), 4400),
        (b"\x00\x02" + b"\x80" * 12, 4400),  # a varUint that never ends
        (b"\x00\x00\x03abc", 4400),  # a sync step 1 whose state vector is not one
        (NESTED, 4400),  # awareness JSON nested past any parser's depth
        # NaN is not JSON: relayed, it would break every browser's JSON.parse
        (protocol.awareness_message(b"\x01\x07\x01" + protocol.var_string('{"x":NaN}')), 4400),
        # a client id past 32 bits, which no browser's decoder takes
        (protocol.awareness_message(protocol.write_awareness([(2**53, 1, {})])), 4400),
    ],
)
async def test_a_malformed_frame_closes_that_connection_only(
    server: str, client: httpx.AsyncClient, frame: bytes, code: int
) -> None:
    p = await panel(client)
    sid = p["session"]["_id"]
    bystander = await python_client(server, sid, p["host"]["token"])
    await pull(bystander)
    assert await close_code(server, sid, p["candidate"]["token"], send=frame) == code
    # The room and its other client carry on.
    doc = await pull(bystander)
    assert str(doc["code"]) == ""
    await bystander.close()


async def test_limits_each_close_with_their_code(settings: Settings) -> None:
    small = settings.model_copy(
        update={
            "collab_max_message_bytes": 4096,
            "collab_max_document_bytes": 8192,
            "collab_updates_per_second": 2,
            "collab_max_connections_per_user": 1,
        }
    )
    async with running_app(small) as (_app, url), http_client(url) as http:
        p = await panel(http)
        sid, token = p["session"]["_id"], p["candidate"]["token"]

        assert await close_code(url, sid, token, send=edit("x" * 5000)) == 4413
        # Garbage updates are refused without counting against the document's bound.
        garbage = protocol.update_message(b"\x05" + b"\xff" * 3000)
        for _ in range(4):
            assert await close_code(url, sid, token, send=garbage) == 4400
        # Ten connections of one person at once: counted under the room's lock, one stays.
        together = await asyncio.gather(*(python_client(url, sid, token) for _ in range(10)))
        codes = await asyncio.gather(*(ended(ws, wait=2) for ws in together))
        assert sorted(codes, key=str) == [4429] * 9 + [None], codes
        first = next(ws for ws, code in zip(together, codes, strict=True) if code is None)
        assert await close_code(url, sid, token) == 4429  # a second connection of one person
        for _ in range(2):
            await first.send(edit("y" * 3000))  # 6,000 bytes stored: under the 8 KiB bound
        await first.send(edit("z" * 3000))  # past the document's bound
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(first.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4413
        burst = await python_client(url, sid, p["host"]["token"])
        await pull(burst)
        with pytest.raises(ConnectionClosed) as closed:
            for index in range(20):
                await burst.send(edit(str(index)))
            while True:
                await asyncio.wait_for(burst.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429


async def test_two_web_processes_hear_each_other_through_redis(
    server: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    """One client on each of two web servers (two apps, each with its own rooms and Redis
    connections): their edits and cursors cross over through Redis pub/sub."""
    p = await panel(client)
    sid = p["session"]["_id"]
    async with running_app(settings) as (_app, other):
        seen = await node(
            ws_base(server),
            sid,
            "two-servers",
            ws_base(other),
            p["host"]["token"],
            p["candidate"]["token"],
        )
    assert seen["a"] == seen["b"] == "from process one\nfrom process two\n"
    assert seen["awarenessOfA"]["cursor"] == {"line": 2}
    assert seen["awarenessOfA"]["user"]["sessionRole"] == "host"


@pytest.mark.usefixtures("runner_worker")
async def test_a_run_without_source_runs_the_shared_code_and_records_its_state(
    server: str, client: httpx.AsyncClient
) -> None:
    p = await panel(client, language="python")
    sid = p["session"]["_id"]
    await node(ws_base(server), sid, "write", p["candidate"]["token"], "print(6 * 7)")
    made = await client.post(f"{p['base']}/runs", json={}, headers=p["candidate"]["headers"])
    assert made.status_code == 202, made.text
    run = made.json()["run"]
    assert run["language"] == "python" and run["codeUpdateId"]

    async def finished() -> dict[str, Any]:
        got = await client.get(f"{p['base']}/runs/{run['_id']}", headers=p["host"]["headers"])
        result: dict[str, Any] = got.json()["run"]
        return result if result["status"] in ("completed", "failed") else {}

    await wait_until(finished, timeout=60)
    done = await finished()
    assert done["stdout"] == "42\n", done
    # The state it ran is an update of this session's log.
    assert done["codeUpdateId"] == run["codeUpdateId"]
    # An empty shared document is nothing to run.
    other = await panel(client)
    empty = await client.post(f"{other['base']}/runs", json={}, headers=other["host"]["headers"])
    assert empty.status_code == 400 and empty.json()["error"] == "empty_source"


async def test_a_full_room_refuses_and_an_empty_one_leaves_memory(settings: Settings) -> None:
    small = settings.model_copy(update={"collab_max_connections_per_session": 2})
    async with running_app(small) as (app, url), http_client(url) as http:
        p = await panel(http)
        sid = p["session"]["_id"]
        first = await python_client(url, sid, p["host"]["token"])
        second = await python_client(url, sid, p["candidate"]["token"])
        await pull(first)
        await pull(second)
        assert await close_code(url, sid, p["interviewer"]["token"]) == 4429
        assert ObjectId(sid) in app.ctx.rooms.rooms
        await first.close()
        await second.close()
        # Everyone left: the room is dropped (its state is in the database).
        await wait_until(lambda: ObjectId(sid) not in app.ctx.rooms.rooms, timeout=10)
        assert not app.ctx.rooms.loading


async def test_frames_of_every_kind_and_awareness_ids_are_bounded(settings: Settings) -> None:
    small = settings.model_copy(
        update={"collab_frames_per_second": 5, "collab_max_awareness_clients": 2}
    )
    async with running_app(small) as (_app, url), http_client(url) as http:
        p = await panel(http)
        sid = p["session"]["_id"]
        # Sync requests cost the server a document encoding each: they count too.
        flood = await python_client(url, sid, p["host"]["token"])
        for _ in range(30):
            await flood.send(protocol.sync_step1(Doc()))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(flood.recv(), 10)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4429, "too_many_frames")
        token = p["candidate"]["token"]

        def aware(*entries: tuple[int, Any]) -> bytes:
            return protocol.awareness_message(
                protocol.write_awareness([(client, 1, state) for client, state in entries])
            )

        # One frame speaking for many clients, even one id repeated (each entry would get the
        # server's user card: a 1 MB frame would be relayed as 32 MB).
        assert await close_code(url, sid, token, send=aware(*[(1, "0")] * 3)) == 4413
        # One state past COLLAB_MAX_AWARENESS_BYTES.
        assert await close_code(url, sid, token, send=aware((1, {"x": "y" * 9000}))) == 4413
        # Fake people over several frames: more ids than the connection may own.
        crowd = await python_client(url, sid, token)
        await crowd.send(aware((11, {}), (12, {})))  # (ids nobody else here had)
        await crowd.send(aware((13, {})))
        assert await ended(crowd, wait=10) == 4429


async def test_an_open_connection_is_checked_again(settings: Settings) -> None:
    """A session that ends makes its open connections read-only; a token revoked meanwhile
    ends its connection (checked every COLLAB_RECHECK_S, frames or none)."""
    quick = settings.model_copy(update={"collab_recheck_s": 0.2})
    async with running_app(quick) as (_app, url), http_client(url) as http:
        p = await panel(http)
        sid = p["session"]["_id"]
        cara = await python_client(url, sid, p["candidate"]["token"])
        await pull(cara)
        await cara.send(edit("before the end\n"))
        assert (await act(http, p["host"], p["session"], "start")).status_code == 200
        assert (await act(http, p["host"], p["session"], "end")).status_code == 200
        await asyncio.sleep(0.3)
        await cara.send(edit("after the end\n"))
        denied = None
        while denied is None:
            frame = await asyncio.wait_for(cara.recv(), 10)
            assert isinstance(frame, bytes)
            if frame[0] == protocol.MessageType.AUTH:
                denied = frame
        assert denied == protocol.permission_denied("read_only")
        assert "after the end" not in (await shared_code_of(quick, sid)).code

        hana = await python_client(url, sid, p["host"]["token"])
        await pull(hana)
        out = await http.post("/api/auth/logout", headers=p["host"]["headers"])
        assert out.status_code in (200, 204), out.text
        # She sends nothing: one who only listens is re-checked too.
        assert await ended(hana, wait=10) == 4401
        await cara.close()


async def shared_code_of(settings: Settings, sid: str) -> SharedCode:
    engine = create_engine(settings)
    try:
        return await shared_code(engine, ObjectId(sid))
    finally:
        engine.client.close()


@pytest.mark.usefixtures("celery_worker")
async def test_compaction_snapshots_the_log_and_keeps_every_update(settings: Settings) -> None:
    """The room's compaction is queued when the log grows past the threshold and when the room
    empties; the worker merges it into a snapshot, rooms load from it, and the updates stay."""
    eager = settings.model_copy(update={"collab_compact_after_updates": 10})
    engine = create_engine(settings)
    try:
        async with running_app(eager) as (_app, url), http_client(url) as http:
            p = await panel(http)
            sid = ObjectId(p["session"]["_id"])
            ws = await python_client(url, str(sid), p["candidate"]["token"])
            doc = await pull(ws)
            sent: list[bytes] = []
            doc.observe(lambda event: sent.append(event.update))
            for line in range(12):
                doc["code"] += f"line {line}\n"
                await ws.send(protocol.update_message(sent[-1]))
                await asyncio.sleep(0.02)

            async def snapshot() -> dict[str, Any] | None:
                found: dict[str, Any] | None = await engine.get_collection(CodeSnapshot).find_one(
                    {"sessionId": sid}
                )
                return found

            first = await wait_until(snapshot, timeout=30)  # past the threshold, still open
            assert isinstance(first, dict) and first["updates"] >= 10
            doc["code"] += "after the snapshot\n"
            await ws.send(protocol.update_message(sent[-1]))
            await asyncio.sleep(0.3)
            await ws.close()  # the room empties: compacted again

            async def caught_up() -> bool:
                latest = await snapshot()
                return bool(latest) and latest["upTo"] != first["upTo"]  # type: ignore[index]

            await wait_until(caught_up, timeout=30)
        latest = await snapshot()
        assert latest is not None
        log = await engine.get_collection(CodeUpdate).find({"sessionId": sid}).to_list(None)
        assert len(log) == latest["updates"] == 14  # the language, 12 lines, one more: all kept
        assert latest["upTo"] == max(entry["_id"] for entry in log)
        merged: Doc[Any] = Doc()
        merged["code"] = Text()
        merged.apply_update(latest["state"])
        assert str(merged["code"]) == str(doc["code"])
        # A compaction with nothing new changes nothing.
        assert await compact(engine, sid) == 0
        # An update of another process that lands after the compaction with an older id
        # (made a moment before its insert) is not lost: loads read a margin before `upTo`.
        other: Doc[Any] = Doc()
        other["code"] = Text()
        other.apply_update(latest["state"])
        late: list[bytes] = []
        other.observe(lambda event: late.append(event.update))
        other["code"] += "landed late\n"
        older = ObjectId.from_datetime(latest["upTo"].generation_time - timedelta(seconds=2))
        await engine.get_collection(CodeUpdate).insert_one(
            {
                "_id": older,
                "sessionId": sid,
                "authorId": None,
                "update": late[0],
                "at": older.generation_time,
            }
        )
        assert (await shared_code(engine, sid)).code.endswith("landed late\n")
        async with running_app(settings) as (_app, url):
            reader = await python_client(url, str(sid), p["host"]["token"])
            assert str((await pull(reader))["code"]).endswith("landed late\n")
            await reader.close()
    finally:
        engine.client.close()


async def test_more_refusals_expired_token_another_sessions_candidate_idle(
    settings: Settings,
) -> None:
    sleepy = settings.model_copy(update={"collab_idle_timeout_s": 0.5})
    async with running_app(sleepy) as (_app, url), http_client(url) as http:
        p, other = await panel(http), await panel(http)
        sid = p["session"]["_id"]
        expired_tokens = TokenService(settings.model_copy(update={"jwt_expires_in": -5}))
        expired, _ = expired_tokens.issue(p["candidate"]["user"]["_id"], "candidate")
        assert await close_code(url, sid, expired) == 4401
        assert await close_code(url, sid, other["candidate"]["token"]) == 4404
        ws = await python_client(url, sid, p["candidate"]["token"])
        await pull(ws)
        assert await ended(ws, wait=10) == 4408  # then silent past COLLAB_IDLE_TIMEOUT_S


async def test_the_token_in_the_url_reaches_no_log(settings: Settings) -> None:
    records: list[logging.LogRecord] = []
    handler = RecordingHandler(records)
    # Every logger the server side writes through (some do not propagate to the root).
    names = ("", "tq", "sanic.root", "sanic.access", "sanic.error", "sanic.server", "websockets")
    loggers = [logging.getLogger(name) for name in names]
    levels: list[int] = []
    try:
        async with running_app(settings) as (_app, url), http_client(url) as http:
            levels = [logger.level for logger in loggers]  # as the app configured them
            for logger in loggers:
                logger.addHandler(handler)
                logger.setLevel(logging.DEBUG)
            p = await panel(http)
            sid, token = p["session"]["_id"], p["candidate"]["token"]
            await node(ws_base(url), sid, "write", token, "print(1)")
            assert await close_code(url, sid, token, send=b"\x07") == 4400
            assert await close_code(url, sid, token, send=NESTED) == 4400
            assert await close_code(url, sid, p["outsider"]["token"]) == 4404
    finally:
        for logger, level in zip(loggers, levels, strict=False):
            logger.removeHandler(handler)
            logger.setLevel(level)
    # (Our own test client logs its request line: only what the server side logs counts.)
    text = "\n".join(r.getMessage() for r in records if not r.name.startswith("websockets.client"))
    assert "collab connection closed: malformed_frame" in text  # the logs did run
    for secret in (token, p["outsider"]["token"], token.split(".")[2]):
        assert secret not in text


async def test_a_process_that_missed_messages_catches_up_from_the_log(
    server: str, client: httpx.AsyncClient, settings: Settings, redis_client: Redis
) -> None:
    """Both processes lose their pub/sub connections (a Redis failover drops subscribers); an
    update published meanwhile is lost to the other one, which catches up from the log when
    it hears Redis again, and relays it to its people."""
    p = await panel(client)
    sid = p["session"]["_id"]
    async with running_app(settings) as (_app, other):
        hana = await python_client(server, sid, p["host"]["token"])
        await pull(hana)
        cara = await python_client(other, sid, p["candidate"]["token"])
        await pull(cara)
        await redis_client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await cara.send(edit("while nobody listened\n"))

        async def heard() -> bool:
            try:
                frame = await asyncio.wait_for(hana.recv(), 0.5)
            except TimeoutError:
                return False
            assert isinstance(frame, bytes)
            kind, sub, payload = protocol.parse(frame)
            return (
                kind == protocol.MessageType.SYNC
                and sub == protocol.SyncType.UPDATE
                and b"while nobody listened" in payload
            )

        await wait_until(heard, timeout=15)
        await hana.close()
        await cara.close()


async def test_a_client_that_stops_reading_is_cut_off_and_holds_up_nobody(
    settings: Settings,
) -> None:
    big = settings.model_copy(update={"collab_max_document_bytes": 12 << 20})
    async with running_app(big) as (app, url), http_client(url) as http:
        p = await panel(http)
        sid = p["session"]["_id"]
        reader = await python_client(url, sid, p["host"]["token"])
        await pull(reader)
        writer = await python_client(url, sid, p["candidate"]["token"])
        await pull(writer)
        for index in range(5):
            await writer.send(edit(f"{index}" * 900_000))

        async def updates(ws: ClientConnection, count: int) -> None:
            while count:
                frame = await asyncio.wait_for(ws.recv(), 30)
                assert isinstance(frame, bytes)
                kind, sub, _ = protocol.parse(frame)
                count -= kind == protocol.MessageType.SYNC and sub == protocol.SyncType.UPDATE

        await updates(reader, 5)
        # Asks for the whole 4.5 MB document ten times and reads nothing (its client queues
        # one message, then leaves the rest in the socket): the server's buffers fill.
        stuck = await connect(
            f"{ws_base(url)}/{sid}?token={p['interviewer']['token']}",
            max_size=None,
            max_queue=1,
        )
        for _ in range(10):
            await stuck.send(protocol.sync_step1(Doc()))
        room = app.ctx.rooms.rooms[ObjectId(sid)]
        await wait_until(lambda: len(room.connections) == 3, timeout=10)  # it is in
        await wait_until(lambda: len(room.connections) == 2, timeout=20)  # then cut off
        await writer.send(edit("still heard\n"))
        await updates(reader, 1)
        for ws in (stuck, reader, writer):
            await ws.close()
