"""Unit tests of tq.core.openapi (pure functions, no services)."""

from __future__ import annotations

from tq.core.openapi import to_openapi30


def test_to_openapi30_rewrites_null_alternatives_and_const() -> None:
    assert to_openapi30({"anyOf": [{"type": "string"}, {"type": "null"}]}) == {
        "type": "string",
        "nullable": True,
    }
    # 3.0.3 reads `nullable` only beside a `type`: "the object, or null" as strict validators
    # read it.
    assert to_openapi30({"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}) == {
        "anyOf": [{"$ref": "#/x"}, {"type": "object", "nullable": True, "enum": [None]}],
    }
    assert to_openapi30({"anyOf": [{"enum": ["a"]}, {"type": "null"}]})["enum"] == ["a", None]
    assert to_openapi30({"const": "x"}) == {"enum": ["x"]}
    nested = to_openapi30({"properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}})
    assert nested["properties"]["a"] == {"type": "integer", "nullable": True}
