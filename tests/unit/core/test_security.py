"""Unit tests of tq.core.security: link tokens, the Authorization header's token, and the cache
of verified tokens."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from config import load_settings
from tq.core.errors import Unauthorized
from tq.core.security import TokenService, bearer_token, link_token, token_hash


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


# --- verified tokens kept until they expire


def _tokens(cache_size: int = 10) -> TokenService:
    return TokenService(
        load_settings(_env_file=None, jwt_secret="k" * 40, verified_token_cache_size=cache_size)
    )


def test_a_verified_token_is_kept_and_answered_until_it_expires() -> None:
    tokens = _tokens()
    token, issued = tokens.issue("5f0000000000000000000001", "candidate")
    assert tokens.verify(token) == issued
    assert tokens.verified == {token: issued}
    assert tokens.verify(token) == issued
    # A token that expires in a second: kept while valid, refused once expired.
    soon = int(time.time()) + 1
    payload = {
        "sub": "5f0000000000000000000002",
        "role": "candidate",
        "iat": soon - 60,
        "exp": soon,
        "jti": "j",
        "iss": tokens.issuer,
        "aud": tokens.audience,
    }
    short = jwt.encode(payload, tokens.secret, algorithm="HS256")
    assert tokens.verify(short).expires_at == soon
    assert short in tokens.verified
    time.sleep(max(0.0, soon - time.time()) + 0.05)
    with pytest.raises(Unauthorized):
        tokens.verify(short)


def test_a_token_changed_by_one_byte_is_checked_not_served_from_the_cache() -> None:
    tokens = _tokens()
    token, _ = tokens.issue("5f0000000000000000000001", "candidate")
    tokens.verify(token)
    header, _payload, signature = token.split(".")
    forged = jwt.decode(token, options={"verify_signature": False}) | {"role": "interviewer"}
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    for changed in (
        f"{header}.{body}.{signature}",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
    ):
        with pytest.raises(Unauthorized):
            tokens.verify(changed)
    assert list(tokens.verified) == [token]


def test_the_cache_is_bounded_first_in_first_out_and_can_be_turned_off() -> None:
    tokens = _tokens(cache_size=2)
    issued = [tokens.issue(f"5f000000000000000000000{i}", "candidate")[0] for i in range(3)]
    for token in issued:
        tokens.verify(token)
    assert list(tokens.verified) == issued[1:]
    off = _tokens(cache_size=0)
    off.verify(issued[0])
    assert off.verified == {}
