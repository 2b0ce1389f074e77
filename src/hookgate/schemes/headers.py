"""The HTTP header rule: which field names and values hookgate accepts in configuration (RFC 9110 5.1, 5.5).

Every configured header name (custom endpoint headers, the header a credential or signature goes in, an
``event_id = "header:Name"``) and every configured value that is sent as is (custom header values, a
signature prefix) is checked here when it is saved, so a header that the HTTP client would refuse, or that a
receiver would cut or reject, fails with a message naming it instead of failing every delivery.

- a name is an RFC 9110 token (``!#$%&'*+-.^_`|~``, digits, letters) of at most 256 characters;
- a value is visible ASCII with spaces or tabs only between visible characters, at most 4096 characters.
  Control characters (CR, LF, NUL, but also VT, FF, DEL ...) are invalid; non-ASCII ("obs-text") is obsolete
  and its encoding ambiguous; leading or trailing whitespace is stripped by receivers, so the value sent
  would not be the value saved.
"""

from __future__ import annotations

import re

from hookgate.errors import ConfigError

__all__ = ["MAX_HEADER_NAME", "MAX_HEADER_VALUE", "check_header_name", "check_header_value"]

MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 4096

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"(?:[!-~](?:[\t -~]*[!-~])?)?")


def check_header_name(name: object) -> str:
    """Return ``name`` if it is a valid HTTP field name, else raise `ConfigError`."""
    if not isinstance(name, str):
        raise ConfigError(f"header name {name!r} must be a string")
    if len(name) > MAX_HEADER_NAME:
        raise ConfigError(
            f"header name {name[:32]!r}... is {len(name)} characters long; "
            f"at most {MAX_HEADER_NAME} are allowed"
        )
    if not _TOKEN.fullmatch(name):
        raise ConfigError(f"{name!r} is not a valid HTTP header name")
    return name


def check_header_value(value: object, name: str) -> str:
    """Return ``value`` if it is sent unchanged as the value of header ``name``; else raise `ConfigError`."""
    if not isinstance(value, str):
        raise ConfigError(f"header {name!r}: the value must be a string, not {type(value).__name__}")
    if len(value) > MAX_HEADER_VALUE:
        raise ConfigError(
            f"header {name!r}: the value is {len(value)} characters long; "
            f"at most {MAX_HEADER_VALUE} are allowed"
        )
    if not _VALUE.fullmatch(value):
        bad = next((c for c in value if not (" " <= c <= "~" or c == "\t")), None)
        if bad is None:
            raise ConfigError(f"header {name!r}: the value must not start or end with a space or tab")
        what = "a non-ASCII character" if not bad.isascii() else "a control character"
        raise ConfigError(
            f"header {name!r}: the value contains {what} ({bad!r}); "
            "a header value is visible ASCII with spaces or tabs only between visible characters"
        )
    return value
