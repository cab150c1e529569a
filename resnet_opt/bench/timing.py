"""Latency measurement: warm-up, timed iterations (a count and/or a time budget), percentiles, throughput."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from resnet_opt.core.errors import ConfigError


@dataclass
class TimingConfig:
    """How each (variant, backend, batch size) cell is timed.

    ``iterations`` timed runs after ``warmup`` untimed ones; with ``time_budget_s`` a cell stops early once the
    budget is spent (but never before ``min_iterations``). ``rounds`` > 1 splits the timed runs into rounds that
    are interleaved across variants, so slow drift of a shared machine hits every variant alike."""

    warmup: int = 5
    iterations: int = 50
    min_iterations: int = 3
    time_budget_s: float | None = 10.0
    rounds: int = 1
    # pause before a runner takes over from another one: onnxruntime's intra-op threads keep spinning for tens of
    # milliseconds after a run, which halves torch's speed on a small machine if the next run starts at once
    settle_s: float = 0.25

    def validate(self) -> None:
        if self.warmup < 0:
            raise ConfigError(f"warm-up runs must be 0 or more, got {self.warmup}")
        if self.iterations < 1:
            raise ConfigError(f"iterations must be at least 1, got {self.iterations}")
        if self.min_iterations < 1:
            raise ConfigError(f"minimum iterations must be at least 1, got {self.min_iterations}")
        if self.time_budget_s is not None:
            from resnet_opt.core.checks import check_float

            check_float("--time-budget", self.time_budget_s, 0.0, 86400.0, lo_open=True)  # NaN: never stops
        if self.rounds < 1:
            raise ConfigError(f"rounds must be at least 1, got {self.rounds}")
        if not self.settle_s >= 0:
            raise ConfigError(f"settle time must be 0 or more, got {self.settle_s}")

    def per_round(self) -> int:
        return max(1, -(-self.iterations // self.rounds))


# a cell whose p90 is this many times its p50, or whose coefficient of variation (std / mean) exceeds
# UNSTABLE_CV, is flagged as unstable: other work shared the cores, or too few runs
UNSTABLE_P90_P50 = 1.25
UNSTABLE_CV = 0.30


@dataclass
class LatencyStats:
    """Latency of one batch (milliseconds) and throughput (images per second, from the median: one slow outlier
    does not drag it down). ``cv`` is the coefficient of variation (std / mean); ``unstable`` flags a cell whose
    spread (p90 / p50 or cv) says the machine was busy or the run too short."""

    batch_size: int
    iterations: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    throughput_ips: float
    device_p50_ms: float | None = None  # median CUDA-event time of a run (torch backends on CUDA)
    cv: float | None = None  # std / mean
    unstable: bool = False

    @property
    def spread(self) -> float | None:
        """p90 / p50 (1.0 = every run alike)."""
        return self.p90_ms / self.p50_ms if self.p50_ms > 0 else None

    @classmethod
    def from_samples(cls, samples_s: list[float], batch_size: int,
                     device_samples_ms: list[float] | None = None) -> "LatencyStats":
        if not samples_s:
            raise ValueError("no timing samples")
        a = np.asarray(samples_s, dtype=np.float64) * 1e3
        p50, p90, p99 = (float(v) for v in np.percentile(a, [50, 90, 99]))
        mean = float(a.mean())
        dev = float(np.median(device_samples_ms)) if device_samples_ms else None
        std = float(a.std())
        cv = std / mean if mean > 0 else 0.0
        unstable = bool(a.size >= 3 and ((p50 > 0 and p90 / p50 > UNSTABLE_P90_P50) or cv > UNSTABLE_CV))
        return cls(batch_size=batch_size, iterations=int(a.size), mean_ms=mean, p50_ms=p50, p90_ms=p90, p99_ms=p99,
                   min_ms=float(a.min()), max_ms=float(a.max()), std_ms=std,
                   throughput_ips=batch_size * 1e3 / p50 if p50 > 0 else float("inf"), device_p50_ms=dev,
                   cv=cv, unstable=unstable)


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
            import torch

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
    import statistics

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
    import statistics

    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            times[i].append(time_call(fn) * 1e3)
    return [statistics.median(t) for t in times]
