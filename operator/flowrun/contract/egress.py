"""Where notifications may go (issue 26): a sink's URL is written by a tenant, so the
operator must not become their way into places only it can reach. Pure: the operator's
shell (controller/notify.py) resolves the host, asks `refusal` about each address, and
connects to the address it vetted (never resolving again, so DNS cannot change the
answer between the check and the connect).

Refused always (`BUILTIN_DENY`): loopback, link-local (169.254.0.0/16: cloud metadata
services; fe80::/10), unspecified, multicast and broadcast addresses, and the Kubernetes
API server's own addresses (`api_addresses`: the `kubernetes` Service's ClusterIP, any
port; its endpoints at their port). A chart setting denies further ranges
(`notifications.egress.deny`, e.g. the pod and service ranges) or allows only listed ones
(`notifications.egress.allow`: then nothing else; a built-in refusal still applies unless
the allowed range names that very address range, for a receiver deliberately on the node).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

BUILTIN_DENY: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32",
    "::/128", "::1/128", "fe80::/10", "ff00::/8",
))


def parse_networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) from a comma-separated text or a list; ValueError names
    the one that does not parse."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an address range: {item!r}") from None
    return tuple(out)


@dataclass(frozen=True)
class EgressPolicy:
    deny: tuple[Network, ...] = ()
    allow: tuple[Network, ...] = ()  # empty: anything not refused
    # The API server: (address, port) of its endpoints, port None for "any" (the ClusterIP).
    api_addresses: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)


def _address(ip: str) -> Address | None:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return addr


def refusal(policy: EgressPolicy, ip: str, port: int) -> str | None:
    """Why a sink may not be reached at (ip, port), for the operator's log (None: it may).
    Never shown to the notifier's owner (their record says only "delivery failed")."""
    addr = _address(ip)
    if addr is None:
        return "not an IP address"
    explicitly_allowed = any(addr in net and net.prefixlen > 0 for net in policy.allow)
    if policy.allow and not explicitly_allowed:
        return "outside notifications.egress.allow"
    for net in BUILTIN_DENY:
        if addr in net and not any(addr in a and a.prefixlen >= net.prefixlen for a in policy.allow):
            return f"in {net} (loopback, link-local, unspecified or multicast)"
    for api_ip, api_port in policy.api_addresses:
        if _address(api_ip) == addr and (api_port is None or api_port == port):
            return "an address of the Kubernetes API server"
    for net in policy.deny:
        if addr in net:
            return f"in {net} (notifications.egress.deny)"
    return None
