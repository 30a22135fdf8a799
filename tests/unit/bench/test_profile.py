"""Unit tests of bench.profile's attribution: a sample goes to the most specific part on its
stack, nearest the leaf."""

from __future__ import annotations

from pathlib import Path

from bench.profile import part_of, shares

SANIC = "handle_request (sanic/app.py:1)"
VIEW = "history (tq/chat/views.py:70)"
OF = "of (tq/chat/schemas.py:84)"
PYDANTIC = "__init__ (pydantic/main.py:200)"
ODM = "model_validate_doc (odmantic/model.py:900)"
RECV = "recv_into (pymongo/network_layer.py:443)"


def test_library_frames_go_to_the_specific_caller() -> None:
    assert part_of(";".join([SANIC, VIEW, OF, PYDANTIC])) == "response models (of, dump)"
    assert part_of(";".join([SANIC, VIEW, ODM, PYDANTIC])) == "documents into models (ODMantic)"
    assert part_of(";".join([SANIC, VIEW, RECV])) == "MongoDB driver (motor, pymongo, bson)"


def test_without_a_specific_part_the_nearest_general_one() -> None:
    assert part_of(";".join([SANIC, VIEW])) == "our services and queries"
    assert part_of(SANIC) == "Sanic (HTTP, routing, signals)"
    assert part_of("main (server.py:3)") == "other"


def test_shares_are_percent_of_samples(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(f"{SANIC};{VIEW};{OF};{PYDANTIC} 3\n{SANIC} 1\n")
    assert shares(raw) == (
        {"response models (of, dump)": 75.0, "Sanic (HTTP, routing, signals)": 25.0},
        4,
    )
