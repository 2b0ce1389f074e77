"""Inbound decisions in the store, on every backend: a bounded recent list per source (pruned as it is
written), a reason filter, and per-minute counts by outcome and reason that outlive the list's bound."""

from __future__ import annotations

from hookgate.errors import StoreError
from hookgate.inbound.decision_log import DecisionLog
from hookgate.models import InboundDecision
from hookgate.store.base import Store

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 60


def decision(n: int, *, source: str = "github", reason: str = "ok", at: float = T0) -> InboundDecision:
    outcome = "accepted" if reason == "ok" else "rejected"
    return InboundDecision(
        source, at + n, outcome, reason, 200 if reason == "ok" else 401, f"10.0.0.{n % 250}"
    )


async def test_recent_decisions_are_bounded_per_source_and_counted_in_full(store: Store) -> None:
    first = [decision(n, reason="bad_signature" if n % 3 == 0 else "ok") for n in range(9)]
    await store.record_inbound_decisions(first, keep=5, counts_before=T0 - 3600)
    await store.record_inbound_decisions([decision(9, source="stripe")], keep=5, counts_before=T0 - 3600)
    await store.record_inbound_decisions([decision(10)], keep=5, counts_before=T0 - 3600)
    recent = await store.list_inbound_decisions("github", reason=None, limit=100)
    assert [d.at - T0 for d in recent] == [10, 8, 7, 6, 5]  # newest first, the newest 5 kept
    assert (recent[0].outcome, recent[0].reason, recent[0].status, recent[0].peer) == (
        "accepted",
        "ok",
        200,
        "10.0.0.10",
    )
    refused = await store.list_inbound_decisions("github", reason="bad_signature", limit=100)
    assert [d.at - T0 for d in refused] == [6]
    assert len(await store.list_inbound_decisions("github", reason=None, limit=2)) == 2
    assert [d.source for d in await store.list_inbound_decisions("stripe", reason=None, limit=9)] == [
        "stripe"
    ]
    # the counts cover every decision, not only the kept ones
    counts = await store.inbound_decision_counts("github", since=T0)
    assert counts == [("accepted", "ok", 7), ("rejected", "bad_signature", 3)]
    assert await store.inbound_decision_counts("github", since=T0 + 60) == []
    # counts older than the cutoff are dropped as new ones are written
    await store.record_inbound_decisions([decision(0, at=T0 + 7200)], keep=5, counts_before=T0 + 3600)
    assert await store.inbound_decision_counts("github", since=T0) == [("accepted", "ok", 1)]


class FailingOnce:
    def __init__(self) -> None:
        self.failures = 1
        self.written: list[InboundDecision] = []

    async def __call__(self, batch: list[InboundDecision]) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("down")
        self.written += batch


async def test_the_log_keeps_decisions_while_the_store_is_down_within_its_bound() -> None:
    write = FailingOnce()
    log = DecisionLog(write, max_buffered=3, gather_s=3600)  # flushed by hand here
    for n in range(2):
        log.record(decision(n))
    assert not await log.flush()  # the store failed: both kept
    for n in range(2, 4):
        log.record(decision(n))
    assert log.dropped == 1  # the oldest goes first
    await log.close()  # writes what is left
    assert [d.at - T0 for d in write.written] == [1, 2, 3]
