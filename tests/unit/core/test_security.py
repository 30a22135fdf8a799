"""Unit tests of tq.core.security (pure functions, no services)."""

from __future__ import annotations

from tq.core.security import link_token, token_hash


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
