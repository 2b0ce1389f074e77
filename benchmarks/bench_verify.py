"""Measure Standard Webhooks HMAC sign/verify throughput of hookgate against raw stdlib hmac and peers.

Single responsibility: report ops/s for ``v1`` (HMAC-SHA256) signing and verification with 1 KiB and
64 KiB bodies, for hookgate, hand-written stdlib ``hmac`` (the practical limit), the ``standardwebhooks``
package and the ``svix`` package, each as a ratio against raw ``hmac``.

Run::

    cd /work/main && .venv/bin/python benchmarks/bench_verify.py          # full run (~1 min)
    cd /work/main && .venv/bin/python benchmarks/bench_verify.py --quick  # smoke run

Method: every implementation is constructed once outside the timed loop and sanity-checked once (its
verify must accept what was signed). Each case is calibrated so one repeat takes about 0.3 s (0.03 s with
``--quick``), warmed up, then timed with ``time.perf_counter`` for a fixed iteration count; the reported
figure is the median of 5 repeats. The last line of stdout is one JSON object holding every ratio.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook as StdWebhook
from svix.webhooks import Webhook as SvixWebhook

from hookgate.errors import SignatureError
from hookgate.schemes.standard_webhooks import StandardWebhooksSigner, StandardWebhooksVerifier

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
SIZES = {"1k": 1024, "64k": 64 * 1024}
IMPLS = ("hookgate", "raw_hmac", "standardwebhooks", "svix")
OPS = ("verify", "sign")
REPEATS = 5

Op = Callable[[], object]


@dataclass(frozen=True, slots=True)
class Result:
    impl: str
    op: str
    size: str
    ops_per_s: float


def make_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` ASCII bytes, so peers that parse JSON accept it."""
    head, tail = b'{"type":"bench.event","data":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def build_cases(body: bytes, now: float) -> dict[tuple[str, str], Op]:
    """Return (impl, op) -> zero-argument callable; every callable is sanity-checked by the caller."""
    key_bytes = base64.b64decode(SECRET.removeprefix("whsec_"))
    ts = int(now)
    body_str = body.decode()
    ts_dt = datetime.fromtimestamp(ts, tz=UTC)

    # hookgate
    hg_signer = StandardWebhooksSigner([SECRET])
    hg_verifier = StandardWebhooksVerifier([SECRET])
    hg_headers = hg_signer.sign(body, msg_id=MSG_ID, now=now).headers

    # raw stdlib hmac: what a user would write by hand, one new HMAC per call
    def raw_sig(msg_id: str, timestamp: int, payload: bytes) -> bytes:
        return base64.b64encode(
            hmac.new(key_bytes, f"{msg_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
        )

    expected_sig = raw_sig(MSG_ID, ts, body)

    def raw_verify() -> bool:
        computed = base64.b64encode(
            hmac.new(key_bytes, f"{MSG_ID}.{ts}.".encode() + body, hashlib.sha256).digest()
        )
        return hmac.compare_digest(computed, expected_sig)

    def raw_sign() -> dict[str, str]:
        sig = base64.b64encode(
            hmac.new(key_bytes, f"{MSG_ID}.{ts}.".encode() + body, hashlib.sha256).digest()
        )
        return {
            "webhook-id": MSG_ID,
            "webhook-timestamp": str(ts),
            "webhook-signature": "v1," + sig.decode("ascii"),
        }

    # standardwebhooks: json_parse=False so it does the same work as the others (no JSON decode)
    std = StdWebhook(SECRET)
    std_headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(ts),
        "webhook-signature": std.sign(MSG_ID, ts_dt, body_str),
    }

    # svix (wraps standardwebhooks; accepts svix-* headers)
    svx = SvixWebhook(SECRET)
    svx_headers = {
        "svix-id": MSG_ID,
        "svix-timestamp": str(ts),
        "svix-signature": svx.sign(MSG_ID, ts_dt, body_str),
    }

    return {
        ("hookgate", "verify"): lambda: hg_verifier.verify(body, hg_headers, now=now),
        ("hookgate", "sign"): lambda: hg_signer.sign(body, msg_id=MSG_ID, now=now),
        ("raw_hmac", "verify"): raw_verify,
        ("raw_hmac", "sign"): raw_sign,
        ("standardwebhooks", "verify"): lambda: std.verify(body, std_headers, json_parse=False),
        ("standardwebhooks", "sign"): lambda: std.sign(MSG_ID, ts_dt, body_str),
        ("svix", "verify"): lambda: svx.verify(body, svx_headers),
        ("svix", "sign"): lambda: svx.sign(MSG_ID, ts_dt, body_str),
    }


