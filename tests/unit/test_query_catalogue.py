"""Every catalogued query shape has an index that serves it by the equality-sort-range rule."""

from __future__ import annotations

import pytest

from tq.query_catalogue import ASC, CATALOGUE, DESC, QueryShape, serves, serving_index
from tq.sessions.models import Session


@pytest.mark.parametrize("shape", CATALOGUE, ids=lambda s: f"{s.collection}: {s.name}")
def test_each_query_shape_has_its_index(shape: QueryShape) -> None:
    assert serving_index(shape) is not None, f"no index serves {shape}"


def test_the_rule_refuses_what_an_index_cannot_serve() -> None:
    key = [("members", ASC), ("createdAt", DESC), ("_id", DESC)]
    mine = QueryShape(Session, "mine", "-", equality=("members",), sort=(("createdAt", DESC),))
    assert serves(mine, key)
    # The whole sort reversed is served; half of it reversed is not.
    assert serves(
        QueryShape(
            Session, "", "-", equality=("members",), sort=(("createdAt", ASC), ("_id", ASC))
        ),
        key,
    )
    assert not serves(
        QueryShape(
            Session, "", "-", equality=("members",), sort=(("createdAt", DESC), ("_id", ASC))
        ),
        key,
    )
    # An equality field missing from the prefix, a sort out of order, a range before the sort.
    assert not serves(QueryShape(Session, "", "-", equality=("status",)), key)
    assert not serves(
        QueryShape(Session, "", "-", equality=("members",), sort=(("_id", DESC),)), key
    )
    ranged = QueryShape(Session, "", "-", equality=("status",), range=("startTime",))
    assert serves(ranged, [("status", ASC), ("startTime", ASC)])
    assert not serves(ranged, [("startTime", ASC), ("status", ASC)])
    assert not serves(
        QueryShape(Session, "", "-", equality=("members",), sort=NEWEST_WITHOUT_TIEBREAK),
        [("members", ASC), ("status", ASC), ("createdAt", DESC)],
    )


NEWEST_WITHOUT_TIEBREAK = (("createdAt", DESC),)
