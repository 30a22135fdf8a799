"""Integrity signals on replayed logs made here (no database): each kind found with its
evidence, and none on code that was typed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pycrdt import Doc, Text

from tq.collab.history import Replay, SignalRules, Step, detect

RULES = SignalRules(
    large_insert_chars=80,
    bulk_replace_share=0.6,
    bulk_replace_min_chars=100,
    idle_s=120,
    burst_chars=40,
)
PROGRAM = (
    "def two_sum(numbers, target):\n"
    "    seen = {}\n"
    "    for index, value in enumerate(numbers):\n"
    "        if target - value in seen:\n"
    "            return seen[target - value], index\n"
    "        seen[value] = index\n"
    "    return None\n"
)


class Author:
    """One editor whose every change is one stored update, at times it chooses."""

    def __init__(self, log: list[dict[str, Any]], start: datetime) -> None:
        self.id = ObjectId()
        self.doc: Doc[Any] = Doc()
        self.doc["code"] = self.code = Text()
        self.log, self.now = log, start

    def change(self, seconds: float, edit: Any) -> None:
        self.now += timedelta(seconds=seconds)
        before = self.doc.get_state()
        edit(self.code)
        self.log.append(
            {
                "_id": ObjectId(),
                "at": self.now,
                "authorId": self.id,
                "update": self.doc.get_update(before),
            }
        )

    def type(self, text: str, rng: random.Random) -> None:
        """Keystrokes (and now and then a short autocompletion), human pauses between."""
        index = 0
        while index < len(text):
            size = 1 if rng.random() < 0.9 else rng.randint(2, 12)
            piece = text[index : index + size]
            pause = rng.uniform(0.05, 0.4) if rng.random() < 0.97 else rng.uniform(5, 90)
            self.change(pause, lambda code, p=piece: code.insert(len(code), p))
            index += size


def replay(log: list[dict[str, Any]]) -> list[Step]:
    player = Replay()
    return [player.apply(position, entry) for position, entry in enumerate(log, 1)]


START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_typed_code_raises_no_signal_and_pasted_code_does() -> None:
    false_positives = 0
    found_pastes = 0
    for seed in range(100):
        rng = random.Random(seed)
        log: list[dict[str, Any]] = []
        cara = Author(log, START)
        cara.type(PROGRAM, rng)
        false_positives += len(detect(replay(log), RULES))
        # The same, with a pasted block in the middle.
        pasted: list[dict[str, Any]] = []
        paster = Author(pasted, START)
        paster.type(PROGRAM[:60], rng)
        paster.change(1.0, lambda code: code.insert(len(code), PROGRAM[60:]))
        signals = detect(replay(pasted), RULES)
        found_pastes += any(s.kind == "large_insert" for s in signals)
        if signals:
            evidence = signals[0]
            assert evidence.step.author_id == paster.id
            assert evidence.step.inserted == len(PROGRAM) - 60
            assert evidence.step.preview == PROGRAM[60:140]
            assert evidence.step.position == len(pasted)
    assert false_positives == 0
    assert found_pastes == 100


def test_a_bulk_replace_and_an_idle_burst_are_named_as_such() -> None:
    rng = random.Random(1)
    log: list[dict[str, Any]] = []
    cara = Author(log, START)
    cara.type(PROGRAM[:120], rng)
    # Everything selected and replaced by something else, at once.
    cara.change(
        2.0, lambda code: (code.__delitem__(slice(0, len(code))), code.insert(0, "x" * 130))
    )
    # Five quiet minutes, then 50 characters in one go.
    cara.change(300.0, lambda code: code.insert(len(code), "y" * 50))
    kinds = [(s.kind, s.step.position) for s in detect(replay(log), RULES)]
    assert kinds == [("bulk_replace", len(log) - 1), ("idle_then_burst", len(log))]
    idle = detect(replay(log), RULES)[-1]
    assert idle.idle_s == 300.0 and idle.previous_length == 130


def test_an_embed_in_the_code_counts_as_one_character_and_breaks_nothing() -> None:
    """Yjs lets any client put an embed (an object) in a Y.Text: a hostile one must not break
    the history routes."""
    log: list[dict[str, Any]] = []
    cara = Author(log, START)
    cara.change(1.0, lambda code: code.insert(0, "abc"))
    cara.change(1.0, lambda code: code.insert_embed(1, {"image": "x" * 500}))
    steps = replay(log)
    assert (steps[-1].inserted, steps[-1].preview) == (1, "")
    assert detect(steps, RULES) == []
