"""Who is asking and over what: the client address and scheme behind trusted proxies.

Only a trusted proxy's ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed. The client is the right-most
address in the chain that is not a trusted proxy: everything to its left was written by the client itself
and can be forged, everything to its right by proxies we trust.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from hookgate.errors import ConfigError

__all__ = ["Networks", "address_allowed", "client_address", "parse_networks", "request_is_https"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Networks = tuple[Network, ...]


def parse_networks(entries: Sequence[str], what: str) -> Networks:
    if isinstance(entries, (str, bytes)):
        raise ConfigError(f"{what} must be a list of CIDRs, not a single string")
    out: list[Network] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ConfigError(f"{what} entry {entry!r} is not a CIDR string")
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{what} entry {entry!r} is not a valid CIDR") from None
    return tuple(out)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[v6]:port"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "v4:port"
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _in(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Networks) -> bool:
    return any(addr in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Networks) -> str | None:
    """The client's address: the peer, or, when the peer is a trusted proxy, the right-most untrusted hop.

    A hop that is not an IP address ends the walk with None (unknown client: an allowlist refuses it); if
    every hop is a trusted proxy the left-most is the client.
    """
    if peer is None:
        return None
    if not trusted:
        # no proxy to believe: the peer is the client; it is parsed only if an allowlist needs it (this
        # runs on every request, and parsing an address costs as much as the HMAC check)
        return peer
    peer_ip = _ip(peer)
    if peer_ip is None:
        return None
    if not trusted or not _in(peer_ip, trusted) or not forwarded_for:
        return str(peer_ip)
    hops = [h for h in (part.strip() for part in forwarded_for.split(",")) if h]
    client = peer_ip
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:
            return None  # a garbled chain names nobody; better no client than a proxy taken for one
        client = hop_ip
        if not _in(hop_ip, trusted):
            return str(hop_ip)
    return str(client)


def request_is_https(scheme: str, peer: str | None, forwarded_proto: str | None, trusted: Networks) -> bool:
    """True when the request came over TLS: to us directly, or to a trusted proxy that says so."""
    if scheme == "https":
        return True
    if not forwarded_proto or peer is None:
        return False
    peer_ip = _ip(peer)
    if peer_ip is None or not _in(peer_ip, trusted):
        return False
    # the last value is the one our proxy set
    return forwarded_proto.split(",")[-1].strip().lower() == "https"


def address_allowed(address: str | None, allow: Networks) -> bool:
    if not allow:
        return True
    if address is None:
        return False
    ip = _ip(address)
    return ip is not None and _in(ip, allow)
