"""Unit tests of tq.auth.service: how login failures group client addresses."""

from __future__ import annotations

import pytest

from tq.auth.service import LoginThrottle


@pytest.mark.parametrize(
    ("client", "grouped"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # v4-mapped: the IPv4 client itself
        ("fe80::1%eth0", "fe80::/64"),
        ("unknown", "unknown"),
        ("", ""),
    ],
)
def test_client_groups_ipv6_by_64_and_keeps_other_values(client: str, grouped: str) -> None:
    assert LoginThrottle._client(client) == grouped


def test_keys_hash_the_value() -> None:
    key = LoginThrottle._key("pair", "a@example.com")
    assert key.startswith("auth:fail:pair:") and len(key) == len("auth:fail:pair:") + 32
    assert "example" not in key
