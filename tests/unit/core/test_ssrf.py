"""Unit tests of tq.core.ssrf (pure functions, no services)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("url", "address", "expected_url", "host"),
    [
        (
            "https://hooks.example.com/x?y=1",
            "93.184.216.34",
            "https://93.184.216.34/x?y=1",
            "hooks.example.com",
        ),
        (
            "https://hooks.example.com:8443/x",
            "2606:4700::1111",
            "https://[2606:4700::1111]:8443/x",
            "hooks.example.com:8443",
        ),
    ],
)
def test_a_webhook_connects_to_the_address_it_checked(
    url: str, address: str, expected_url: str, host: str
) -> None:
    """DNS rebinding: the name is resolved and checked once, and the request goes to that
    address, with the name kept for the Host header and for TLS (SNI, certificate)."""
    from tq.core.ssrf import pinned_request

    pinned, headers, extensions = pinned_request(url, address)
    assert pinned == expected_url
    assert headers == {"host": host}
    assert extensions == {"sni_hostname": "hooks.example.com"}
