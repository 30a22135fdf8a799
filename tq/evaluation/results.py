"""What the evaluation service answers with about the code (the schemas map these to JSON):
runs placed on the code's timeline, the code's history for the record, a page of timeline."""

from __future__ import annotations

from dataclasses import dataclass

from tq.collab.history import Checkpoint, CodeState, Edit, Signal
from tq.collab.models import ClientSignal
from tq.runner.models import CodeRun


@dataclass(frozen=True)
class RunCode:
    run: CodeRun
    position: int | None  # of the document state it ran; None: its code came with it
    diff: str  # from the previous run's code


@dataclass(frozen=True)
class CodeHistory:
    final: CodeState
    updates: int
    checkpoints: list[Checkpoint]  # RECORD_MAX_CODE_FRAMES at most
    edits: dict[int, Edit]  # to the code after each checkpoint from the one before, by position
    truncated: bool
    runs: list[RunCode]
    signals_visible: bool
    signals: list[Signal]
    claims: list[ClientSignal]


@dataclass(frozen=True)
class TimelineSlice:
    checkpoints: list[Checkpoint]
    runs: list[RunCode]
    signals_visible: bool
    signals: list[Signal]
    claims: list[ClientSignal]
    next_cursor: int | None
