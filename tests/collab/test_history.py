"""The code's history through the API: the timeline, the code at any moment, diffs and the
export, replayed by the npm yjs package."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pycrdt import Doc, Text
from websockets.asyncio.client import ClientConnection

from config import Settings
from tests.collab.test_collab import pull, python_client
from tests.evaluation.test_evaluation import panel
from tests.support import ROOT, http_client, running_app
from tq.collab import protocol

REPLAY = ROOT / "tests" / "clients" / "replay.mjs"


class Typist:
    """A pycrdt client that sends each edit as its own update."""

    def __init__(self, ws: ClientConnection, doc: Doc[Any]) -> None:
        self.ws, self.doc = ws, doc
        self.code: Text = doc["code"]

    async def hear(self, seconds: float = 0.3) -> None:
        """Apply what the others sent meanwhile (a browser's provider does it as it comes)."""
        try:
            while True:
                frame = await asyncio.wait_for(self.ws.recv(), seconds)
                assert isinstance(frame, bytes)
                kind, sub, payload = protocol.parse(frame)
                if kind == protocol.MessageType.SYNC and sub != protocol.SyncType.STEP1:
                    self.doc.apply_update(payload)
        except TimeoutError:
            pass

    async def edit(self, change: Any) -> None:
        before = self.doc.get_state()
        change(self.code)
        await self.ws.send(protocol.update_message(self.doc.get_update(before)))


async def typist(url: str, sid: str, token: str) -> Typist:
    ws = await python_client(url, sid, token)
    return Typist(ws, await pull(ws))


async def replayed_by_yjs(export: dict[str, Any]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(REPLAY),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(export).encode()), 60)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


async def test_the_timeline_the_code_at_any_moment_diffs_and_the_export(
    settings: Settings,
) -> None:
    quick = settings.model_copy(update={"code_timeline_group_s": 0.3})
    async with running_app(quick) as (_app, url), http_client(url) as http:
        p = await panel(http)
        sid, base = p["session"]["_id"], p["base"]
        cara = await typist(url, sid, p["candidate"]["token"])
        hana = await typist(url, sid, p["host"]["token"])
        for word in ("def ", "solve", "():\n"):  # one burst: one checkpoint
            await cara.edit(lambda code, w=word: code.insert(len(code), w))
            await asyncio.sleep(0.02)
        await hana.hear(0.6)  # she has Cara's code before she edits it
        assert str(hana.code) == "def solve():\n"
        await hana.edit(lambda code: code.insert(0, "# hint\n"))
        await cara.hear(0.6)
        assert str(cara.code).startswith("# hint\n")
        await cara.edit(lambda code: code.__delitem__(slice(0, 7)))  # she removes the hint
        await asyncio.sleep(0.3)
        host = p["host"]["headers"]

        got = await http.get(f"{base}/code/timeline", headers=host)
        assert got.status_code == 200, got.text
        entries = got.json()["checkpoints"]
        people = [(e["author"]["id"], e["inserted"], e["deleted"], e["length"]) for e in entries]
        cara_id, hana_id = p["candidate"]["user"]["_id"], p["host"]["user"]["_id"]
        assert people == [
            (cara_id, 13, 0, 13),
            (hana_id, 7, 0, 20),
            (cara_id, 0, 7, 13),
        ]
        assert entries[0]["updates"] == 3 and entries[0]["author"]["name"] == "Cara Candidate"
        assert got.json()["nextCursor"] is None

        # One entry a page: the cursors walk the same list.
        walked, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"after": cursor} if cursor else {})}
            page = (await http.get(f"{base}/code/timeline", params=params, headers=host)).json()
            walked += page["checkpoints"]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert walked == entries

        async def code(**params: Any) -> dict[str, Any]:
            answer = await http.get(f"{base}/code", params=params, headers=host)
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

        now = await code()
        assert now["code"] == "def solve():\n" and now["language"] == p["session"]["language"]
        assert now["position"] == entries[-1]["position"]
        with_hint = await code(position=entries[1]["position"])
        assert with_hint["code"] == "# hint\ndef solve():\n"
        assert (await code(at=entries[1]["at"]))["code"] == with_hint["code"]
        assert (await code(position=0))["code"] == ""
        # Both bounds: whichever comes first.
        both = await code(position=entries[2]["position"], at=entries[1]["at"])
        assert both["code"] == with_hint["code"]
        assert (await code(at="2000-01-01T00:00:00Z"))["position"] == 0

        diff = await http.get(
            f"{base}/code/diff",
            params={"from": entries[1]["position"], "to": entries[2]["at"]},
            headers=host,
        )
        assert diff.status_code == 200, diff.text
        assert "-# hint\n" in diff.json()["diff"]
        assert diff.json()["from"]["code"] == with_hint["code"]

        export = await http.get(f"{base}/code/export", headers=host)
        assert export.status_code == 200
        assert [u["position"] for u in export.json()["updates"]] == list(
            range(1, now["position"] + 1)
        )
        assert await replayed_by_yjs(export.json()) == {
            "code": now["code"],
            "language": now["language"],
        }

        # The interviewer sees it all; the candidate and an outsider learn nothing.
        for route in ("code/timeline", "code", "code/export", "code/diff?from=0&to=1"):
            assert (
                await http.get(f"{base}/{route}", headers=p["interviewer"]["headers"])
            ).status_code == 200
            for who in ("candidate", "outsider"):
                refused = await http.get(f"{base}/{route}", headers=p[who]["headers"])
                assert refused.status_code == 404, (route, who)
                assert refused.json()["error"] == "session_not_found"
        # Bad input is a clear 400.
        wrong: list[dict[str, Any]] = [
            {"at": "yesterday"},
            {"position": -1},
        ]
        for params in wrong:
            assert (await http.get(f"{base}/code", params=params, headers=host)).status_code == 400
        bad = await http.get(f"{base}/code/diff", params={"from": "soon", "to": 1}, headers=host)
        assert bad.status_code == 400
        for ws in (cara.ws, hana.ws):
            await ws.close()
