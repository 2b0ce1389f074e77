"""A small synchronous client for the management API (``/api/v1``), used by the developer CLI.

Every non-2xx answer becomes an `ApiError` carrying the API's stable error ``code`` and ``message`` (the
``{"error": {"code", "message"}}`` shape); a request that cannot be made at all (connection refused, timeout)
becomes an `ApiError` with code ``network``. httpx is imported on first use, so the rest of the CLI works
without it. The bearer token is sent in the ``Authorization`` header only;
it never appears in an error message or in ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hookgate.errors import ConfigError, HookgateError

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_API_URL", "ApiClient", "ApiError", "path"]

DEFAULT_API_URL = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1"


class ApiError(HookgateError):
    """The API refused a request (``status`` is the HTTP status) or could not be reached (``status`` None)."""

    exit_code = 1

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def path(*segments: str) -> str:
    """``/api/v1/<segment>/...`` with every segment percent-encoded (ids come from the command line)."""
    return API_PREFIX + "".join("/" + quote(s, safe="") for s in segments)


def _error_from(response: httpx.Response) -> ApiError:
    code, message = f"http_{response.status_code}", f"HTTP {response.status_code} {response.reason_phrase}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
        details = error.get("details")
        if isinstance(details, list) and details:
            parts = []
            for item in details:
                if isinstance(item, dict):
                    loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                    parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            if parts:
                message = f"{message} ({'; '.join(parts)})"
    return ApiError(f"{message} [{code}]", code=code, status=response.status_code)


class ApiClient:
    """Synchronous calls to one hookgate API with one token; use as a context manager or call `close`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            import httpx
        except ImportError:
            raise ConfigError("the API commands need httpx: pip install httpx") from None
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r})"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int | float] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty body); `ApiError` for anything else."""
        import httpx

        try:
            response = self._client.request(
                method, url, json=json, params=dict(params) if params else None, headers=headers
            )
        except httpx.TimeoutException:
            raise ApiError(f"the API at {self.base_url} did not answer in time", code="network") from None
        except httpx.HTTPError as exc:
            raise ApiError(
                f"cannot reach the API at {self.base_url}: {type(exc).__name__}", code="network"
            ) from None
        if not response.is_success:
            raise _error_from(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"the API answered {response.status_code} with a body that is not JSON", code="bad_response"
            ) from None

    def get(self, url: str, *, params: Mapping[str, str | int | float] | None = None) -> Any:
        return self.request("GET", url, params=params)

    def pages(self, url: str, params: Mapping[str, str | int | float] | None = None) -> Iterator[Any]:
        """Each page of a paged listing (``{"items": [...], "next_cursor": ...}``), following ``next_cursor``.

        Stop iterating to stop paging; the last page yielded has ``next_cursor`` None.
        """
        cursor: str | None = None
        while True:
            query = dict(params or {})
            if cursor is not None:
                query["cursor"] = cursor
            page = self.get(url, params=query)
            yield page
            cursor = page.get("next_cursor")
            if cursor is None:
                return

    def items(self, url: str, params: Mapping[str, str | int | float] | None = None) -> Iterator[Any]:
        """Every item of a paged listing, page after page to the end."""
        for page in self.pages(url, params):
            yield from page["items"]

    def post(self, url: str, body: Any = None, *, headers: Mapping[str, str] | None = None) -> Any:
        return self.request("POST", url, json=body if body is not None else {}, headers=headers)

    def patch(self, url: str, body: Any) -> Any:
        return self.request("PATCH", url, json=body)

    def put(self, url: str, body: Any) -> Any:
        return self.request("PUT", url, json=body)

    def delete(self, url: str) -> Any:
        return self.request("DELETE", url)
