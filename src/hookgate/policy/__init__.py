"""Pure decisions for the outbound delivery engine: retry timing, outcome classification, rate limiting,
circuit breaking and SSRF address classification.

Nothing in this package performs I/O or reads a clock: the current time is always passed in as ``now``
(Unix seconds) and randomness as a ``random.Random``, so every decision is deterministic under test.
"""

__all__: list[str] = []  # a namespace: its modules are imported by path
