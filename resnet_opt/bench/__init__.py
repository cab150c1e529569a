"""Benchmarks: every variant (eager model, TorchScript, ONNX FP32/INT8) on every backend (torch, TorchScript,
onnxruntime; CPU, CUDA, TensorRT) — latency percentiles, throughput, first inference, accuracy or agreement."""

from resnet_opt.bench.backends import BACKENDS, GROUPS, BackendSpec, make_runner, parse_backends, unavailable_reason
from resnet_opt.bench.harness import (
    BatchTiming, BenchConfig, BenchResult, BenchRow, available_backends, choose_reference, run_benchmark,
)
from resnet_opt.bench.report import render_markdown, summary_rows, write_report
from resnet_opt.bench.timing import LatencyStats, TimingConfig
from resnet_opt.bench.variants import (
    Variant, variant_from_depth, variant_from_model, variant_from_path, variants_from_paths,
)

__all__ = [
    "BACKENDS", "GROUPS", "BackendSpec", "make_runner", "parse_backends", "unavailable_reason", "BatchTiming",
    "BenchConfig", "BenchResult", "BenchRow", "available_backends", "choose_reference", "run_benchmark",
    "render_markdown", "summary_rows", "write_report", "LatencyStats", "TimingConfig", "Variant", "variant_from_depth",
    "variant_from_model", "variant_from_path", "variants_from_paths",
]
