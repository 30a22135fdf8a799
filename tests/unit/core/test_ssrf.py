"""Unit tests of tq.core.ssrf: URL shape, public and allowed addresses, pinned requests."""

from __future__ import annotations

import ipaddress

import pytest

from tq.core.ssrf import UnsafeUrl, _allowed, _embedded_ipv4, _public, check_url_shape


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


@pytest.mark.parametrize(
    ("url", "allow_private", "expected"),
    [
        ("https://hooks.example.com/x", False, ("hooks.example.com", 443)),
        ("https://Hooks.Example.COM:8443/x", False, ("hooks.example.com", 8443)),
        ("http://localhost:8000/hook", True, ("localhost", 8000)),
        ("http://hooks.example.com/x", True, ("hooks.example.com", 80)),
        # Addresses are judged after DNS (resolve_public): the shape check lets literals by.
        ("https://169.254.169.254/latest", False, ("169.254.169.254", 443)),
        ("https://[2606:4700::1111]/", False, ("2606:4700::1111", 443)),
    ],
)
def test_check_url_shape_gives_host_and_default_port(
    url: str, allow_private: bool, expected: tuple[str, int]
) -> None:
    assert check_url_shape(url, allow_private=allow_private) == expected


@pytest.mark.parametrize(
    ("url", "allow_private", "message"),
    [
        ("http://hooks.example.com/x", False, "must use https"),
        ("ftp://hooks.example.com/x", True, "must use https or http"),
        ("https:///path", False, "no host"),
        ("https://user:pw@hooks.example.com/", False, "credentials"),
        ("https://user@hooks.example.com/", False, "credentials"),
        ("https://metadata.google.internal/computeMetadata", False, "metadata"),
        ("http://METADATA./", True, "metadata"),
        ("https://instance-data/", False, "metadata"),
        ("https://[x/", False, "not valid"),
        ("https://hooks.example.com:99999/", False, "not valid"),
    ],
)
def test_check_url_shape_refuses(url: str, allow_private: bool, message: str) -> None:
    with pytest.raises(UnsafeUrl, match=message) as caught:
        check_url_shape(url, allow_private=allow_private)
    assert caught.value.code == "unsafe_url" and caught.value.status_code == 400


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("::ffff:10.0.0.1", "10.0.0.1"),  # mapped
        ("::8.8.8.8", "8.8.8.8"),  # IPv4-compatible
        ("64:ff9b::a00:1", "10.0.0.1"),  # NAT64
        ("2002:c000:201::1", "192.0.2.1"),  # 6to4
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),  # Teredo: the client
        ("::1", None),
        ("::", None),
        ("2606:4700::1111", None),
    ],
)
def test_embedded_ipv4(address: str, embedded: str | None) -> None:
    found = _embedded_ipv4(ipaddress.IPv6Address(address))
    assert (str(found) if found else None) == embedded


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),
        ("10.0.0.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("fec0::1", False),  # site-local
        ("ff0e::1", False),  # multicast
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::808:808", False),  # local-use NAT64
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("::ffff:0:808:808", False),  # translated
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert _public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("address", "strict", "relaxed"),
    [
        ("8.8.8.8", True, True),
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("::127.0.0.1", False, True),
        ("10.0.0.1", False, False),
        ("192.168.1.1", False, False),
        ("169.254.169.254", False, False),
        ("fe80::1", False, False),
        ("::ffff:10.0.0.1", False, False),
    ],
)
def test_allowed_takes_loopback_only_when_private_is_allowed(
    address: str, strict: bool, relaxed: bool
) -> None:
    ip = ipaddress.ip_address(address)
    assert _allowed(ip, allow_private=False) is strict
    assert _allowed(ip, allow_private=True) is relaxed
