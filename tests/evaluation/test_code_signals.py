"""Integrity signals through the API: evidence for the host, for an interviewer only once
their scorecard is in, and nothing for the candidate or an outsider."""

from __future__ import annotations

import asyncio

import httpx

from config import Settings
from tests.collab.test_history import typist
from tests.evaluation.test_evaluation import FULL, panel
from tests.support import http_client, running_app

PASTE = "def two_sum(numbers, target):\n" + "    pass  # a long pasted block\n" * 4


async def test_signals_point_at_the_paste_and_follow_the_blind_rule(
    server: str, client: httpx.AsyncClient
) -> None:
    p = await panel(client)
    sid, base = p["session"]["_id"], p["base"]
    cara = await typist(server, sid, p["candidate"]["token"])
    claim = await client.post(
        f"{base}/code/signals",
        json={"kind": "paste", "length": len(PASTE)},
        headers=p["candidate"]["headers"],
    )
    assert claim.status_code == 201, claim.text
    assert claim.json()["signal"]["source"] == "client"
    for key in "# my solution\n":
        await cara.edit(lambda code, k=key: code.insert(len(code), k))
    await cara.edit(lambda code: code.insert(len(code), PASTE))
    await asyncio.sleep(0.5)

    seen = await client.get(f"{base}/code/signals", headers=p["host"]["headers"])
    assert seen.status_code == 200, seen.text
    signals = seen.json()["signals"]
    assert [s["kind"] for s in signals] == ["large_insert"]
    evidence = signals[0]
    assert evidence["author"] == {"id": p["candidate"]["user"]["_id"], "name": "Cara Candidate"}
    assert evidence["inserted"] == len(PASTE) and evidence["previousLength"] == 14
    assert evidence["preview"] == PASTE[:80] and evidence["source"] == "server"
    at = await client.get(
        f"{base}/code", params={"position": evidence["position"]}, headers=p["host"]["headers"]
    )
    assert at.json()["code"].endswith(PASTE)  # the position is the evidence's own state

    ivo = p["interviewer"]["headers"]
    blind = await client.get(f"{base}/code/signals", headers=ivo)
    assert blind.status_code == 403 and blind.json()["error"] == "submit_own_first"
    assert (await client.put(f"{base}/scorecards/me", json=FULL, headers=ivo)).status_code == 200
    assert (await client.post(f"{base}/scorecards/me/submit", headers=ivo)).status_code == 200
    assert seen.json()["clientSignals"] == [claim.json()["signal"]]
    after = await client.get(f"{base}/code/signals", headers=ivo)
    assert after.status_code == 200 and after.json() == seen.json()
    for who in ("candidate", "outsider"):
        refused = await client.get(f"{base}/code/signals", headers=p[who]["headers"])
        assert refused.status_code == 404
    await cara.ws.close()


async def test_only_the_candidates_editor_reports_and_a_session_keeps_a_bounded_number(
    settings: Settings,
) -> None:
    few = settings.model_copy(update={"code_client_signals_max": 2})
    async with running_app(few) as (_app, url), http_client(url) as http:
        p = await panel(http)
        route = f"{p['base']}/code/signals"
        for who, status in (("host", 403), ("interviewer", 403), ("outsider", 404)):
            sent = await http.post(route, json={"kind": "focus_lost"}, headers=p[who]["headers"])
            assert sent.status_code == status, (who, sent.text)
        cara = p["candidate"]["headers"]
        for wrong in (
            {"kind": "cheating"},
            {"kind": "paste", "length": -1},
            {"kind": "paste", "x": 1},
        ):
            assert (await http.post(route, json=wrong, headers=cara)).status_code == 400
        for kind in ("focus_lost", "focus_back"):
            assert (await http.post(route, json={"kind": kind}, headers=cara)).status_code == 201
        full = await http.post(route, json={"kind": "focus_lost"}, headers=cara)
        assert full.status_code == 429 and full.json()["error"] == "client_signals_full"
