from __future__ import annotations

import threading

import pytest

from telebot.monitor import perf
from telebot.monitor.perf import PerfRegistry, monitor_performance, timed
from tests.monitor.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(0.0)


@pytest.fixture
def registry(clock: FakeClock) -> PerfRegistry:
    return PerfRegistry(clock=clock)


def test_decorator_statistics_match_known_durations(clock: FakeClock, registry: PerfRegistry):
    @monitor_performance("work", registry=registry)
    def work(ms: int) -> int:
        clock.advance(ms / 1000)
        return ms

    for ms in range(1, 101):  # 1 ms .. 100 ms
        assert work(ms) == ms
    [st] = registry.stats()
    assert (st.name, st.calls, st.errors) == ("work", 100, 0)
    assert st.total == pytest.approx(5.050)
    assert st.mean == pytest.approx(0.0505)
    assert st.p50 == pytest.approx(0.050)
    assert st.p95 == pytest.approx(0.095)
    assert st.max == pytest.approx(0.100)


def test_errors_are_counted_and_propagate(clock: FakeClock, registry: PerfRegistry):
    @monitor_performance("flaky", registry=registry)
    def flaky(fail: bool) -> None:
        clock.advance(0.5)
        if fail:
            raise ValueError("boom")

    flaky(False)
    with pytest.raises(ValueError, match="boom"):
        flaky(True)
    [st] = registry.stats()
    assert (st.calls, st.errors, st.total) == (2, 1, pytest.approx(1.0))


def test_bare_decorator_uses_qualified_name_and_default_registry():
    perf.REGISTRY.reset()

    @monitor_performance
    def plain(x: int) -> int:
        return x * 2

    assert plain(21) == 42
    assert plain.__name__ == "plain"  # functools.wraps kept the identity
    names = [s.name for s in perf.REGISTRY.stats()]
    assert names == [f"{__name__}.{plain.__qualname__}"]
    perf.REGISTRY.reset()
    assert perf.REGISTRY.stats() == []


def test_timed_context_manager(clock: FakeClock, registry: PerfRegistry):
    with timed("block", registry=registry):
        clock.advance(2.0)
    with pytest.raises(KeyError), timed("block", registry=registry):
        clock.advance(4.0)
        raise KeyError("x")
    [st] = registry.stats()
    assert (st.calls, st.errors, st.max, st.mean) == (2, 1, 4.0, 3.0)


def test_reservoir_is_bounded_and_recent(registry: PerfRegistry):
    small = PerfRegistry(reservoir=10)
    for i in range(1, 1001):
        small.record("x", float(i))
    [st] = small.stats()
    assert st.calls == 1000
    assert st.max == 1000.0
    # percentiles come from the last 10 calls only (991..1000)
    assert st.p50 == 995.0
    assert st.p95 == 1000.0
    assert len(small._entries["x"].ring) == 10


def test_slowest_orders_by_p95(registry: PerfRegistry):
    for name, seconds in [("a", 1.0), ("b", 3.0), ("c", 2.0)]:
        registry.record(name, seconds)
    assert [s.name for s in registry.slowest(2)] == ["b", "c"]
    assert registry.slowest(0) == []


def test_coroutine_functions_are_refused():
    async def coro() -> None:
        return None

    with pytest.raises(TypeError, match="synchronous"):
        monitor_performance(coro)


def test_invalid_reservoir():
    with pytest.raises(ValueError):
        PerfRegistry(reservoir=0)


def test_thread_safety_counts_every_call():
    registry = PerfRegistry()
    threads_n, per_thread = 4, 5000
    barrier = threading.Barrier(threads_n)

    def hammer(k: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            registry.record(f"name{k % 2}", 0.001)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = registry.stats()
    assert sum(s.calls for s in stats) == threads_n * per_thread
    assert sum(s.total for s in stats) == pytest.approx(threads_n * per_thread * 0.001)


def test_decorated_functions_keep_recording_after_reset(clock: FakeClock, registry: PerfRegistry):
    @monitor_performance("kept", registry=registry)
    def kept() -> None:
        clock.advance(1.0)

    kept()
    registry.reset()
    assert registry.stats() == []
    kept()
    [st] = registry.stats()
    assert (st.calls, st.total, st.max) == (1, 1.0, 1.0)
