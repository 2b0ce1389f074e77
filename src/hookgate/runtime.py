"""The process runtime of every long-running command (``hookgate serve``, ``worker``, ``gateway``, ``demo``,
``listen``): uvicorn servers and delivery workers as tasks of one event loop, SIGTERM/SIGINT handled in one
place, a listener that cannot start reported as an error, and an orderly stop.

Stopping, in order: the listeners stop accepting and finish their open requests, then the workers stop
claiming, finish in-flight deliveries for their grace period and release the rest, then they close. The
first SIGTERM/SIGINT starts that drain and says what it waits for; a second one stops waiting (open
connections are dropped, in-flight deliveries are cancelled and released at once) and the command exits
with 128 + the signal's number, as a shell reports a process ended by that signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Protocol

import structlog
import uvicorn

from hookgate.errors import ConfigError, HookgateError

__all__ = ["Drainable", "Interrupted", "PortInUseError", "Runtime", "SignalFreeServer", "running"]

log = structlog.get_logger("hookgate.runtime")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class PortInUseError(ConfigError):
    """A listener's port is taken by another process (a configuration error: choose another port)."""


class Interrupted(HookgateError):
    """A second signal cut the drain short; the exit code is 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"stopped by a second {name} without waiting for the drain to finish")
        self.exit_code = 128 + signum


class Drainable(Protocol):
    """What the runtime needs of a worker (`hookgate.outbound.worker.Worker` is one)."""

    @property
    def in_flight(self) -> int: ...

    @property
    def shutdown_grace_s(self) -> float: ...

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    def hurry(self) -> None: ...

    async def close(self) -> None: ...


class SignalFreeServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM/SIGINT to its owner and reports a listener that cannot start.

    uvicorn would re-raise the signal after its own shutdown, ending the process before the delivery
    workers have finished or released their in-flight deliveries.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()
        self.startup_error: BaseException | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets)
        except SystemExit as exc:
            # uvicorn answers a listener that cannot start (port in use) with sys.exit() inside its
            # `except OSError`; raised in a task, that would leave the event loop and end the process before
            # our error and orderly shutdown. Keep the cause for the owner's message.
            self.startup_error = exc.__context__

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose for port 0)."""
        for server in self.servers:
            for sock in server.sockets or ():
                return int(sock.getsockname()[1])
        return int(self.config.port)


