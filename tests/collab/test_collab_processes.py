"""The shared editor across real web processes (`server.py`, as the Procfile starts it): one
killed with SIGKILL mid-session loses nothing anyone was relayed, and a client that comes back
(to another process, or to the restarted one) converges on everything."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import httpx
from bson import ObjectId
from pycrdt import Doc, Map, Text
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from config import Settings
from tests.collab.test_collab import python_client
from tests.evaluation.test_evaluation import panel
from tests.support import start_web, wait_until
from tq.collab import protocol
from tq.collab.service import read_log
from tq.core.db import create_engine


class Editor:
    """A pycrdt client that speaks y-websocket as the npm provider does: its document outlives
    its connections, it edits offline, and on (re)connecting it answers the server's sync
    step 1 with what the server lacks."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.doc["code"] = self.code = Text()
        self.doc["meta"] = Map()
        self.ws: ClientConnection | None = None
        self.synced = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None

    async def connect(self, base: str, session_id: str, token: str) -> None:
        self.synced.clear()
        self.ws = ws = await python_client(base, session_id, token)
        self.reader = asyncio.create_task(self._read(ws))
        await ws.send(protocol.sync_step1(self.doc))
        await asyncio.wait_for(self.synced.wait(), 10)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                assert isinstance(frame, bytes)
                kind, sub, payload = protocol.parse(frame)
                if kind != protocol.MessageType.SYNC:
                    continue
                if sub == protocol.SyncType.STEP1:
                    await ws.send(protocol.sync_step2(self.doc, payload))
                    continue
                self.doc.apply_update(payload)
                if sub == protocol.SyncType.STEP2:
                    self.synced.set()
        except ConnectionClosed:
            pass
        finally:
            if self.ws is ws:
                self.ws = None

    async def type(self, text: str) -> None:
        before = self.doc.get_state()
        self.code += text
        update = self.doc.get_update(before)
        if self.ws is not None:
            try:
                await self.ws.send(protocol.update_message(update))
            except ConnectionClosed:
                self.ws = None  # offline: the edit stays here, sent on reconnecting

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader


async def stored_doc(settings: Settings, session_id: str) -> Doc[Any]:
    engine = create_engine(settings)
    try:
        stored = await read_log(engine, ObjectId(session_id))
    finally:
        engine.client.close()
    doc: Doc[Any] = Doc()
    doc["code"], doc["meta"] = Text(), Map()
    for part in stored.parts:
        doc.apply_update(part)
    return doc


def lacks(doc: Doc[Any], other: Doc[Any]) -> bool:
    """Whether `other` holds something `doc` does not (no deletions in these edits: an update
    of no structs means nothing is missing)."""
    return other.get_update(doc.get_state()) != protocol.EMPTY_UPDATE


async def test_a_killed_web_process_loses_nothing_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    fast = settings.model_copy(
        update={"collab_updates_per_second": 1000, "collab_frames_per_second": 2000}
    )
    first, base_one = start_web(fast, "collab-web-1")
    second, base_two = start_web(fast, "collab-web-2")
    restarted = None
    try:
        p = await panel(client)
        sid = p["session"]["_id"]
        cara, hana = Editor(), Editor()
        await cara.connect(base_one, sid, p["candidate"]["token"])
        await hana.connect(base_two, sid, p["host"]["token"])
        for line in range(300):
            await cara.type(f"line {line}\n")
            await asyncio.sleep(0.004)
            if line == 150:
                os.kill(first.pid, signal.SIGKILL)  # mid-burst: some updates in flight
        first.wait(10)
        await asyncio.sleep(0.5)
        assert cara.ws is None  # she typed on offline after the kill

        # Everything the host was relayed (through Redis, from the killed process) is stored.
        heard = str(hana.code)
        assert heard.count("\n") >= 50, heard  # the kill came mid-session, not before it
        stored = await stored_doc(settings, sid)
        assert not lacks(stored, hana.doc)
        assert str(stored["code"]).startswith(heard)
        assert lacks(stored, cara.doc)  # her offline lines are not there yet

        # She comes back on the other process: her client sends what the server lacks.
        await cara.connect(base_two, sid, p["candidate"]["token"])
        whole = str(cara.code)
        assert whole.count("\n") == 300
        await wait_until(lambda: str(hana.code) == whole, timeout=10)

        async def all_stored() -> bool:
            return str((await stored_doc(settings, sid))["code"]) == whole

        await wait_until(all_stored, timeout=10)
        # The killed process, started again on its port, serves all of it from the log.
        restarted, _ = start_web(fast, "collab-web-1b", port=int(base_one.rsplit(":", 1)[1]))
        late = Editor()
        await late.connect(base_one, sid, p["host"]["token"])
        assert str(late.code) == whole
        for editor in (late, cara, hana):
            await editor.close()
    finally:
        for proc in (first, second, restarted):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
