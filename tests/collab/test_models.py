"""The shared editor's documents (no database: what is written, not how)."""

from __future__ import annotations

from bson import ObjectId

from tq.collab.models import CodeUpdate


def test_the_group_commit_document_is_the_models_own() -> None:
    session_id, author_id = ObjectId(), ObjectId()
    raw = CodeUpdate.document(session_id, author_id, b"\x01\x02")
    parsed = CodeUpdate.model_validate_doc(raw)
    assert (parsed.id, parsed.session_id, parsed.author_id, parsed.change) == (
        raw["_id"],
        session_id,
        author_id,
        b"\x01\x02",
    )
    assert parsed.model_dump_doc().keys() == raw.keys()
    assert CodeUpdate.document(session_id, None, b"")["authorId"] is None
