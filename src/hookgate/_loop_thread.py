"""The one bridge from blocking code to hookgate's coroutines: a private event loop in a daemon thread.

`SyncHookgate` (``hookgate.sync``) and the WSGI middleware (``hookgate.inbound.wsgi``) each own one: every
call is submitted to that loop and the calling thread waits for its result, so the stores and connections
the coroutines use belong to one loop whatever the caller's threading model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

_T = TypeVar("_T")


class LoopThread:
    """A private event loop in a daemon thread; `run` submits a coroutine to it and waits for the result.

    ``owner`` names the object in the errors a caller sees after `close` ("<owner> is closed").
    """

    def __init__(self, *, name: str, owner: str) -> None:
        self._owner = owner
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._closed = False
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            try:
                # calls still in flight are cancelled (their callers get RuntimeError), then the loop closes
                tasks = asyncio.all_tasks(self._loop)
                for task in tasks:
                    task.cancel()
                self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            finally:
                self._loop.close()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and block until it returns (or raises)."""
        with self._lock:
            if self._closed:
                coro.close()
                raise RuntimeError(f"{self._owner} is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
            self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self._closed:
                raise RuntimeError(f"{self._owner} was closed during the call") from None
            raise
        finally:
            with self._lock:
                self._pending.discard(future)

    def close(self) -> None:
        """Stop the loop and join its thread (idempotent); later calls raise RuntimeError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        with self._lock:
            pending = list(self._pending)
        for future in pending:  # anything the loop did not get to: its caller gets RuntimeError
            future.cancel()

    @property
    def closed(self) -> bool:
        return self._closed
