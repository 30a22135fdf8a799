"""The guard for URLs users give us (webhook endpoints): only public addresses, checked after
DNS, at registration and again before every send. `allow_private` (development and tests)
also accepts http and loopback addresses; link-local (metadata) and the other private ranges
are refused everywhere, also in their IPv6 forms (mapped, compatible, NAT64, 6to4, Teredo)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from tq.core.errors import BadRequest

# Cloud metadata services, named even though link-local already covers most of them.
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


class UnsafeUrl(BadRequest):
    code = "unsafe_url"


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the IPv4 is the last 32 bits
GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address reaches through a translator or a tunnel: mapped
    (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4
    (2002:aabb:ccdd::) and Teredo (its client)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    compatible = address in IPV4_COMPATIBLE and int(address) > 1  # not :: or ::1
    if compatible or address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            # Mapped, compatible and NAT64 addresses reach exactly their IPv4 host; 6to4 and
            # Teredo reach a relay too, and must be public themselves as well.
            if not _public(embedded):
                return False
            if address.ipv4_mapped is not None or address in NAT64 or address in IPV4_COMPATIBLE:
                return True
        # Anything else public is global unicast: this refuses the translated
        # (::ffff:0:a.b.c.d), site-local (fec0::/10), local-use NAT64 (64:ff9b:1::/48) and
        # other special ranges, whatever Python's `is_global` thinks of them.
        if address not in GLOBAL_UNICAST:
            return False
    return address.is_global and address not in METADATA_ADDRESSES and not address.is_multicast


def _allowed(address: Address, *, allow_private: bool) -> bool:
    """Public, or (development and tests) loopback. Never link-local (the metadata
    services live there), never another private range, in any of its IPv6 disguises."""
    if _public(address):
        return True
    if not allow_private:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return embedded.is_loopback
    return address.is_loopback


def check_url_shape(url: str, *, allow_private: bool) -> tuple[str, int]:
    """(host, port) of a URL we may call; UnsafeUrl otherwise (before any DNS)."""
    try:
        parts = urlsplit(url)
        host, port_given = parts.hostname, parts.port
    except ValueError:
        # A malformed bracketed host (`https://[x`), a port out of range, ...
        raise UnsafeUrl("The URL is not valid") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeUrl(f"The URL must use {' or '.join(allowed)}")
    if not host:
        raise UnsafeUrl("The URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL may not carry credentials")
    if host.lower().rstrip(".") in METADATA_HOSTS:
        raise UnsafeUrl("The URL points at a metadata service")
    return host, port_given or (443 if parts.scheme == "https" else 80)


def pinned_request(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL, headers, httpx extensions) that reach `address`, the address just checked, while
    the server still sees the URL's host (Host header; TLS SNI and certificate check by name):
    a name that re-resolves elsewhere after the check (DNS rebinding) is never connected to."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return pinned, {"host": host_header}, {"sni_hostname": host}


async def resolve_public(url: str, *, allow_private: bool, timeout_s: float = 5.0) -> list[str]:
    """The addresses `url`'s host resolves to, all of them public (else UnsafeUrl): a name
    that resolves to any private, loopback, link-local or metadata address is refused."""
    host, port = check_url_shape(url, allow_private=allow_private)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_s
        )
    except (TimeoutError, OSError, UnicodeError, ValueError):
        # UnicodeError: a label longer than 63 characters (IDNA refuses it).
        raise UnsafeUrl("The URL's host does not resolve") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    for text in addresses:
        if not _allowed(ipaddress.ip_address(text.split("%", 1)[0]), allow_private=allow_private):
            raise UnsafeUrl(f"The host {host!r} resolves to a non-public address")
    return addresses
