"""Who is asking: the socket peer, or what trusted proxies say in X-Forwarded-For."""

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from starlette.types import Scope

IPAddress = IPv4Address | IPv6Address
TrustedNetworks = tuple[IPv4Network | IPv6Network, ...]

FORWARDED_FOR = b"x-forwarded-for"
# One IPv6 host usually owns a whole /64: counting per address would let it rotate freely.
IPV6_CLIENT_PREFIX = 64


def parse_trusted_networks(entries: Iterable[str]) -> TrustedNetworks:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _without_port(text: str) -> str | None:
    if text.startswith("["):
        host, closed, port = text[1:].partition("]")
        if not closed or (port and not (port[:1] == ":" and port[1:].isdigit())):
            return None
        return host
    if text.count(":") == 1:  # IPv4 with a port: a bare IPv6 address has at least two
        host, _, port = text.partition(":")
        return host if port.isdigit() else None
    return text


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`."""
    host = _without_port(text.strip())
    if host is None:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress, trusted: TrustedNetworks) -> bool:
    return any(address in network for network in trusted)


def _forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    # Several X-Forwarded-For headers are one list, in the order they arrived.
    hops: list[str] = []
    for name, value in headers:
        if name == FORWARDED_FOR:
            hops.extend(value.decode("latin-1").split(","))
    return hops


def client_ip(scope: Scope, trusted: TrustedNetworks) -> str | None:
    """The socket peer, unless it is a trusted proxy: then X-Forwarded-For is walked from
    the right, past further trusted proxies, to the first address none of them is. A
    malformed hop ends the walk at the last proxy we trusted: whatever sits to its left
    was written by someone we cannot vouch for."""
    client = scope.get("client")
    if not client:
        return None
    peer: str = client[0]
    if not trusted:
        return peer
    address = parse_address(peer)
    if address is None or not is_trusted(address, trusted):
        return peer
    for hop_text in reversed(_forwarded_for(scope["headers"])):
        hop = parse_address(hop_text)
        if hop is None:
            break
        address = hop
        if not is_trusted(hop, trusted):
            break
    return str(address)


def ip_bucket(ip: str) -> str:
    """The rate-limit identity of an IP: itself for IPv4, its /64 network for IPv6."""
    if ":" not in ip:
        return ip
    address = parse_address(ip)
    if not isinstance(address, IPv6Address):
        return str(address) if address is not None else ip
    return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
