from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from odmantic import Field, Index, Model

from tq.core.time import utcnow


class CodeUpdate(Model):
    """One accepted Yjs update of a session's shared document, as its author sent it: the log
    the document is rebuilt from (in `_id` order), and the history the code timeline reads."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    session_id: ObjectId = Field(key_name="sessionId")
    # None: the server's own (the language). A deleted account's id stays, naming nobody.
    author_id: ObjectId | None = Field(key_name="authorId")
    change: bytes = Field(key_name="update")  # (`update` is a method of every Model)
    at: datetime = Field(default_factory=utcnow)

    @staticmethod
    def document(session_id: ObjectId, author_id: ObjectId | None, update: bytes) -> dict[str, Any]:
        """The stored form of a new update, as `model_dump_doc()` writes it, without building
        a model: group commit writes thousands a second (a test keeps the two the same)."""
        return {
            "_id": ObjectId(),
            "sessionId": session_id,
            "authorId": author_id,
            "update": update,
            "at": utcnow(),
        }

    model_config = {
        "collection": "code_updates",
        "indexes": lambda: [
            # a session's log in order (loading a room, the timeline)
            Index(CodeUpdate.session_id, CodeUpdate.id, name="session_id"),
        ],
    }


class CodeSnapshot(Model):
    """A session's log merged into one update, up to `up_to` (the compaction job's work): a
    room loads it and then only the updates stored after it. The updates themselves are kept,
    so every past moment can still be rebuilt."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    session_id: ObjectId = Field(key_name="sessionId", unique=True)
    up_to: ObjectId = Field(key_name="upTo")  # the last update merged in
    state: bytes  # every update up to `up_to`, merged (pycrdt.merge_updates)
    updates: int  # how many updates it holds
    log_bytes: int = Field(key_name="logBytes")  # their size as stored: the document's bound
    at: datetime = Field(default_factory=utcnow)

    model_config = {"collection": "code_snapshots"}


ClientSignalKind = Literal["paste", "focus_lost", "focus_back"]


class ClientSignal(Model):
    """What the candidate's own editor reported (a paste, leaving and coming back to the page):
    a claim of the client, shown as such, never checked and never a verdict."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    session_id: ObjectId = Field(key_name="sessionId")
    author_id: ObjectId | None = Field(key_name="authorId")
    kind: ClientSignalKind
    length: int | None = None  # a paste's length in characters, as the client says
    at: datetime = Field(default_factory=utcnow)  # when the server received it

    model_config = {
        "collection": "code_client_signals",
        "indexes": lambda: [
            Index(ClientSignal.session_id, ClientSignal.id, name="session_id"),
        ],
    }


class CodeHistoryBlock(Model):
    """`block_updates` consecutive updates of a session's log, in order, with what each did to
    the code (the history index, written by the compaction job once they are older than the
    late-insert margin, so their positions are final). Reading a past moment or the timeline
    reads a few of these instead of thousands of updates. Written once, never changed; the
    log stays the source of truth and the index can be dropped and rebuilt."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    session_id: ObjectId = Field(key_name="sessionId")
    index: int  # 0, 1, …: it holds positions index * size + 1 … (index + 1) * size
    size: int  # updates held (every block of a session has the same)
    first_at: datetime = Field(key_name="firstAt")
    up_to: ObjectId = Field(key_name="upTo")  # its last update
    # The document before the block, every BASE_EVERY blocks (else None: the blocks before it
    # rebuild it).
    base: bytes | None = None
    updates: list[bytes]
    steps: bytes  # packed: per update its id, time, inserted, deleted, length, author, preview
    previews: str  # the steps' previews, one after another
    authors: list[ObjectId | None]  # the steps name authors by their index in this list

    model_config = {
        "collection": "code_history_blocks",
        "indexes": lambda: [
            Index(
                CodeHistoryBlock.session_id,
                CodeHistoryBlock.index,
                unique=True,
                name="session_index",
            ),
        ],
    }
