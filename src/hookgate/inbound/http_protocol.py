"""uvicorn's HTTP/1.1 protocol with the listener's own JSON answer to a request uvicorn cannot parse.

uvicorn answers a malformed request line or header block itself, before any application sees the request,
with a plain-text 400 ("Invalid HTTP request received."). `json_http_protocol` returns the protocol class
uvicorn's ``http="auto"`` would pick (httptools when installed, else h11) with that answer replaced by a
given JSON body, so ``hookgate serve`` and the gateway answer in their own error shape from the first byte.
Pass it as ``uvicorn.Config(app, http=json_http_protocol(body))``.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from hookgate.errors import ConfigError

__all__ = ["json_http_protocol"]


def _head(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"connection", b"close"),
    ]


class _H11JsonProtocol(H11Protocol):
    bad_request_body: ClassVar[bytes] = b""

    def send_400_response(self, msg: str) -> None:
        del msg  # uvicorn's plain-text reason; it has logged it already
        body = self.bad_request_body
        response = h11.Response(status_code=400, headers=_head(body), reason=b"Bad Request")
        for event in (response, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def _httptools_protocol() -> type[asyncio.Protocol] | None:
    if importlib.util.find_spec("httptools") is None:
        return None
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    class _HttpToolsJsonProtocol(HttpToolsProtocol):
        bad_request_body: ClassVar[bytes] = b""

        def send_400_response(self, msg: str) -> None:
            del msg  # as above
            body = self.bad_request_body
            content = [STATUS_LINE[400]]
            for name, value in [*self.server_state.default_headers, *_head(body)]:
                content += [name, b": ", value, b"\r\n"]
            content += [b"\r\n", body]
            self.transport.write(b"".join(content))
            self.transport.close()

    return _HttpToolsJsonProtocol


def json_http_protocol(body: bytes, *, implementation: str = "auto") -> type[asyncio.Protocol]:
    """The protocol class answering an unparseable request with a 400 carrying ``body`` (JSON).

    ``implementation`` is ``"auto"`` (httptools if installed, else h11, as uvicorn chooses), ``"h11"`` or
    ``"httptools"``.
    """
    if implementation not in ("auto", "h11", "httptools"):
        raise ConfigError(f"unknown HTTP implementation {implementation!r} (auto, h11, httptools)")
    base: type[asyncio.Protocol] | None = None
    if implementation != "h11":
        base = _httptools_protocol()
        if base is None and implementation == "httptools":
            raise ConfigError("the httptools HTTP implementation is not installed")
    if base is None:
        base = _H11JsonProtocol
    return type(base.__name__, (base,), {"bad_request_body": body, "__module__": __name__})
