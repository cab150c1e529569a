"""Hardware-aware pruning: which channel multiple (``round_to``) suits this CPU's convolution kernels, and the
latency of a model as it will be deployed (runtime + precision), measured here: onnxruntime, OpenVINO (the same
ONNX / QDQ file, latency targets only) or torch eager.

``choose_round_to`` times one 3×3 convolution per candidate multiple (8, 16, 32, 64) on the chosen runtime and
precision — onnxruntime FP32 ``Conv``, onnxruntime INT8 ``QLinearConv`` (U8 activations, S8 weights, the kernel behind
our QDQ artifacts) or torch eager FP32 — at a channel count that is a multiple of that candidate but not of the next
one (104 = 8·13, 112 = 16·7, 96 = 32·3, 128 = 64·2), and compares throughput (GMAC/s, so the different sizes are
comparable). It picks the *smallest* multiple whose throughput is within ``tolerance`` (10 %) of the best: a small
multiple keeps the pruned widths closest to what importance asks for, a larger one only where the kernel runs
clearly faster on it (e.g. AVX-512/VNNI blocks of 16 or AMX tiles of 32/64). Results are cached per CPU, ISA,
threads, runtime, precision and spatial size, beside the roofline cache.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resnet_opt.core.errors import BackendUnavailableError, ConfigError
from resnet_opt.engine.timing import median_ms

CANDIDATES = (8, 16, 32, 64)
RUNTIMES = ("onnxruntime", "openvino", "torch")
# runtimes whose kernels choose_round_to can probe; OpenVINO is a latency target only (see check_round_to_auto)
ROUND_TO_RUNTIMES = ("onnxruntime", "torch")
PRECISIONS = ("fp32", "int8")
CACHE_FILE = "round_to.json"
_CHANNELS = {8: 104, 16: 112, 32: 96, 64: 128}


@dataclass
class KernelTiming:
    multiple: int
    channels: int
    ms: float
    gmacs_per_s: float


@dataclass
class RoundToChoice:
    round_to: int
    runtime: str
    precision: str
    spatial: int
    threads: int
    tolerance: float
    timings: list[KernelTiming] = field(default_factory=list)
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_target(runtime: str, precision: str) -> tuple[str, str]:
    rt, pr = str(runtime).strip().lower(), str(precision).strip().lower()
    if rt not in RUNTIMES:
        raise ConfigError(f"unknown target runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    if pr not in PRECISIONS:
        raise ConfigError(f"unknown target precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if rt == "torch" and pr == "int8":
        raise ConfigError("torch eager INT8 is not a pruning target; use onnxruntime int8 (the quantize stage's "
                          "QDQ ONNX) or torch fp32")
    if rt == "openvino":
        from resnet_opt.engine.openvino_session import openvino_unavailable_reason

        why = openvino_unavailable_reason()
        if why:
            raise BackendUnavailableError(f"--target-runtime openvino: {why}")
    return rt, pr


def check_round_to_auto(runtime: str) -> None:
    """``--round-to auto`` probes the target runtime's 3x3 kernels; not offered for OpenVINO. Measured
    (2026-12-07, Zen 5): its u8 QDQ probe ran the 128-channel candidate fastest per MAC, so auto would pick 64, and
    a ResNet-50 pruned 0.5 with widths rounded to 64 ran on OpenVINO at the same share of the INT8 peak as the
    default rounding but 1.34x slower (the probe's candidates differ in size, and bigger layers amortize OpenVINO's
    per-layer cost better)."""
    if runtime not in ROUND_TO_RUNTIMES:
        raise ConfigError(f"--round-to auto is measured on {' or '.join(ROUND_TO_RUNTIMES)} kernels, not {runtime}: "
                          "give --round-to N (the default 8 suits OpenVINO's INT8 kernels as well as any: rounding "
                          "to 64 made a pruned ResNet-50 1.34x slower there)")


def _conv_onnx(c: int, hw: int, precision: str) -> tuple[bytes, np.ndarray]:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if precision == "fp32":
        w = numpy_helper.from_array(rng.standard_normal((c, c, 3, 3)).astype(np.float32), "W")
        node = helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1, 1, 1])
        inits, it, ot = [w], TensorProto.FLOAT, TensorProto.FLOAT
        x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
    else:
        inits = [numpy_helper.from_array(rng.integers(-64, 64, (c, c, 3, 3)).astype(np.int8), "W"),
                 numpy_helper.from_array(np.array(0.02, np.float32), "xs"),
                 numpy_helper.from_array(np.array(128, np.uint8), "xz"),
                 numpy_helper.from_array(np.full((c,), 0.01, np.float32), "ws"),
                 numpy_helper.from_array(np.zeros((c,), np.int8), "wz"),
                 numpy_helper.from_array(np.array(0.05, np.float32), "ys"),
                 numpy_helper.from_array(np.array(128, np.uint8), "yz")]
        node = helper.make_node("QLinearConv", ["x", "xs", "xz", "W", "ws", "wz", "ys", "yz"], ["y"], pads=[1, 1, 1, 1])
        it, ot = TensorProto.UINT8, TensorProto.UINT8
        x = rng.integers(0, 256, (1, c, hw, hw)).astype(np.uint8)
    g = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", it, [1, c, hw, hw])],
                          [helper.make_tensor_value_info("y", ot, [1, c, hw, hw])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString(), x


def time_conv(channels: int, spatial: int, runtime: str, precision: str, threads: int, runs: int = 20) -> float:
    """Median ms of one 3×3, stride-1 ``channels → channels`` convolution at ``spatial``² on the target
    (``threads``: onnxruntime intra-op threads; torch uses its current thread setting)."""
    runtime, precision = check_target(runtime, precision)
    check_round_to_auto(runtime)
    if runtime == "torch":
        import torch
        import torch.nn.functional as F

        x = torch.randn(1, channels, spatial, spatial)
        w = torch.randn(channels, channels, 3, 3)
        with torch.inference_mode():
            return median_ms(lambda: F.conv2d(x, w, padding=1), runs)
    from resnet_opt.engine.onnx_session import ort_session

    model, x = _conv_onnx(channels, spatial, precision)
    sess = ort_session(model, threads=threads)
    return median_ms(lambda: sess.run(None, {"x": x}), runs)


def _cache_path() -> Path:
    from resnet_opt.core.env import cache_dir  # the same folder as the roofline's GEMM peaks

    return Path(cache_dir()) / CACHE_FILE


def choose_round_to(runtime: str = "onnxruntime", precision: str = "int8", *, spatial: int = 14,
                    threads: int | None = None, candidates: tuple[int, ...] = CANDIDATES, tolerance: float = 0.10,
                    runs: int = 20, cache: bool = True) -> RoundToChoice:
    """The smallest channel multiple whose 3×3 conv throughput on the target is within ``tolerance`` of the best
    candidate's (cached)."""
    runtime, precision = check_target(runtime, precision)
    check_round_to_auto(runtime)
    threads = int(threads or os.cpu_count() or 1)
    cands = tuple(sorted(set(int(c) for c in candidates)))
    if not cands or any(c not in _CHANNELS for c in cands):
        raise ConfigError(f"round_to candidates must be among {', '.join(map(str, CANDIDATES))}, got {candidates}")
    if not 0.0 <= tolerance < 1.0 or spatial < 1 or runs < 1:
        raise ConfigError("tolerance must be in [0, 1), spatial and runs at least 1")
    from resnet_opt.core.env import machine_key

    key = f"{machine_key(threads)}|{runtime}|{precision}|hw={spatial}|{','.join(map(str, cands))}|tol={tolerance}"
    path = _cache_path()
    if cache:
        try:
            entry = json.loads(path.read_text()).get(key)
        except (OSError, ValueError):
            entry = None
        if entry:
            ch = RoundToChoice(**{**entry, "timings": [KernelTiming(**t) for t in entry["timings"]]})
            ch.cached = True
            return ch
    timings = []
    for m in cands:
        c = _CHANNELS[m]
        ms = time_conv(c, spatial, runtime, precision, threads, runs)
        timings.append(KernelTiming(m, c, ms, c * c * 9 * spatial * spatial / (ms * 1e-3) / 1e9))
    best = max(t.gmacs_per_s for t in timings)
    chosen = next(t.multiple for t in timings if t.gmacs_per_s >= (1 - tolerance) * best)
    choice = RoundToChoice(round_to=chosen, runtime=runtime, precision=precision, spatial=spatial, threads=threads,
                           tolerance=tolerance, timings=timings)
    if cache:
        try:
            data = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            data = {}
        data[key] = {k: v for k, v in choice.to_dict().items() if k != "cached"}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(tmp, path)
        except OSError:
            pass
    return choice


__all__ = ["CANDIDATES", "RUNTIMES", "ROUND_TO_RUNTIMES", "PRECISIONS", "KernelTiming", "RoundToChoice", "check_target",
           "check_round_to_auto", "time_conv", "choose_round_to"]
