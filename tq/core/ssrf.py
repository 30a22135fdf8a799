"""The guard for URLs users give us (webhook endpoints): only public addresses, checked after
DNS, at registration and again before every send. `allow_private` (development and tests)
also accepts http and loopback/private addresses."""

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


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _public(address.ipv4_mapped)
    return address.is_global and address not in METADATA_ADDRESSES and not address.is_multicast


def check_url_shape(url: str, *, allow_private: bool) -> tuple[str, int]:
    """(host, port) of a URL we may call; UnsafeUrl otherwise (before any DNS)."""
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeUrl(f"The URL must use {' or '.join(allowed)}")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL may not carry credentials")
    if parts.hostname.lower() in METADATA_HOSTS and not allow_private:
        raise UnsafeUrl("The URL points at a metadata service")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("The URL's port is not valid") from None
    return parts.hostname, port


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
    if not allow_private:
        for text in addresses:
            if not _public(ipaddress.ip_address(text.split("%", 1)[0])):
                raise UnsafeUrl(f"The host {host!r} resolves to a non-public address")
    return addresses
