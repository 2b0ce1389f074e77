"""SSRF address classification: decide whether a resolved address is a public target we may reach."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from hookgate.errors import ConfigError, SSRFError

__all__ = ["AddressPolicy", "IPAddress", "classify_address", "unwrap_ipv4"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Cloud instance-metadata endpoints: the classic SSRF prize, so they get their own reason in the audit log.
_METADATA: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
        ipaddress.IPv4Address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.IPv4Address("168.63.129.16"),  # Azure WireServer (a public-range address!)
        ipaddress.IPv4Address("192.0.0.192"),  # Oracle Cloud
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS IMDS over IPv6
    }
)

# Checked in order; the first match names the reason. More specific ranges come before enclosing ones.
_V4_RANGES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "this_network"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link_local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "reserved"),  # deprecated 6to4 relay anycast
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmark"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

_V6_RANGES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("64:ff9b:1::/48"), "nat64"),  # local-use NAT64 (RFC 8215): the embedding is site-specific
    (_V6("100::/64"), "discard"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("2001:2::/48"), "benchmark"),
    (_V6("fe80::/10"), "link_local"),
    (_V6("fec0::/10"), "site_local"),
    (_V6("fc00::/7"), "private"),
    (_V6("ff00::/8"), "multicast"),
)

_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_MAPPED = _V6("::ffff:0:0/96")
_TRANSLATED = _V6("::ffff:0:0:0/96")  # SIIT "IPv4-translated" (RFC 2765)
_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")
_SIXTOFOUR = _V6("2002::/16")
_TEREDO = _V6("2001::/32")


def _parse(ip: str | IPAddress) -> IPAddress:
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        # The zone (fe80::1%eth0) does not change what the address is, but it breaks equality lookups.
        addr = ipaddress.IPv6Address(int(addr))
    return addr


def unwrap_ipv4(ip: str | IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, SIIT, NAT64, 6to4, Teredo), else None.

    These forms reach the embedded IPv4 host through the local stack or a translator, so they must be judged
    by that host: ``::ffff:127.0.0.1`` is loopback even though it does not look like it.
    """
    addr = _parse(ip)
    if isinstance(addr, ipaddress.IPv4Address):
        return None
    low32 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr in _MAPPED or addr in _TRANSLATED or addr in _NAT64:
        return low32
    # :: and ::1 sit inside ::/96 but are the IPv6 unspecified and loopback addresses, not IPv4-compatible.
    if addr in _COMPATIBLE and int(addr) > 1:
        return low32
    if addr in _SIXTOFOUR:
        return addr.sixtofour
    if addr in _TEREDO:
        teredo = addr.teredo
        return teredo[1] if teredo is not None else None
    return None


def _classify_v4(addr: ipaddress.IPv4Address) -> str | None:
    if addr in _METADATA:
        return "metadata"
    if addr.is_unspecified:
        return "unspecified"
    for network, reason in _V4_RANGES:
        if addr in network:
            return reason
    # Backstop for anything IANA marks non-global that the table above does not name.
    return None if addr.is_global else "reserved"


def classify_address(ip: str | IPAddress) -> str | None:
    """None if ``ip`` is a public global unicast address, else why not ("loopback", "metadata" ...).

    A string that is not an IP address yields "invalid" rather than an exception: for a guard, refusing is
    the only safe reading of garbage.
    """
    try:
        addr = _parse(ip)
    except ValueError:
        return "invalid"
    if isinstance(addr, ipaddress.IPv4Address):
        return _classify_v4(addr)
    if addr in _METADATA:
        return "metadata"
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    # Unwrap before anything else: is_global on ::ffff:127.0.0.1 or 2002:7f00:1:: does not reflect the
    # host actually reached.
    embedded = unwrap_ipv4(addr)
    if embedded is not None:
        return _classify_v4(embedded)
    for network, reason in _V6_RANGES:
        if addr in network:
            return reason
    if addr not in _GLOBAL_UNICAST_V6:
        return "reserved"
    return None if addr.is_global else "reserved"


def _parse_allow(entries: Sequence[str]) -> tuple[_Network, ...]:
    if isinstance(entries, (str, bytes)):
        raise ConfigError(f"SSRF allowlist must be a list of CIDR strings, not a single string {entries!r}")
    networks: list[_Network] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ConfigError(f"SSRF allowlist entry {entry!r} is not a CIDR string")
        try:
            # strict=False: "10.0.0.1/8" plainly means 10.0.0.0/8; a bare address means a single host.
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ConfigError(f"SSRF allowlist entry {entry!r} is not a valid CIDR: {exc}") from exc
    return tuple(networks)


class AddressPolicy:
    """Refuses non-public addresses unless an operator allowlisted them (or disabled the guard)."""

    __slots__ = ("_allow", "_allow_all")

    def __init__(self, allow: Sequence[str] = (), *, allow_all: bool = False) -> None:
        self._allow = _parse_allow(allow)
        self._allow_all = allow_all

    @property
    def allow(self) -> tuple[_Network, ...]:
        return self._allow

    @property
    def allow_all(self) -> bool:
        return self._allow_all

    def _reason(self, ip: str | IPAddress) -> str | None:
        try:
            addr = _parse(ip)
        except ValueError:
            return "invalid"
        if self._allow_all:
            return None
        reason = classify_address(addr)
        if reason is None:
            return None
        # Match the literal and the embedded IPv4, so allowing 127.0.0.0/8 also allows ::ffff:127.0.0.1.
        candidates: list[IPAddress] = [addr]
        embedded = unwrap_ipv4(addr)
        if embedded is not None:
            candidates.append(embedded)
        if any(candidate in network for candidate in candidates for network in self._allow):
            return None
        return reason

    def check(self, ip: str | IPAddress) -> None:
        """Raise SSRFError unless ``ip`` may be connected to."""
        reason = self._reason(ip)
        if reason is not None:
            raise SSRFError(f"refusing to connect to {ip}: {reason}")

    def is_allowed(self, ip: str | IPAddress) -> bool:
        return self._reason(ip) is None
