"""Benchmark timing: how each cell is timed (:class:`TimingConfig`) and its statistics (:class:`LatencyStats`).
The timer itself is ``engine.timing`` (re-exported here for the benchmark's callers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resnet_opt.core.errors import ConfigError
from resnet_opt.engine.timing import (  # noqa: F401 - the timer, re-exported
    block_timings, interleaved_latency_ms, median_latency_ms, median_ms, time_call, timed_runs,
)


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
    round_p50_ms: list[float] | None = None  # each interleaved round's median, in order (None with one round)

    @property
    def spread(self) -> float | None:
        """p90 / p50 (1.0 = every run alike)."""
        return self.p90_ms / self.p50_ms if self.p50_ms > 0 else None

    @classmethod
    def from_samples(cls, samples_s: list[float], batch_size: int, device_samples_ms: list[float] | None = None,
                     round_p50_ms: list[float] | None = None) -> "LatencyStats":
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
                   cv=cv, unstable=unstable,
                   round_p50_ms=[float(v) for v in round_p50_ms] if round_p50_ms and len(round_p50_ms) > 1 else None)


def sign_test_p(above: int, n: int) -> float:
    """One-sided sign test: the chance of ``above`` or more of ``n`` rounds on one side when both sides are equally
    likely (no real difference)."""
    from math import comb

    return sum(comb(n, k) for k in range(above, n + 1)) / 2 ** n if n else 1.0


def paired_verdict(ratios: list[float], limit: float = 1.0, alpha: float = 0.05,
                   low: float | None = None) -> bool | None:
    """Is a paired per-round ratio (e.g. ours / peer, each round timing both back to back) at most ``limit`` (and,
    with ``low``, at least ``low``)? True when the median of the rounds' ratios is; False when it is out of bounds in
    so many rounds, on the side its median is, that a drifting machine would do that by chance less than ``alpha`` of
    the time (one-sided sign test); None when neither: a tie within the run's noise, which a yes/no would misreport.
    Single-round data: the plain comparison."""
    r = [float(x) for x in ratios if x == x]
    if not r:
        return None
    med = float(np.median(r))
    if med <= limit and (low is None or med >= low):
        return True
    if len(r) == 1:
        return False
    out = sum(x > limit for x in r) if med > limit else sum(x < low for x in r)  # type: ignore[operator]
    return False if sign_test_p(out, len(r)) < alpha else None


def verdict_word(verdict: bool | None) -> str:
    """How a report's table words :func:`paired_verdict`'s answer."""
    return "yes" if verdict else ("**no**" if verdict is False else "tie (within the run's noise)")