class Runtime:
    """One process's servers and workers in one event loop; `stop` ends them in order.

    `running` is the usual way in: it installs the signal handlers for the block and stops everything on
    leaving it. A `Runtime` without signals (``Runtime()``) serves a library caller or a test.
    """

    def __init__(self, *, announce: Callable[[str], None] | None = None) -> None:
        self.stopping = asyncio.Event()
        self.forced_by: int | None = None
        self._announce = announce
        self._servers: list[tuple[SignalFreeServer, asyncio.Task[None]]] = []
        self._workers: list[tuple[Drainable, asyncio.Task[None]]] = []
        self._signals = 0

    async def serve(self, config: uvicorn.Config, *, hint: str, prefix: str = "") -> int:
        """Start a uvicorn server; its port once it listens. A port in use raises `PortInUseError`
        ("port N is in use; <hint>"), any other failure to listen a `ConfigError`; ``prefix`` leads both."""
        server = SignalFreeServer(config)
        task = asyncio.create_task(server.serve(), name=f"hookgate-server-{config.port}")
        self._servers.append((server, task))
        listening = asyncio.ensure_future(server.listening.wait())
        try:
            await asyncio.wait({listening, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
        if not server.started:
            raise _listen_error(server, task, hint=hint, prefix=prefix)
        return server.port

    def start_worker(self, worker: Drainable) -> asyncio.Task[None]:
        """Run the worker until `stop`; the runtime closes it after it has drained."""
        task = asyncio.create_task(worker.run(), name="hookgate-worker")
        self._workers.append((worker, task))
        if self.forced_by is not None:
            worker.hurry()
        elif self.stopping.is_set():
            worker.stop()
        return task

    def request_stop(self) -> None:
        """Begin the orderly stop: `wait` returns (what a first signal does, without the message)."""
        self.stopping.set()

    def force(self, signum: int) -> None:
        """Stop without waiting: drop open connections, cancel and release in-flight deliveries."""
        self.forced_by = signum
        self.stopping.set()
        for server, _ in self._servers:
            server.should_exit = True
            server.force_exit = True
        for worker, _ in self._workers:
            worker.hurry()

    def waiting_for(self) -> str:
        """What a stop waits for now, in words (for the first signal's message)."""
        parts = []
        if self._servers:
            parts.append("open requests to finish")
        for worker, _ in self._workers:
            grace = f"up to {worker.shutdown_grace_s:g} s, then the rest are released"
            parts.append(f"{worker.in_flight} in-flight deliveries ({grace})")
        return " and ".join(parts) or "nothing"

    async def wait(self) -> None:
        """Until a stop is asked for, or a server or worker ends by itself (its error is raised)."""
        tasks = [task for _, task in self._servers] + [task for _, task in self._workers]
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({stop, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc] # checked just above

    async def stop(self) -> None:
        """Listeners first (no new work arrives), then workers (finish or release in-flight), then close."""
        self.stopping.set()
        for server, _ in self._servers:
            server.should_exit = True
        await self._settle([task for _, task in self._servers])
        for worker, _ in self._workers:
            worker.stop()
        await self._settle([task for _, task in self._workers])
        workers, self._workers, self._servers = self._workers, [], []
        for worker, _ in workers:
            await worker.close()

    @staticmethod
    async def _settle(tasks: list[asyncio.Task[None]]) -> None:
        for task, outcome in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                # already raised by `wait` if it ended before the stop; here it is only logged, so the
                # rest of the stop still runs
                log.error("runtime.task_failed", task=task.get_name(), error=repr(outcome))

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Handle SIGTERM/SIGINT for the block: the first stops in order, the second stops waiting."""
        loop = asyncio.get_running_loop()
        for signum in _SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            yield
        finally:
            for signum in _SIGNALS:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            waiting = self.waiting_for()
            self.request_stop()
            if self._announce is None:
                log.info("shutdown.draining", signal=name, waiting_for=waiting, again="stops without waiting")
            else:
                self._announce(f"{name}: stopping; waiting for {waiting} ({name} again to stop now)")
            return
        self.force(signum)
        if self._announce is None:
            log.warning("shutdown.forced", signal=name)
        else:
            self._announce(f"{name} again: stopping now, without waiting")


@contextlib.asynccontextmanager
async def running(*, announce: Callable[[str], None] | None = None) -> AsyncIterator[Runtime]:
    """A `Runtime` with SIGTERM/SIGINT handled for the block; leaving the block stops everything in order.

    ``announce`` shows the signal messages (default: the structured log). After a second signal cut the
    drain short, leaving raises `Interrupted`.
    """
    runtime = Runtime(announce=announce)
    with runtime.signals():
        try:
            yield runtime
        finally:
            await runtime.stop()
    if runtime.forced_by is not None:
        raise Interrupted(runtime.forced_by)


def _listen_error(
    server: SignalFreeServer, task: asyncio.Task[None], *, hint: str, prefix: str
) -> ConfigError:
    config = server.config
    where = f"{prefix}cannot listen on {config.host}:{config.port}"
    cause = server.startup_error
    if isinstance(cause, OSError):
        if cause.errno == errno.EADDRINUSE:
            return PortInUseError(f"{where}: port {config.port} is in use; {hint}")
        return ConfigError(f"{where}: {cause.strerror or cause}")
    failed = task.exception() if task.done() and not task.cancelled() else None
    if failed is not None:
        return ConfigError(f"{where}: {failed}")
    return ConfigError(f"{where} (the server did not start)")
