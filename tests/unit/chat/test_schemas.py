"""Unit tests of tq.chat.schemas: a message's JSON straight from its document (history pages,
the record) is the JSON the validated path gave before issue 24, byte for byte."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import bson.tz_util
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from sanic.helpers import json_dumps

from tq.chat.models import ChatMessage
from tq.chat.schemas import SHOWN_MESSAGE_FIELDS, HistoryOut, MessageOut
from tq.core.schemas import dump


def _validated(message: ChatMessage) -> MessageOut:
    """MessageOut as it was built before it was read from documents: through the ODMantic
    model and a validating constructor. The reference the fast path must equal."""
    return MessageOut(
        _id=str(message.id),
        sessionId=str(message.session_id),
        streamMessageId=message.stream_message_id,
        userId=str(message.user_id) if message.user_id else None,
        streamUserId=message.stream_user_id,
        text="" if message.deleted_at else message.text,
        type=message.type,
        source=message.source,
        deleted=message.deleted_at is not None,
        createdAt=message.created_at,
        updatedAt=message.updated_at,
        deletedAt=message.deleted_at,
    )


# As MongoDB hands them out: milliseconds, and its own UTC tzinfo.
_moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 31),
    timezones=st.just(bson.tz_util.utc),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
_text = st.text(max_size=20)  # any unicode: emoji, U+2028, NUL, right-to-left marks


@st.composite
def _documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": ObjectId(),
        "sessionId": ObjectId(),
        "key": draw(_text),
        # Default factories: always stored.
        "createdAt": draw(_moments),
        "updatedAt": draw(_moments),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "streamMessageId": st.none() | _text,
        "userId": st.none() | st.builds(ObjectId),
        "streamUserId": st.none() | _text,
        "text": _text,
        "type": st.sampled_from(["regular", "system", "deleted"]),
        "source": st.sampled_from(["api", "webhook", "import"]),
        "deletedAt": st.none() | _moments,
        "streamUpdatedAt": st.none() | _moments,
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            doc[key] = draw(values)
    return doc


@given(docs=st.lists(_documents(), max_size=4), cursor=st.none() | _text)
@settings(max_examples=300, deadline=None)
def test_a_history_page_from_documents_is_the_validated_json(
    docs: list[dict[str, Any]], cursor: str | None
) -> None:
    straight = HistoryOut.model_construct(
        messages=[MessageOut.of_doc(doc) for doc in docs], nextCursor=cursor
    )
    validated = HistoryOut(
        messages=[_validated(ChatMessage.model_validate_doc(doc)) for doc in docs],
        nextCursor=cursor,
    )
    assert json_dumps(dump(straight)) == json_dumps(dump(validated))


def test_a_deleted_message_shows_no_text_and_the_reference_can_tell() -> None:
    doc = {
        "_id": ObjectId(),
        "sessionId": ObjectId(),
        "key": "k",
        "text": "secret",
        "createdAt": datetime(2026, 3, 1, tzinfo=bson.tz_util.utc),
        "updatedAt": datetime(2026, 3, 1, tzinfo=bson.tz_util.utc),
    }
    deleted = {**doc, "deletedAt": doc["createdAt"]}
    shown = dump(MessageOut.of_doc(deleted))
    assert shown["text"] == "" and shown["deleted"] is True
    # The comparison above is not vacuous: different documents give different JSON.
    assert json_dumps(dump(MessageOut.of_doc(doc))) != json_dumps(shown)


def test_history_reads_every_field_the_json_needs() -> None:
    names = {field.key_name for field in ChatMessage.__odm_fields__.values()}
    assert set(SHOWN_MESSAGE_FIELDS) <= names
    moment = datetime(2026, 3, 1, tzinfo=bson.tz_util.utc)
    doc = ChatMessage(
        session_id=ObjectId(),
        key="k",
        stream_message_id="m",
        user_id=ObjectId(),
        stream_user_id="u",
        text="hello",
        type="system",
        source="webhook",
        created_at=moment,
        updated_at=moment,
        deleted_at=moment,
    ).model_dump_doc()
    live = {**doc, "deletedAt": None}
    # Each one changes the answer of a live or a deleted message: dropped from the document,
    # the JSON changes or fails.
    for field in SHOWN_MESSAGE_FIELDS:
        changed = False
        for whole in (doc, live):
            partial = {key: value for key, value in whole.items() if key != field}
            try:
                answer = json_dumps(dump(MessageOut.of_doc(partial)))
            except KeyError:
                changed = True
                continue
            changed = changed or answer != json_dumps(dump(MessageOut.of_doc(whole)))
        assert changed, field
