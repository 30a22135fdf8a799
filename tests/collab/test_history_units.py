"""The code history's pure parts: characters (not pycrdt's UTF-8 bytes), the playback's edits,
diffs that stay linear past their line limit and still apply with GNU patch."""

from __future__ import annotations

import random
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from pycrdt import Doc, Text

from tests.collab.test_signals import RULES
from tq.collab.history import Replay, detect, diff_text, edit_between


def entry(update: bytes) -> dict[str, Any]:
    return {"_id": ObjectId(), "at": datetime.now(UTC), "authorId": ObjectId(), "update": update}


def test_lengths_and_deletions_are_counted_in_characters() -> None:
    """pycrdt measures a Y.Text in UTF-8 bytes; the history speaks characters."""
    doc: Doc[Any] = Doc()
    doc["code"] = code = Text()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    code.insert(0, "abc")
    code.insert(3, "жжж😀")  # 4 characters, 10 bytes
    del code[0:3]  # (pycrdt's indexes are bytes too: the ASCII prefix)
    replay = Replay()
    steps = [replay.apply(n, entry(u)) for n, u in enumerate(updates, 1)]
    assert [(s.inserted, s.deleted, s.length) for s in steps] == [(3, 0, 3), (4, 0, 7), (0, 3, 4)]
    assert str(replay.code) == "жжж😀"


def test_deleting_everything_is_no_bulk_replace() -> None:
    doc: Doc[Any] = Doc()
    doc["code"] = code = Text()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for _ in range(12):
        code.insert(len(code), "x = 1 + 2\n")  # typed line by line (10 characters)
    del code[0 : len(code)]
    replay = Replay()
    assert detect([replay.apply(n, entry(u)) for n, u in enumerate(updates, 1)], RULES) == []


def test_an_edit_turns_one_text_into_the_other() -> None:
    rng = random.Random(5)
    alphabet = "ab\n😀ж "
    for _ in range(500):
        before = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        after = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        start, deleted, inserted = edit_between(before, after)
        assert before[:start] + inserted + before[start + deleted :] == after
        assert deleted >= 0 and start + deleted <= len(before)
    assert edit_between("hello world", "hello brave world") == (6, 0, "brave ")
    assert edit_between("same", "same") == (4, 0, "")


def test_a_diff_past_its_line_limit_replaces_the_text_and_still_applies(tmp_path: Path) -> None:
    before = "".join(f"line {n}\n" for n in range(50))
    after = before.replace("line 7\n", "line seven\n") + "no newline at the end"
    small = diff_text(before, after, "a", "b", max_lines=1000)
    assert "-line 7\n+line seven\n" in small and small.count("\n-") == 1
    whole = diff_text(before, after, "a", "b", max_lines=10)
    assert whole.startswith("--- a\n+++ b\n@@ -1,50 +1,51 @@\n")
    assert diff_text(before, before, "a", "b", max_lines=10) == ""
    for diff in (small, whole):
        target = tmp_path / "code.txt"
        target.write_text(before)
        done = subprocess.run(
            ["patch", "--quiet", str(target)], input=diff.encode(), capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
        assert target.read_text() == after
