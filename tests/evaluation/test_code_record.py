"""The code in the record: the final code, each run's code placed on the timeline with its diff
to the run before, the playback frames, and the signals under the blind rule; and the
playback of record.html in Chromium showing what GET …/code?at= says for each moment."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from tests.collab.test_history import typist
from tests.evaluation.test_evaluation import FULL, panel
from tests.support import ROOT, Chromium, http_client, running_app


def replayed_frames(frames: list[dict[str, Any]]) -> list[str]:
    """The code of each playback frame, by applying its edit to the frame before."""
    texts, text = [], ""
    for frame in frames:
        start, deleted = frame["editStart"], frame["editDeleted"]
        text = text[:start] + frame["editInserted"] + text[start + deleted :]
        texts.append(text)
    return texts


@pytest.mark.usefixtures("runner_worker")
async def test_the_record_holds_the_code_its_runs_and_a_playback(
    settings: Settings, tmp_path: Path
) -> None:
    quick = settings.model_copy(update={"code_timeline_group_s": 0.2})
    async with running_app(quick) as (_app, url), http_client(url) as http:
        p = await panel(http, language="python")
        sid, base = p["session"]["_id"], p["base"]
        host, ivo, cara = p["host"]["headers"], p["interviewer"]["headers"], p["candidate"]
        editor = await typist(url, sid, cara["token"])

        async def type_line(text: str) -> None:
            for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
                await editor.edit(lambda code, t=piece: code.insert(len(code), t))
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.4)  # a pause: the next line is another checkpoint

        async def run() -> dict[str, Any]:
            made = await http.post(f"{base}/runs", json={}, headers=cara["headers"])
            assert made.status_code == 202, made.text
            result: dict[str, Any] = made.json()["run"]
            return result

        await type_line("x = 6 * 7\n")
        await type_line("print(x) # ünïcode ✓ 😀\n")
        first = await run()
        await type_line("print(x + 1)\n")
        # Hostile text: it must stay text in the page (its JSON and its HTML).
        hostile = 's = "</script><script>document.title = `owned`</script><!--\u2028"\n'
        await type_line(hostile)
        # A paste: one update of many characters (a large insert signal).
        pasted = "def helper(values):\n    return sorted(values)\n" * 3
        await editor.edit(lambda code: code.insert(len(code), pasted))
        await asyncio.sleep(0.4)
        await editor.edit(lambda code: code.__delitem__(slice(0, 10)))  # "x = 6 * 7\n" goes
        await asyncio.sleep(0.4)
        second = await run()
        await editor.ws.close()

        record = await http.get(f"{base}/record", headers=host)
        assert record.status_code == 200, record.text
        code = record.json()["code"]
        now = (await http.get(f"{base}/code", headers=host)).json()
        assert code["code"] == now["code"] and code["position"] == now["position"]
        assert code["code"].startswith("print(x) # ünïcode ✓ 😀\n")
        assert hostile in code["code"]

        # Each run: the code it ran, where it sits on the timeline, the change since the last.
        runs = code["runs"]
        assert [r["runId"] for r in runs] == [first["_id"], second["_id"]]
        for ran in runs:
            assert ran["position"] is not None
            at_run = await http.get(
                f"{base}/code", params={"position": ran["position"]}, headers=host
            )
            assert at_run.json()["code"] == ran["source"]  # the code at its time is what it ran
        assert runs[0]["source"] == "x = 6 * 7\nprint(x) # ünïcode ✓ 😀\n"
        # The runs API shows the same: the code each ran and the change since the run before.
        for ran, before in ((runs[0], None), (runs[1], runs[0])):
            got = await http.get(f"{base}/runs/{ran['runId']}", headers=cara["headers"])
            assert got.status_code == 200, got.text
            assert got.json()["run"]["source"] == ran["source"]
            assert got.json()["previousRunId"] == (before["runId"] if before else None)
            assert got.json()["diffToPrevious"] == ran["diffToPrevious"]
        diff = runs[1]["diffToPrevious"]
        assert (
            "-x = 6 * 7\n" in diff
            and "+print(x + 1)\n" in diff
            and "+def helper(values):\n" in diff
        )

        # The playback's frames rebuild the code at each checkpoint.
        frames = code["timeline"]
        # 5 or more: a slow database may store one line's two halves further apart than the gap.
        assert code["summary"]["checkpoints"] == len(frames) >= 5
        assert not code["timelineTruncated"]
        for frame, text in zip(frames, replayed_frames(frames), strict=True):
            at = await http.get(
                f"{base}/code", params={"position": frame["position"]}, headers=host
            )
            assert at.json()["code"] == text
        assert replayed_frames(frames)[-1] == code["code"]

        # The API's timeline: the same checkpoints, with the runs and signals between them,
        # page by page.
        walked: dict[str, list[Any]] = {"checkpoints": [], "runs": [], "signals": []}
        cursor = None
        while True:
            params = {"limit": 2, **({"after": cursor} if cursor is not None else {})}
            page = (await http.get(f"{base}/code/timeline", params=params, headers=host)).json()
            for key in walked:
                walked[key] += page[key]
            if page["runs"]:  # a run sits within its page's checkpoints
                positions = [c["position"] for c in page["checkpoints"]]
                assert all(r["position"] <= positions[-1] for r in page["runs"])
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert [c["position"] for c in walked["checkpoints"]] == [f["position"] for f in frames]
        assert [(r["runId"], r["position"]) for r in walked["runs"]] == [
            (r["runId"], r["position"]) for r in runs
        ]
        assert walked["signals"] == code["signals"]
        hidden = (await http.get(f"{base}/code/timeline", headers=ivo)).json()
        assert hidden["signalsVisible"] is False and hidden["signals"] == []
        assert len(hidden["runs"]) == 2

        # Signals: the host sees the paste; an interviewer only once their scorecard is in.
        assert code["signalsVisible"] is True
        assert [s["kind"] for s in code["signals"]] == ["large_insert"]
        assert code["signals"][0]["inserted"] == len(pasted)
        blind = (await http.get(f"{base}/record", headers=ivo)).json()["code"]
        assert blind["signalsVisible"] is False and blind["signals"] == []
        assert blind["code"] == code["code"]
        await http.put(f"{base}/scorecards/me", json=FULL, headers=ivo)
        await http.post(f"{base}/scorecards/me/submit", headers=ivo)
        seen = (await http.get(f"{base}/record", headers=ivo)).json()["code"]
        assert seen["signals"] == code["signals"]
        shown = (await http.get(f"{base}/code/timeline", headers=ivo)).json()
        assert shown["signalsVisible"] is True and shown["signals"] == code["signals"]
        for who in ("candidate", "outsider"):
            for path in ("record", "record.html"):
                assert (
                    await http.get(f"{base}/{path}", headers=p[who]["headers"])
                ).status_code == 404

        # The page: the playback runs under the page's CSP, and shows what the API says.
        page = await http.get(f"{base}/record.html", headers=host)
        policy = page.headers["content-security-policy"]
        assert (
            "script-src 'sha256-" in policy and "unsafe-inline" not in policy.split("script-src")[1]
        )
        async with Chromium(tmp_path / "chromium") as browser:
            await browser.open(f"{url}{base}/record.html", host)
            assert (
                await browser.evaluate("document.querySelectorAll('#playback-markers .run').length")
                == 2
            )
            assert (
                await browser.evaluate(
                    "document.querySelectorAll('#playback-markers .large_insert').length"
                )
                == 1
            )
            last = len(frames) - 1
            for index in sorted({0, 1, 2, last // 2, last - 1, last}):
                shown = await browser.evaluate(
                    f"(() => {{ const s = document.getElementById('playback-slider');"
                    f" s.value = '{index}'; s.dispatchEvent(new Event('input'));"
                    " const c = document.getElementById('playback-code');"
                    " return [c.textContent, c.dataset.at, Number(c.dataset.position)]; })()"
                )
                text, at, position = shown
                assert position == frames[index]["position"]
                by_time = await http.get(f"{base}/code", params={"at": at}, headers=host)
                assert by_time.json()["code"] == text, index
            # The hostile line is text: nothing ran, and the playback shows it as typed.
            assert await browser.evaluate("document.title") != "owned"
            assert await browser.evaluate("document.scripts.length") == 2
            shown_last = await browser.evaluate("document.getElementById('final-code').textContent")
            assert hostile in shown_last
            # A marker moves the slider to its run.
            await browser.evaluate("document.querySelector('#playback-markers .run').click()")
            slider_at = await browser.evaluate(
                "Number(document.getElementById('playback-code').dataset.position)"
            )
            assert slider_at >= runs[0]["position"]
            # Play at 32x goes to the end by itself.
            await browser.evaluate(
                "document.getElementById('playback-speed').value = '32';"
                "document.getElementById('playback-slider').value = '0';"
                "document.getElementById('playback-play').click()"
            )
            for _ in range(100):
                if await browser.evaluate(
                    "document.getElementById('playback-slider').value"
                ) == str(last):
                    break
                await asyncio.sleep(0.1)
            assert (
                await browser.evaluate("document.getElementById('playback-code').textContent")
                == code["code"]
            )
            errors = await browser.evaluate("document.getElementById('playback-info').textContent")
            assert errors.startswith(f"{last + 1} / {last + 1}")
            await browser.screenshot(ROOT / "var" / "test-logs" / "record-playback.png")
