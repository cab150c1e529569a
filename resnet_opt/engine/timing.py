"""The one latency timer: timed calls, runs under a count and a time budget, blocks across callables, interleaved
runs, medians. Everything that times a call uses these (bench's harness and reports, the quantize / QAT / prune
stages, the hardware-aware pruning probes, TorchScript's optimize check); ``bench.timing`` adds the benchmark's
configuration and statistics on top."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Sequence

from resnet_opt.core.errors import ConfigError

__all__ = ["time_call", "timed_runs", "block_timings", "median_ms", "median_latency_ms", "interleaved_latency_ms"]


def time_call(fn: Callable[[], Any]) -> float:
    """Seconds one call takes (the callable must be synchronous: return only when its result is on the host)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def timed_runs(fn: Callable[[], Any], n: int, *, budget_s: float | None = None, min_runs: int = 1,
               cuda_events: bool = False) -> tuple[list[float], list[float]]:
    """Run ``fn`` up to ``n`` times; stop early when ``budget_s`` is spent and ``min_runs`` are done.

    Returns (wall-clock seconds per run, CUDA-event milliseconds per run — empty unless ``cuda_events``)."""
    samples: list[float] = []
    dev: list[float] = []
    start = time.perf_counter()
    ev = None
    if cuda_events:
        import torch

        ev = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
    for i in range(n):
        if ev is not None:
            torch.cuda.synchronize()
            ev[0].record()
            t0 = time.perf_counter()
            fn()
            ev[1].record()
            torch.cuda.synchronize()
            samples.append(time.perf_counter() - t0)
            dev.append(float(ev[0].elapsed_time(ev[1])))
        else:
            samples.append(time_call(fn))
        if budget_s is not None and i + 1 >= min_runs and time.perf_counter() - start >= budget_s:
            break
    return samples, dev


def block_timings(fns: dict[str, Callable[[], Any]], *, runs: int, warmup: int = 3, rounds: int = 1,
                  pause_s: float = 0.2, each_round: Callable[[], Any] | None = None) -> dict[str, dict[str, Any]]:
    """Latency (ms) of each callable measured in blocks: for each round, every callable in turn gets ``warmup``
    discarded runs then ``runs // rounds`` timed ones. Blocks rather than strict interleaving, because thread pools
    (onnxruntime's intra-op threads, OpenMP) spin-wait after a call and would steal the cores from another runtime's
    next call; the pause lets them go idle. ``each_round`` is called at the start of every round (e.g. a
    ``bench.roofline.PeakProbe``, so the CPU's peaks are measured beside the rows). Returns per callable: median,
    min, max, n and each round's median."""
    if runs < 1 or rounds < 1:
        raise ConfigError(f"runs and rounds must be at least 1, got {runs} and {rounds}")
    per = max(1, runs // rounds)
    samples: dict[str, list[float]] = {k: [] for k in fns}
    rounds_ms: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        if each_round is not None:
            time.sleep(max(pause_s, 0.2))  # the previous block's thread pools go idle before the probe measures
            each_round()
        for name, fn in fns.items():
            time.sleep(pause_s)
            for _ in range(warmup):
                fn()
            t = [s * 1e3 for s in timed_runs(fn, per)[0]]
            samples[name] += t
            rounds_ms[name].append(statistics.median(t))
    return {k: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v), "n": len(v),
                "round_medians_ms": rounds_ms[k]} for k, v in samples.items()}


def median_latency_ms(fns: dict[str, Callable[[], Any]], runs: int, warmup: int = 3) -> dict[str, float]:
    """Median latency (ms) of each callable, one block each (see :func:`block_timings`)."""
    return {k: v["median_ms"] for k, v in block_timings(fns, runs=runs, warmup=warmup).items()}


def interleaved_latency_ms(fns: Sequence[Callable[[], Any]], *, runs: int = 20, warmup: int = 3) -> list[float]:
    """Median latency (ms) of each callable, measured interleaved (run i of every callable back to back), for
    callables of the same runtime (e.g. two torch eager models)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            times[i].append(time_call(fn) * 1e3)
    return [statistics.median(t) for t in times]


def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 2) -> float:
    """Median latency (ms) of one callable: ``warmup`` discarded calls, then ``runs`` timed ones back to back."""
    if runs < 1:
        raise ConfigError(f"runs must be at least 1, got {runs}")
    for _ in range(warmup):
        fn()
    return statistics.median(timed_runs(fn, runs)[0]) * 1e3
