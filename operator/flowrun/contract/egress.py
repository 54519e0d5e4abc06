"""Where notifications may go (issue 26): a sink's URL is written by a tenant, so the
operator must not become their way into places only it can reach. Pure: the operator's
shell (controller/notify.py) resolves the host, asks `refusal` about each address, and
connects to the address it vetted (never resolving again, so DNS cannot change the
answer between the check and the connect).

Refused always (`BUILTIN_DENY`): loopback, link-local (169.254.0.0/16: cloud metadata
services; fe80::/10), unspecified, multicast and broadcast addresses; the cloud metadata
services that live elsewhere (`CLOUD_METADATA`: AWS's IPv6 fd00:ec2::254, Alibaba's
100.100.100.200, Oracle's 192.0.0.192, Azure's WireServer 168.63.129.16); and the
Kubernetes API server's own addresses (`api_addresses`: the `kubernetes` Service's
ClusterIP, any port; its endpoints at their port). An IPv6 address that carries an IPv4
one (IPv4-mapped ::ffff:0:0/96, IPv4-translated ::ffff:0:0:0/96, IPv4-compatible ::/96,
NAT64 64:ff9b::/96, 6to4 2002::/16) is judged as that IPv4 address too: a gateway or the
kernel delivers it there (64:ff9b::a9fe:a9fe is 169.254.169.254). A chart setting denies
further ranges (`notifications.egress.deny`, e.g. the pod and service ranges) or allows
only listed ones (`notifications.egress.allow`: then nothing else; a built-in refusal
still applies unless the allowed range names that very address range, for a receiver
deliberately on the node).
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
#: Cloud metadata services outside link-local (they hand out the node's credentials).
CLOUD_METADATA: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "fd00:ec2::254/128",  # AWS instance metadata, IPv6
    "100.100.100.200/32",  # Alibaba Cloud
    "192.0.0.192/32",  # Oracle Cloud
    "168.63.129.16/32",  # Azure WireServer
))
_BUILTIN: tuple[tuple[Network, str], ...] = (
    *((n, "loopback, link-local, unspecified or multicast") for n in BUILTIN_DENY),
    *((n, "a cloud metadata service") for n in CLOUD_METADATA),
)
# IPv6 ranges whose last 32 bits are an IPv4 address the packet goes to (6to4: bits 16-48).
_CARRIES_IPV4_LAST_32: tuple[ipaddress.IPv6Network, ...] = tuple(ipaddress.IPv6Network(n) for n in (
    "::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96",
))
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


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
        return ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None


def carried_ipv4(addr: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, compatible, NAT64,
    6to4), or None. `::` and `::1` carry none (they are themselves)."""
    if not isinstance(addr, ipaddress.IPv6Address) or addr in (ipaddress.IPv6Address("::"),
                                                               ipaddress.IPv6Address("::1")):
        return None
    if addr in _SIX_TO_FOUR:
        return addr.sixtofour
    if any(addr in net for net in _CARRIES_IPV4_LAST_32):
        return ipaddress.IPv4Address(addr.packed[-4:])
    return None


def refusal(policy: EgressPolicy, ip: str, port: int) -> str | None:
    """Why a sink may not be reached at (ip, port), for the operator's log (None: it may).
    Never shown to the notifier's owner (their record says only "delivery failed")."""
    addr = _address(ip)
    if addr is None:
        return "not an IP address"
    inner = carried_ipv4(addr)
    if inner is None:
        return _refusal(policy, addr, port)
    # Judged as the IPv4 address it carries; the IPv6 form meets the deny list too.
    why = _refusal(policy, inner, port)
    if why:
        return f"carries {inner}: {why}"
    return _refusal(EgressPolicy(deny=policy.deny, api_addresses=policy.api_addresses), addr, port)


def _refusal(policy: EgressPolicy, addr: Address, port: int) -> str | None:
    explicitly_allowed = any(addr in net and net.prefixlen > 0 for net in policy.allow)
    if policy.allow and not explicitly_allowed:
        return "outside notifications.egress.allow"
    for net, what in _BUILTIN:
        if addr in net and not any(addr in a and a.prefixlen >= net.prefixlen for a in policy.allow):
            return f"in {net} ({what})"
    for api_ip, api_port in policy.api_addresses:
        api = _address(api_ip)
        if api is not None and addr in (api, carried_ipv4(api)) and (api_port is None or api_port == port):
            return "an address of the Kubernetes API server"
    for net in policy.deny:
        if addr in net:
            return f"in {net} (notifications.egress.deny)"
    return None