def sanity_check(cases: dict[tuple[str, str], Op], body: bytes, now: float) -> None:
    """Fail loudly unless every implementation verifies and every signature is the same ``v1`` value."""
    ts = int(now)
    key_bytes = base64.b64decode(SECRET.removeprefix("whsec_"))
    reference = "v1," + base64.b64encode(
        hmac.new(key_bytes, f"{MSG_ID}.{ts}.".encode() + body, hashlib.sha256).digest()
    ).decode("ascii")

    verified = cases[("hookgate", "verify")]()
    if getattr(verified, "msg_id", None) != MSG_ID:
        raise SystemExit("sanity: hookgate verify did not return the message id")
    if cases[("raw_hmac", "verify")]() is not True:
        raise SystemExit("sanity: raw hmac verify failed")
    # peers raise on failure and return None on success
    cases[("standardwebhooks", "verify")]()
    cases[("svix", "verify")]()

    signed = cases[("hookgate", "sign")]()
    hg_sig = getattr(signed, "headers", {}).get("webhook-signature")
    raw_headers = cases[("raw_hmac", "sign")]()
    raw = raw_headers.get("webhook-signature") if isinstance(raw_headers, dict) else None
    signatures = {
        "hookgate": hg_sig,
        "raw_hmac": raw,
        "standardwebhooks": cases[("standardwebhooks", "sign")](),
        "svix": cases[("svix", "sign")](),
    }
    for impl, sig in signatures.items():
        if sig != reference:
            raise SystemExit(f"sanity: {impl} sign produced {sig!r}, expected {reference!r}")

    # a tampered body must be rejected by hookgate
    signed_headers = getattr(signed, "headers", {})
    verifier = StandardWebhooksVerifier([SECRET])
    try:
        verifier.verify(body + b" ", signed_headers, now=now)
    except SignatureError:
        return
    raise SystemExit("sanity: hookgate accepted a tampered body")


def calibrate(fn: Op, target_s: float) -> int:
    """Iteration count that makes one repeat last roughly ``target_s``."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.02:
            return max(1, int(n * target_s / elapsed))
        n *= 2


def measure(fn: Op, target_s: float) -> float:
    """Median ops/s over REPEATS timed runs of a fixed iteration count, after warm-up."""
    iterations = calibrate(fn, target_s)
    for _ in range(max(1, iterations // 10)):  # warm-up
        fn()
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        rates.append(iterations / (time.perf_counter() - start))
    return statistics.median(rates)


def run(target_s: float) -> list[Result]:
    results: list[Result] = []
    for size_name, size in SIZES.items():
        body = make_body(size)
        if len(body) != size:
            raise SystemExit(f"body for {size_name} is {len(body)} bytes, expected {size}")
        # peers check the timestamp against the real clock; rebuild per size so it stays fresh
        now = time.time()
        cases = build_cases(body, now)
        sanity_check(cases, body, now)
        for op in OPS:
            for impl in IMPLS:
                results.append(Result(impl, op, size_name, measure(cases[(impl, op)], target_s)))
    return results


def report(results: list[Result]) -> dict[str, float]:
    raw = {(r.op, r.size): r.ops_per_s for r in results if r.impl == "raw_hmac"}
    summary: dict[str, float] = {}
    header = f"{'implementation':<18} {'op':<7} {'body':>5} {'ops/s':>12} {'vs raw':>7}"
    print(header)
    print("-" * len(header))
    for r in sorted(results, key=lambda r: (OPS.index(r.op), list(SIZES).index(r.size), IMPLS.index(r.impl))):
        ratio = r.ops_per_s / raw[(r.op, r.size)]
        print(f"{r.impl:<18} {r.op:<7} {r.size:>5} {r.ops_per_s:>12,.0f} {ratio:>6.2f}x")
        if r.impl == "hookgate":
            summary[f"{r.op}_{r.size}_vs_raw"] = round(ratio, 3)
        elif r.impl != "raw_hmac":
            summary[f"{r.impl}_{r.op}_{r.size}_vs_raw"] = round(ratio, 3)
        summary[f"{r.impl}_{r.op}_{r.size}_ops"] = round(r.ops_per_s)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short repeats for a smoke run")
    args = parser.parse_args(argv)
    target_s = 0.03 if args.quick else 0.3
    print(f"python {sys.version.split()[0]}, repeats={REPEATS}, ~{target_s}s per repeat, median reported")
    summary = report(run(target_s))
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
