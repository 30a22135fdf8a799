"""Unit tests of tq.users.service: what Stream keeps of a user."""

from __future__ import annotations

from bson import ObjectId

from tq.users.models import UserCard
from tq.users.service import stream_user_payload


def test_our_role_travels_beside_streams_own() -> None:
    fields = {"name": "Ada", "role": "candidate", "stream_id": "ada-1", "email": "a@x"}
    card = UserCard(id=ObjectId(), avatar=None, **fields)  # type: ignore[arg-type]
    assert stream_user_payload(card) == {
        "id": "ada-1",
        "name": "Ada",
        "role": "user",
        "tq_role": "candidate",
    }
    pictured = UserCard(id=ObjectId(), avatar="https://img.example/ada.png", **fields)  # type: ignore[arg-type]
    assert stream_user_payload(pictured)["image"] == "https://img.example/ada.png"
