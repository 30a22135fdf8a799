"""Integrity signals through the API: evidence for the host, for an interviewer only once
their scorecard is in, and nothing for the candidate or an outsider."""

from __future__ import annotations

import asyncio

import httpx

from tests.collab.test_history import typist
from tests.evaluation.test_evaluation import FULL, panel

PASTE = "def two_sum(numbers, target):\n" + "    pass  # a long pasted block\n" * 4


async def test_signals_point_at_the_paste_and_follow_the_blind_rule(
    server: str, client: httpx.AsyncClient
) -> None:
    p = await panel(client)
    sid, base = p["session"]["_id"], p["base"]
    cara = await typist(server, sid, p["candidate"]["token"])
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
    after = await client.get(f"{base}/code/signals", headers=ivo)
    assert after.status_code == 200 and after.json() == seen.json()
    for who in ("candidate", "outsider"):
        refused = await client.get(f"{base}/code/signals", headers=p[who]["headers"])
        assert refused.status_code == 404
    await cara.ws.close()
