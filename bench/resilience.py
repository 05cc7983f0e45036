"""Benchmark: overhead of the resilience layer on the success path.

Run: ``python bench/resilience.py [--calls N] [--runs R]``

Measures, per call, the time the wrappers add to a trivial function:
``guarded_call`` (retry + breaker, the target is < 5 µs), ``call_with_retry``
and ``CircuitBreaker.call`` alone, and the rate limiters' cost per acquire.
Where installed, the usual tools run in the same process for comparison:
tenacity (retry) and pybreaker (breaker). The machine is shared and has two
cores, so every figure is the median of several runs; expect ±20 % noise.
"""

from __future__ import annotations

import os
import sys

# Run from the repository, not from bench/: sibling scripts there (copy.py)
# would otherwise shadow standard modules of the same name.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402 - after the path fix
import itertools  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from telebot.resilience import (  # noqa: E402
    BreakerRegistry,
    KeyedLimiter,
    RetryPolicy,
    TelegramLimiter,
    TokenBucket,
    call_with_retry,
    guarded_call,
)

Case = Callable[[int], None]


def noop() -> int:
    return 1


def per_call_us(case: Case, calls: int, runs: int) -> float:
    """Median over ``runs`` of the microseconds per call of ``case``."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        case(calls)
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


def direct(calls: int) -> None:
    for _ in range(calls):
        noop()


def ours_cases() -> dict[str, Case]:
    policy = RetryPolicy()
    registry = BreakerRegistry()
    breaker = registry.get("bench.example")

    def guarded(calls: int) -> None:
        for _ in range(calls):
            guarded_call("bench.example", noop, policy=policy, breakers=registry)

    def retry_only(calls: int) -> None:
        for _ in range(calls):
            call_with_retry(noop, policy)

    def breaker_only(calls: int) -> None:
        for _ in range(calls):
            breaker.call(noop)

    return {"guarded_call (retry+breaker)": guarded, "call_with_retry": retry_only,
            "CircuitBreaker.call": breaker_only}


def usual_cases() -> dict[str, Case]:
    """tenacity and pybreaker doing the same job, when they are installed."""
    cases: dict[str, Case] = {}
    try:
        import tenacity
    except ImportError:
        tenacity = None  # type: ignore[assignment]
    try:
        import pybreaker
    except ImportError:
        pybreaker = None  # type: ignore[assignment]
    if tenacity is not None:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(5),
            wait=tenacity.wait_random_exponential(multiplier=0.5, max=30),
        )

        def tenacity_case(calls: int) -> None:
            for _ in range(calls):
                retrying(noop)

        cases["tenacity Retrying"] = tenacity_case
    if pybreaker is not None:
        cb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)

        def pybreaker_case(calls: int) -> None:
            for _ in range(calls):
                cb.call(noop)

        cases["pybreaker call"] = pybreaker_case
        if tenacity is not None:
            def both(calls: int) -> None:
                for _ in range(calls):
                    retrying(cb.call, noop)

            cases["tenacity + pybreaker"] = both
    return cases


def limiter_cases() -> dict[str, Case]:
    # A clock that jumps a second per reading keeps every bucket full, so the
    # numbers are the bookkeeping cost, never a wait.
    ticks = itertools.count()

    def jumping_clock() -> float:
        return float(next(ticks))

    bucket = TokenBucket(1e9, 1e9)
    keyed = KeyedLimiter(lambda key: TokenBucket(1e9, 1e9))
    telegram = TelegramLimiter(clock=jumping_clock)
    lock = threading.Lock()

    def lock_floor(calls: int) -> None:
        for _ in range(calls):
            with lock:
                time.monotonic()

    def bucket_try(calls: int) -> None:
        for _ in range(calls):
            bucket.try_acquire()

    def bucket_acquire(calls: int) -> None:
        for _ in range(calls):
            bucket.acquire()

    def keyed_acquire(calls: int) -> None:
        for i in range(calls):
            keyed.acquire(i & 63)

    def telegram_acquire(calls: int) -> None:
        for i in range(calls):
            telegram.acquire(i & 63)

    return {"Lock + monotonic (floor)": lock_floor, "TokenBucket.try_acquire": bucket_try,
            "TokenBucket.acquire": bucket_acquire, "KeyedLimiter.acquire": keyed_acquire,
            "TelegramLimiter.acquire": telegram_acquire}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    base = per_call_us(direct, args.calls, args.runs)
    print(f"medians of {args.runs} runs x {args.calls} calls; plain call {base:.3f} µs\n")
    print(f"{'wrapper (success path)':32} {'µs/call':>9} {'overhead':>9} {'vs ours':>8}")
    rows = {name: per_call_us(case, args.calls, args.runs)
            for name, case in (ours_cases() | usual_cases()).items()}
    ours = rows["guarded_call (retry+breaker)"] - base
    for name, value in rows.items():
        overhead = value - base
        print(f"{name:32} {value:9.3f} {overhead:9.3f} {overhead / ours:7.2f}x")
    verdict = "meets" if ours < 5.0 else "MISSES"
    print(f"\nguarded_call overhead {ours:.2f} µs/call: {verdict} the < 5 µs target\n")

    print(f"{'rate limiter':32} {'µs/acquire':>10} {'vs floor':>9}")
    limits = {name: per_call_us(case, args.calls, args.runs)
              for name, case in limiter_cases().items()}
    floor = limits["Lock + monotonic (floor)"]
    for name, value in limits.items():
        print(f"{name:32} {value:10.3f} {value / floor:8.2f}x")


if __name__ == "__main__":
    main()
