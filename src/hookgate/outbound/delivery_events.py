"""The delivery engine's operational events: a delivery gone dead (message.attempt.exhausted), an endpoint
failing N attempts in a row (message.attempt.failing) and its first success after that
(message.attempt.recovered), an endpoint the worker disabled (endpoint.disabled).

Called from a delivery's verdict; it only counts in memory and queues (`OpEvents.emit`, no await), so the
delivery path pays nothing but on a transition. The consecutive failures are counted per worker process (an
endpoint served by several workers is announced by the one that sees N in a row). Nothing about the delivery
of an operational message is published (`is_operational`): logged and counted only.
"""

from __future__ import annotations

from hookgate.outbound.endpoint_state import EndpointState
from hookgate.outbound.opevents import OpEvents, is_operational
from hookgate.store.base import Claim

__all__ = ["DeliveryEvents"]


class DeliveryEvents:
    """Turn one worker's delivery verdicts into operational events."""

    __slots__ = ("_events", "_failing_after")

    def __init__(self, events: OpEvents, *, failing_after: int) -> None:
        self._events = events
        self._failing_after = failing_after

    def _emit(self, type_: str, claim: Claim, *, publish: bool = True, **data: object) -> None:
        self._events.emit(
            self._events.event(
                type_,
                {"endpoint_id": claim.endpoint.id, **data},
                app_id=claim.endpoint.app_id,
                publish=publish and not is_operational(claim.message),
            )
        )

    def succeeded(self, claim: Claim, state: EndpointState) -> None:
        announced, failures = state.failing_announced, state.failures
        state.failures, state.failing_announced = 0, None
        if announced is not None:
            self._emit(
                "message.attempt.recovered",
                claim,
                publish=announced,
                message_id=claim.message.id,
                delivery_id=claim.delivery.id,
                failures=failures,
            )

    def failed(self, claim: Claim, state: EndpointState, status_code: int | None, error: str | None) -> None:
        state.failures += 1
        if state.failures != self._failing_after:
            return
        state.failing_announced = not is_operational(claim.message)
        self._emit(
            "message.attempt.failing",
            claim,
            consecutive_failures=state.failures,
            failing_since=state.failing_since,
            message_id=claim.message.id,
            delivery_id=claim.delivery.id,
            status_code=status_code,
            error_class=error,
        )

    def exhausted(self, claim: Claim, status_code: int | None, outcome: str) -> None:
        self._emit(
            "message.attempt.exhausted",
            claim,
            message_id=claim.message.id,
            delivery_id=claim.delivery.id,
            event_type=claim.message.event_type,
            attempts=claim.delivery.attempts + 1,
            status_code=status_code,
            outcome=outcome,
        )

    def disabled(self, claim: Claim, reason: str) -> None:
        self._emit("endpoint.disabled", claim, reason=reason, by="worker")
