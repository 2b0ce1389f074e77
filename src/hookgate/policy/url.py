"""The outbound URL rule: which URLs hookgate accepts as a target it will later send requests to.

One function, `validate_url`, used for every such field (endpoint URLs, OAuth ``token_url``, a source's
``jwks_url`` and ``forward_to``), so a URL that can never be delivered is refused when it is saved, with a
message naming the field, instead of failing at every attempt. The URL is returned exactly as given: nothing
is silently normalised away (a stripped CR/LF, a re-encoded host), so what is stored is what was accepted.

The rule is deliberately narrower than what HTTP clients tolerate, because what they tolerate they rewrite:

- printable ASCII only: no whitespace or control characters (clients strip or encode them), no non-ASCII
  (write the host in punycode, ``xn--...``, and percent-encode the rest);
- ``http`` or ``https`` with a host; no ``user:password@`` and no ``#fragment`` (a fragment is never sent);
- the host is a DNS name (letters, digits, ``-`` and ``_`` in dot-separated labels), a bracketed IPv6
  address without a zone, or an IPv4 address in dotted-decimal form. Numeric shorthands (``127.1``,
  ``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``, ``0``) are refused rather than rewritten: resolvers, HTTP
  clients and the URL standard disagree about what they mean, and the stored URL must be the one written.
  The connect-time SSRF guard (`hookgate.policy.ssrf`) still judges every address actually dialled;
- a port from 1 to 65535; a path and query of RFC 3986 characters (anything else percent-encoded) without
  ``.`` or ``..`` segments, which clients resolve away before sending.
"""

from __future__ import annotations

import ipaddress
import re
import string

from hookgate.errors import ConfigError

__all__ = ["MAX_URL_LENGTH", "validate_url"]

MAX_URL_LENGTH = 2048

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# RFC 3986 pchar (unreserved, sub-delims, ':' and '@') plus '/' and the '%' of an escape; a query adds '?'
_PATH_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%")
_QUERY_CHARS = _PATH_CHARS | {"?"}
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
# the URL standard parses a host whose last label is a number (decimal, or 0x hex) as an IPv4 address
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_OCTET = re.compile(r"25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_DOT_SEGMENTS = frozenset({".", "..", "%2e", "%2e%2e", ".%2e", "%2e."})


def validate_url(
    url: object, *, allow_insecure: bool, what: str = "endpoint URL", insecure_option: str = "allow_insecure"
) -> str:
    """Return ``url`` unchanged if hookgate can send requests to it, else raise `ConfigError`.

    ``what`` names the field in messages (``"auth.token_url"``); ``insecure_option`` names the setting
    that permits plain ``http`` for this field.
    """
    if not isinstance(url, str):
        raise ConfigError(f"{what} must be a string (an absolute https:// URL)")
    match = _SCHEME.match(url)
    if match is None or match.group(1).lower() not in ("http", "https"):
        raise ConfigError(f"{what} must be an absolute https:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise ConfigError(f"{what} is {len(url)} characters long; at most {MAX_URL_LENGTH} are allowed")
    for position, char in enumerate(url):
        if not "!" <= char <= "~":
            if char.isascii():
                raise ConfigError(
                    f"{what} contains {char!r} at position {position}: "
                    "whitespace and control characters are not allowed in a URL"
                )
            raise ConfigError(
                f"{what} contains the non-ASCII character {char!r} at position {position}: write the host "
                "in its punycode (xn--) form and percent-encode the path and query"
            )
    if match.group(1).lower() == "http" and not allow_insecure:
        raise ConfigError(f"{what} must use https ({insecure_option} is for development endpoints only)")
    rest = url[match.end() :]
    if "#" in rest:
        raise ConfigError(f"{what} must not have a #fragment (it is never sent)")
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, target = rest[:end], rest[end:]
    if "@" in authority:
        raise ConfigError(f"{what} must not carry credentials (user:password@)")
    host, port = _split_authority(authority, what)
    if not host:
        raise ConfigError(f"{what} must be an absolute https:// URL (it has no host)")
    _check_host(host, what)
    if port is not None and not (_PORT.fullmatch(port) and int(port) <= 65535):
        raise ConfigError(f"{what} port {port!r} must be a number from 1 to 65535 (no leading zeros)")
    path, _, query = target.partition("?")
    _check_target(path, _PATH_CHARS, what, "path")
    _check_target(query, _QUERY_CHARS, what, "query")
    if any(segment.lower() in _DOT_SEGMENTS for segment in path.split("/")):
        raise ConfigError(f"{what} path must not contain '.' or '..' segments (clients remove them)")
    return url


def _split_authority(authority: str, what: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise ConfigError(f"{what} has an unclosed '[' in its host")
        host, after = authority[: close + 1], authority[close + 1 :]
        if after and not after.startswith(":"):
            raise ConfigError(f"{what} has {after!r} after its IPv6 host; only ':port' may follow")
        return host, after[1:] if after else None
    host, colon, port = authority.partition(":")
    return host, port if colon else None


def _check_host(host: str, what: str) -> None:
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:
            raise ConfigError(f"{what} host {host!r} has an IPv6 zone, which only means something locally")
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise ConfigError(f"{what} host {host!r} is not an IPv6 address") from None
        return
    name = host[:-1] if host.endswith(".") else host  # a trailing dot: a fully qualified DNS name
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        if name != host or len(labels) != 4 or not all(_OCTET.fullmatch(label) for label in labels):
            raise ConfigError(
                f"{what} host {host!r} is not an IPv4 address in dotted-decimal form: write four numbers "
                "0-255 without leading zeros (e.g. 192.0.2.10); shorthand, octal and hex forms are ambiguous"
            )
        return
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ConfigError(
            f"{what} host {host!r} is not a valid host name: dot-separated labels of 1-63 letters, "
            "digits, '-' or '_', not starting or ending with '-'"
        )


def _check_target(part: str, allowed: frozenset[str], what: str, label: str) -> None:
    bad = next((c for c in part if c not in allowed), None)
    if bad is not None:
        raise ConfigError(f"{what} {label} contains {bad!r}, which must be percent-encoded")
    if _BAD_ESCAPE.search(part):
        raise ConfigError(f"{what} {label} has a '%' that does not start a %XX escape")
