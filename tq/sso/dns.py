"""DNS TXT lookups for domain verification, on dnspython: the system's resolver, or
SSO_DNS_SERVER (host:port) when set (tests and split-horizon setups)."""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.resolver

from config import Settings
from tq.core.errors import AppError


class DnsUnavailable(AppError):
    status_code, code, message = 502, "dns_unavailable", "DNS did not answer"


def _resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    if not settings.sso_dns_server:
        resolver = dns.asyncresolver.Resolver()
    else:
        host, _, port = settings.sso_dns_server.rpartition(":")
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = int(port)
    resolver.lifetime = settings.sso_http_timeout_s
    return resolver


async def txt_records(settings: Settings, name: str) -> list[str]:
    """The TXT strings at `name` (none when it does not exist)."""
    try:
        answer = await _resolver(settings).resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException:
        raise DnsUnavailable(f"DNS did not answer for {name}; try again") from None
    return [b"".join(record.strings).decode(errors="replace") for record in answer]
