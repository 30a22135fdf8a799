"""Unit tests of tq.collab.service's pure helpers: each person's cursor colour."""

from __future__ import annotations

import re

from bson import ObjectId

from tq.collab.service import user_color


def test_a_person_keeps_one_colour_and_people_differ() -> None:
    ada, bob = ObjectId("65f0a0a0a0a0a0a0a0a0a0a1"), ObjectId("65f0a0a0a0a0a0a0a0a0a0a2")
    assert user_color(ada) == user_color(ObjectId(str(ada)))
    assert re.fullmatch(r"hsl\((\d{1,3}), 70%, 45%\)", user_color(ada))
    hues = {user_color(ObjectId()) for _ in range(50)}
    assert len(hues) > 25  # spread over the circle, not one colour for all
    assert all(0 <= int(h[4:].split(",")[0]) < 360 for h in hues)
    assert user_color(ada) != user_color(bob) or ada == bob
