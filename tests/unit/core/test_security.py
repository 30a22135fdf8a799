"""Unit tests of tq.core.security: link tokens and the Authorization header's token."""

from __future__ import annotations

import base64

import pytest

from tq.core.errors import Unauthorized
from tq.core.security import bearer_token, link_token, token_hash


def test_link_tokens_are_derived_and_unguessable_without_the_secret() -> None:
    one = link_token("secret-a", "invitation", "s:i", "nonce-1")
    assert one == link_token("secret-a", "invitation", "s:i", "nonce-1")
    assert len(one) == 43
    others = {
        link_token("secret-b", "invitation", "s:i", "nonce-1"),
        link_token("secret-a", "invitation", "s:i", "nonce-2"),
        link_token("secret-a", "other", "s:i", "nonce-1"),
        link_token("secret-a", "invitation", "s:j", "nonce-1"),
    }
    assert one not in others and len(others) == 4
    assert token_hash(one) != one and len(token_hash(one)) == 64


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.mark.parametrize(
    ("header", "basic", "token"),
    [
        ("Bearer abc.def", False, "abc.def"),
        ("bearer  abc ", False, "abc"),
        ("BEARER abc", True, "abc"),
        (_basic("token:s3cret"), True, "s3cret"),
        (_basic("anyone:a:b"), True, "a:b"),  # the password is everything after the first ':'
    ],
)
def test_bearer_token_reads_the_token(header: str, basic: bool, token: str) -> None:
    assert bearer_token(header, basic=basic) == token


@pytest.mark.parametrize(
    ("header", "basic", "message"),
    [
        (None, False, "Authentication required"),
        ("", True, "Authentication required"),
        ("Token abc", False, "Bearer <token>"),
        ("Bearer ", False, "Bearer <token>"),
        ("Bearer", False, "Bearer <token>"),
        (_basic("token:s3cret"), False, "Bearer <token>"),  # Basic only where asked for
        (_basic("token:"), True, "Bearer <token>"),  # no password
        ("Basic !!not-base64!!", True, "Malformed Basic"),
        ("Basic " + base64.b64encode(b"t:\xff").decode(), True, "Malformed Basic"),
    ],
)
def test_bearer_token_refuses(header: str | None, basic: bool, message: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        bearer_token(header, basic=basic)
    assert message in caught.value.message
    assert caught.value.status_code == 401
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
