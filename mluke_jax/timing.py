"""Wall-clock timing shared by the demo and the benchmarks."""

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int, *, min_seconds: float = 0.0, warmup: int = 0) -> float:
    """Median wall time of one call of ``fn`` (block on async results inside ``fn``).

    ``warmup`` untimed calls first; then at least ``repeats`` timed calls, and more until they add
    up to ``min_seconds`` (a median of many short calls is stable where one of five is not).
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < max(1, repeats) or sum(times) < min_seconds:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(fns: list[Callable[[], object]], repeats: int, *, warmup: int = 1) -> list[float]:
    """Median wall time of each of ``fns``, timed in turn round after round (``repeats`` rounds).

    On a shared machine whose speed drifts over seconds, alternating the contenders gives each
    the same conditions, where timing one after the other would not.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(max(1, repeats)):
        for fn, column in zip(fns, times):
            start = time.perf_counter()
            fn()
            column.append(time.perf_counter() - start)
    return [statistics.median(column) for column in times]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), for every timing figure printed."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_description() -> str:
    """``"<CPU model>, <n> cores, JAX on cpu"``: where a timing was taken."""
    import os

    import jax

    return f"{cpu_model()}, {os.cpu_count()} cores, JAX on {jax.devices()[0].platform}"
