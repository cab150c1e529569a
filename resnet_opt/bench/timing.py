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
