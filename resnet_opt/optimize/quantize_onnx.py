"""Static INT8 post-training quantization of an ONNX FILE with onnxruntime.quantization (QDQ format).

FP32 ``.onnx`` in, INT8 ``.onnx`` out:

1. :func:`preprocess` - onnxruntime's ``quant_pre_process`` (symbolic shape inference + graph optimization);
2. :func:`calibrate` - run real images through onnxruntime's calibrator (minmax, percentile or entropy), fed by a
   :class:`ImageDataReader` built from a torch DataLoader; the tensor ranges go to a JSON cache, so the model can be
   re-quantized (other excluded layers, sensitivity probes) without calibrating again;
3. :func:`quantize_from_cache` - ``quantize_static`` in QDQ format, per-channel signed INT8 weights, activation type
   and ``reduce_range`` chosen from the CPU's instruction set by :func:`choose_quant_types` and recorded;
4. accuracy-gated mode: :func:`rank_sensitivity` (each Conv/Gemm quantized alone, logit error vs FP32) and
   :func:`gate_accuracy` (keep the most sensitive layers in FP32 through ``nodes_to_exclude``, one at a time, until
   the top-1 drop is within budget).

Builds only on core + the bottom layer (never imports resnet_opt.export / runtime).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from resnet_opt.core.artifact import work_dir
from resnet_opt.core.errors import AccuracyBudgetError, ConfigError, QuantizationError, first_line
from resnet_opt.engine.progress import progress_iter

__all__ = [
    "METHODS", "DEFAULT_METHOD", "TypeChoice", "OnnxQuantConfig", "ImageDataReader", "GateResult", "OnnxQuantResult",
    "choose_quant_types", "preprocess", "calibrate", "quantize_from_cache", "quantize_onnx", "quantizable_nodes",
    "node_to_module", "qdq_summary", "rank_sensitivity", "gate_accuracy", "ort_session", "run_onnx",
]

METHODS = ("minmax", "percentile", "entropy")
DEFAULT_METHOD = "percentile"
ACTIVATION_TYPES = ("uint8", "int8")
LAYER_OPS = ("Conv", "Gemm", "MatMul")  # the nodes with weights: the "layers" the gated mode may keep in FP32


def _ort_method(method: str):
    from onnxruntime.quantization import CalibrationMethod

    m = check_method(method)
    return {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}[m]


def check_method(method: str) -> str:
    m = str(method).strip().lower()
    if m not in METHODS:
        raise ConfigError(f"unknown calibration method {method!r}; valid for the ONNX target: {', '.join(METHODS)}")
    return m


def _qtype(name: str):
    from onnxruntime.quantization import QuantType

    return {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}[name]


# ---------------------------------------------------------------- type choice
@dataclass
class TypeChoice:
    """Activation / weight types and ``reduce_range``, and why (recorded in the manifest)."""

    activation_type: str  # "uint8" | "int8"
    weight_type: str  # "int8"
    reduce_range: bool
    reason: str
    isa: dict[str, Any] = field(default_factory=dict)


def choose_quant_types(cpu: dict[str, Any] | None = None, *, activation_type: str | None = None,
                       reduce_range: bool | None = None) -> TypeChoice:
    """Pick the QDQ types from the CPU's instruction set, following onnxruntime's guidance for CPU inference
    (``quantize_static`` docstring, onnxruntime 1.31):

    * x86-64 with VNNI (AVX512-VNNI / AVX-VNNI) or AMX: uint8 activations, int8 weights, ``reduce_range=False``;
    * x86-64 without VNNI: uint8 activations, int8 weights, ``reduce_range=True`` (7-bit weights: the AVX2 u8s8 kernel
      multiplies pairs into saturating int16, VNNI accumulates in int32);
    * ARM: int8 activations and weights, ``reduce_range=False``.

    Explicit ``activation_type`` / ``reduce_range`` override the choice (and say so in ``reason``)."""
    if cpu is None:
        from resnet_opt.core.env import cpu_info

        cpu = cpu_info()
    flags = dict(cpu.get("flags") or {})
    vnni, amx = bool(cpu.get("vnni")), bool(cpu.get("amx"))
    machine = str(cpu.get("machine") or platform.machine()).lower()
    isa = {"machine": machine, "vnni": vnni, "amx": amx, "avx2": bool(flags.get("avx2")),
           "avx512f": bool(flags.get("avx512f"))}
    if machine in ("aarch64", "arm64"):
        act, rr = "int8", False
        reason = "ARM CPU: onnxruntime recommends int8 activations and int8 weights without range reduction"
    elif vnni or amx:
        act, rr = "uint8", False
        which = "AMX" if amx else "VNNI"
        reason = (f"x86-64 with {which}: onnxruntime recommends uint8 activations, int8 weights and no range reduction "
                  "(VNNI accumulates 8-bit products in int32 without saturation)")
    else:
        act, rr = "uint8", True
        reason = ("x86-64 without VNNI: onnxruntime recommends uint8 activations, int8 weights and reduce_range=True "
                  "(7-bit weights), because the AVX2 u8s8 kernel sums pairs of 8-bit products in saturating int16")
    if activation_type is not None:
        a = str(activation_type).lower()
        if a not in ACTIVATION_TYPES:
            raise ConfigError(f"unknown activation type {activation_type!r}; valid: {', '.join(ACTIVATION_TYPES)}")
        if a != act:
            reason += f"; activation type overridden to {a}"
        act = a
    if reduce_range is not None:
        if bool(reduce_range) != rr:
            reason += f"; reduce_range overridden to {bool(reduce_range)}"
        rr = bool(reduce_range)
    return TypeChoice(activation_type=act, weight_type="int8", reduce_range=rr, reason=reason, isa=isa)


# ---------------------------------------------------------------- config / results
@dataclass
class OnnxQuantConfig:
    method: str = DEFAULT_METHOD
    per_channel: bool = True
    activation_type: str | None = None  # None: from the CPU (choose_quant_types)
    reduce_range: bool | None = None  # None: from the CPU
    percentile: float = 99.999  # percentile method only
    preprocess: bool = True  # onnxruntime quant_pre_process before calibration
    calib_chunk: int = 16  # images whose intermediate tensors are held in memory at once during calibration

    def validate(self) -> None:
        check_method(self.method)
        if self.activation_type is not None and str(self.activation_type).lower() not in ACTIVATION_TYPES:
            raise ConfigError(f"unknown activation type {self.activation_type!r}; valid: {', '.join(ACTIVATION_TYPES)}")
        if not 0.0 < self.percentile <= 100.0:
            raise ConfigError(f"percentile must be in (0, 100], got {self.percentile}")
        if self.calib_chunk < 1:
            raise ConfigError(f"calibration chunk must be at least 1, got {self.calib_chunk}")


@dataclass
class OnnxQuantResult:
    path: Path
    settings: dict[str, Any]
    cache_path: Path
    preprocessed_path: Path
    calibration_images: int
    calibration_seconds: float
    nodes_to_exclude: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- calibration data
class _Items:
    """CalibrationDataReader over a list of input dicts (one calibration chunk)."""

    def __init__(self, items: list[dict[str, np.ndarray]]):
        self._it = iter(items)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def _as_reader(items):
    from onnxruntime.quantization import CalibrationDataReader

    class _R(_Items, CalibrationDataReader):
        pass

    return _R(items)


class ImageDataReader:
    """Calibration images from a torch DataLoader (or any iterable of ``(images, labels)`` / image tensors / arrays),
    held as float32 numpy arrays and fed to onnxruntime one image per run.

    ``limit`` caps the number of images; a loader that yields nothing raises a QuantizationError."""

    def __init__(self, loader: Iterable, *, input_name: str = "input", limit: int | None = None,
                 source: str = "calibration"):
        self.source = source  # what the images are, for messages: "training" (a labelled spec's train split), "synthetic"
        imgs: list[np.ndarray] = []
        for batch in loader:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            if arr.ndim == 3:
                arr = arr[None]
            if arr.ndim != 4:
                raise QuantizationError(f"calibration images must be N×C×H×W, got shape {arr.shape}")
            for i in range(arr.shape[0]):
                imgs.append(arr[i:i + 1])
                if limit is not None and len(imgs) >= limit:
                    break
            if limit is not None and len(imgs) >= limit:
                break
        if not imgs:
            raise QuantizationError("no calibration images: the calibration data is empty")
        self.input_name = input_name
        self.images = imgs

    def __len__(self) -> int:
        return len(self.images)

    def batches(self, n: int) -> np.ndarray:
        """The first ``n`` images as one array (for sensitivity probes)."""
        return np.concatenate(self.images[: max(1, n)], axis=0)

    def items(self) -> list[dict[str, np.ndarray]]:
        return [{self.input_name: a} for a in self.images]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime.quantization prints to stdout and logs warnings; keep the CLI output ours."""
    import onnxruntime as ort

    logger = logging.getLogger()
    level = logger.level
    ort.set_default_logger_severity(3)
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
        ort.set_default_logger_severity(2)  # onnxruntime's default (warnings)



# ---------------------------------------------------------------- the steps
def preprocess(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """onnxruntime's ``quant_pre_process``: symbolic shape inference and graph optimization (BN folding, constant
    folding) so calibration and quantization see the final graph."""
    from onnxruntime.quantization import quant_pre_process

    src, dst = Path(src), Path(dst)
    _check_onnx(src)
    try:
        with _quiet():
            quant_pre_process(str(src), str(dst))
    except Exception as e:  # noqa: BLE001
        raise QuantizationError(f"onnxruntime quant_pre_process failed on {src.name}: {first_line(e)}") from e
    return dst


def _check_onnx(path: Path) -> None:
    import onnx

    if not path.is_file():
        raise QuantizationError(f"ONNX model {path} does not exist")
    try:
        onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf decode errors
        raise QuantizationError(f"{path} is not an ONNX model: {first_line(e)}") from e


def _op_types() -> list[str]:
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def calibrate(model_path: str | os.PathLike, data: ImageDataReader, cache_path: str | os.PathLike, *,
              method: str = DEFAULT_METHOD, percentile: float = 99.999, chunk: int = 16,
              progress: bool = False) -> Path:
    """Run the calibration images through onnxruntime's calibrator and save the tensor ranges to ``cache_path``
    (onnxruntime's JSON calibration cache, reusable by ``quantize_static(calibration_cache_path=...)``).

    Images go through in chunks of ``chunk`` so only that many images' intermediate tensors are held at once."""
    from onnxruntime.quantization import TensorsData, create_calibrator, save_tensors_data

    m = check_method(method)
    extra: dict[str, Any] = {}
    if m == "percentile":
        extra["percentile"] = float(percentile)
    items = data.items()
    cache_path = Path(cache_path)
    try:
        with work_dir("calib") as td, _quiet():
            cal = create_calibrator(Path(model_path), _op_types(), augmented_model_path=str(Path(td) / "augmented.onnx"),
                                    calibrate_method=_ort_method(m), extra_options=extra)
            try:
                it = progress_iter(items, description=f"calibrating ({m})", enabled=progress)
                while True:
                    block = [x for _, x in zip(range(chunk), it)]
                    if not block:
                        break
                    cal.collect_data(_as_reader(block))
                ranges = cal.compute_data()
            finally:
                with contextlib.suppress(Exception):
                    del cal
            if not isinstance(ranges, TensorsData):
                raise QuantizationError(f"calibration returned {type(ranges).__name__}, not tensor ranges")
            save_tensors_data(ranges, cache_path)
    except (QuantizationError, ConfigError):
        raise
    except Exception as e:  # noqa: BLE001 - onnxruntime raises many types
        raise QuantizationError(f"calibration ({m}) failed: {first_line(e)}") from e
    return cache_path


def quantize_from_cache(model_path: str | os.PathLike, out_path: str | os.PathLike, cache_path: str | os.PathLike, *,
                        method: str, types: TypeChoice, per_channel: bool = True,
                        nodes_to_exclude: Sequence[str] | None = None,
                        nodes_to_quantize: Sequence[str] | None = None) -> Path:
    """``quantize_static`` in QDQ format from a calibration cache (no calibration run)."""
    from onnxruntime.quantization import QuantFormat, quantize_static

    try:
        with _quiet():
            quantize_static(str(model_path), str(out_path), None, quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, reduce_range=types.reduce_range,
                            activation_type=_qtype(types.activation_type), weight_type=_qtype(types.weight_type),
                            nodes_to_quantize=list(nodes_to_quantize or []), nodes_to_exclude=list(nodes_to_exclude or []),
                            calibrate_method=_ort_method(method), calibration_cache_path=str(cache_path))
    except Exception as e:  # noqa: BLE001
        raise QuantizationError(f"onnxruntime quantize_static failed: {first_line(e)}") from e
    return Path(out_path)


def quantize_onnx(fp32_path: str | os.PathLike, out_path: str | os.PathLike, data: ImageDataReader,
                  config: OnnxQuantConfig | None = None, *, workdir: str | os.PathLike | None = None,
                  nodes_to_exclude: Sequence[str] | None = None, types: TypeChoice | None = None,
                  progress: bool = False) -> OnnxQuantResult:
    """FP32 ONNX file -> INT8 QDQ ONNX file: pre-process, calibrate on ``data``, quantize.

    The pre-processed model (``fp32_preprocessed.onnx``) and the calibration cache (``calibration_<method>.json``) are
    written to ``workdir`` (default: beside ``out_path``) and returned, so the model can be re-quantized without
    calibrating again (:func:`gate_accuracy`, :func:`rank_sensitivity`)."""
    cfg = config or OnnxQuantConfig()
    cfg.validate()
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    _check_onnx(fp32_path)
    types = types or choose_quant_types(activation_type=cfg.activation_type, reduce_range=cfg.reduce_range)
    work = Path(workdir) if workdir is not None else out_path.parent
    work.mkdir(parents=True, exist_ok=True)
    pre = work / "fp32_preprocessed.onnx"
    if cfg.preprocess:
        preprocess(fp32_path, pre)
    else:
        shutil.copyfile(fp32_path, pre)
    cache = work / f"calibration_{cfg.method}.json"
    t0 = time.perf_counter()
    calibrate(pre, data, cache, method=cfg.method, percentile=cfg.percentile, chunk=cfg.calib_chunk, progress=progress)
    secs = time.perf_counter() - t0
    excl = list(nodes_to_exclude or [])
    quantize_from_cache(pre, out_path, cache, method=cfg.method, types=types, per_channel=cfg.per_channel,
                        nodes_to_exclude=excl)
    return OnnxQuantResult(path=out_path, settings=settings_dict(cfg, types), cache_path=cache,
                           preprocessed_path=pre, calibration_images=len(data), calibration_seconds=secs,
                           nodes_to_exclude=excl)


def settings_dict(cfg: OnnxQuantConfig, types: TypeChoice) -> dict[str, Any]:
    d = {
        "format": "QDQ",
        "tool": "onnxruntime.quantization.quantize_static",
        "preprocess": "onnxruntime.quantization.quant_pre_process" if cfg.preprocess else None,
        "method": cfg.method,
        "per_channel": cfg.per_channel,
        "weight_type": types.weight_type,
        "weight_symmetric": True,
        "activation_type": types.activation_type,
        "reduce_range": types.reduce_range,
        "type_choice_reason": types.reason,
        "isa": types.isa,
    }
    if cfg.method == "percentile":
        d["percentile"] = cfg.percentile
    return d


# ---------------------------------------------------------------- inspection
def quantizable_nodes(path: str | os.PathLike, op_types: Sequence[str] = LAYER_OPS) -> list[str]:
    """Names of the nodes with weights (Conv / Gemm / MatMul) in graph order: the layers gating can keep FP32."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    return [n.name for n in m.graph.node if n.op_type in op_types]


def node_to_module(name: str) -> str:
    """``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1`` (torch module path from the exporter's scope name)."""
    parts = [p for p in str(name).split("/") if p]
    if len(parts) <= 1:
        return str(name)
    out: list[str] = []
    for p in parts[:-1]:
        if out and p.startswith(out[-1] + "."):
            out[-1] = p
        else:
            out.append(p)
    return ".".join(out)


def qdq_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Op counts of a QDQ model and the layers whose weights are quantized (DequantizeLinear on an initializer)."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    g = m.graph
    inits = {i.name for i in g.initializer}
    ops = Counter(n.op_type for n in g.node)
    dq_of_weight = {n.output[0] for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    q_layers, fp_layers = [], []
    for n in g.node:
        if n.op_type in LAYER_OPS:
            (q_layers if len(n.input) > 1 and n.input[1] in dq_of_weight else fp_layers).append(n.name)
    int8_bytes = sum(len(i.raw_data) for i in g.initializer if i.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8))
    return {"op_counts": dict(sorted(ops.items())), "quantized_layers": len(q_layers), "fp32_layers": fp_layers,
            "quantize_linear": ops.get("QuantizeLinear", 0), "dequantize_linear": ops.get("DequantizeLinear", 0),
            "int8_weight_bytes": int8_bytes}


# ---------------------------------------------------------------- running
def ort_session(path_or_bytes: str | os.PathLike | bytes, *, threads: int | None = None):
    """A CPU onnxruntime session (engine's one factory: all graph optimizations, which the QDQ -> QLinear* fusions
    need); a model onnxruntime cannot load is a QuantizationError."""
    from resnet_opt.engine.onnx_session import ort_session as make_session

    try:
        return make_session(path_or_bytes, threads=threads or None)
    except Exception as e:  # noqa: BLE001
        raise QuantizationError(f"onnxruntime cannot load the model: {first_line(e)}") from e


def run_onnx(sess, x: np.ndarray, batch: int = 64) -> np.ndarray:
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: np.ascontiguousarray(x[i:i + batch], dtype=np.float32)})[0]
            for i in range(0, len(x), batch)]
    return np.concatenate(outs, axis=0)


# ---------------------------------------------------------------- sensitivity + gating
def _rel_err(ref: np.ndarray, out: np.ndarray) -> float:
    """Mean squared logit error over the FP32 logits' variance (noise-to-signal; 0 = identical)."""
    ref = ref.astype(np.float64)
    return float(np.mean((out.astype(np.float64) - ref) ** 2) / max(float(np.var(ref)), 1e-12))


def rank_sensitivity(model_path: str | os.PathLike, cache_path: str | os.PathLike, sample: np.ndarray, *,
                     method: str, types: TypeChoice, per_channel: bool = True,
                     candidates: Sequence[str] | None = None, threads: int | None = None,
                     progress: bool = False) -> list[tuple[str, float]]:
    """Quantization sensitivity of each layer: the layer quantized ALONE (its weights and input activation, everything
    else FP32), scored by the logit error against FP32 on ``sample`` (calibration images, never eval images).

    Returns ``[(node name, score)]`` most sensitive first. Cost: one re-quantization from the calibration cache and one
    run over ``sample`` per layer."""
    cands = list(candidates) if candidates is not None else quantizable_nodes(model_path)
    ref = run_onnx(ort_session(model_path, threads=threads), sample)
    scores: list[tuple[str, float]] = []
    with work_dir("sens") as td:
        probe = Path(td) / "probe.onnx"
        for name in progress_iter(cands, description="ranking layer sensitivity", enabled=progress):
            quantize_from_cache(model_path, probe, cache_path, method=method, types=types, per_channel=per_channel,
                                nodes_to_quantize=[name])
            out = run_onnx(ort_session(probe, threads=threads), sample)
            scores.append((name, _rel_err(ref, out)))
    scores.sort(key=lambda t: (-t[1], t[0]))
    return scores


@dataclass
class GateResult:
    budget: float
    fp32_top1: float
    int8_top1: float
    drop: float
    excluded: list[str]
    steps: list[dict[str, Any]]
    ranking: list[tuple[str, float]]
    max_excluded: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["excluded_layers"] = [node_to_module(n) for n in self.excluded]
        d["ranking"] = [{"node": n, "layer": node_to_module(n), "score": s} for n, s in self.ranking]
        return d


def default_max_excluded(n_layers: int) -> int:
    """At most a quarter of the layers may stay FP32 (beyond that it is not an INT8 model any more)."""
    return max(1, math.ceil(0.25 * n_layers))


def gate_accuracy(model_path: str | os.PathLike, out_path: str | os.PathLike, cache_path: str | os.PathLike, *,
                  method: str, types: TypeChoice, per_channel: bool, budget: float, fp32_top1: float,
                  int8_top1: float, evaluate_top1: Callable[[Path], float], sample: np.ndarray,
                  max_excluded: int | None = None, threads: int | None = None,
                  progress: bool = False, log: Callable[[str], None] | None = None) -> GateResult:
    """Keep the most quantization-sensitive layers in FP32, one at a time, until the top-1 drop
    (``fp32_top1 - int8_top1``, points) is at most ``budget``; ``out_path`` then holds that model.

    ``evaluate_top1(path)`` measures a candidate INT8 model's top-1 on the labelled eval data. Raises
    AccuracyBudgetError when the budget is still exceeded after ``max_excluded`` layers (default: a quarter of them)."""
    if budget < 0 or not math.isfinite(budget):
        raise ConfigError(f"--max-accuracy-drop must be a non-negative number of top-1 points, got {budget}")
    say = log or (lambda _m: None)
    drop = fp32_top1 - int8_top1
    steps = [{"excluded": 0, "int8_top1": int8_top1, "drop": drop}]
    if drop <= budget:
        return GateResult(budget, fp32_top1, int8_top1, drop, [], steps, [], max_excluded or 0)
    layers = quantizable_nodes(model_path)
    cap = default_max_excluded(len(layers)) if max_excluded is None else int(max_excluded)
    if cap < 0:
        raise ConfigError(f"--max-excluded must be at least 0, got {cap}")
    if cap > 0:
        say(f"top-1 drop {drop:.2f} points > budget {budget:.2f}: ranking {len(layers)} layers by sensitivity")
    ranking = rank_sensitivity(model_path, cache_path, sample, method=method, types=types, per_channel=per_channel,
                               candidates=layers, threads=threads, progress=progress) if cap > 0 else []
    excluded: list[str] = []
    top1 = int8_top1
    for name, _score in ranking[:cap]:
        excluded.append(name)
        quantize_from_cache(model_path, out_path, cache_path, method=method, types=types, per_channel=per_channel,
                            nodes_to_exclude=excluded)
        top1 = float(evaluate_top1(Path(out_path)))
        drop = fp32_top1 - top1
        steps.append({"excluded": len(excluded), "layer": node_to_module(name), "node": name, "int8_top1": top1,
                      "drop": drop})
        say(f"  kept {node_to_module(name)} in FP32: INT8 top-1 {top1:.2f}% (drop {drop:.2f})")
        if drop <= budget:
            return GateResult(budget, fp32_top1, top1, drop, excluded, steps, ranking, cap)
    kept = ", ".join(node_to_module(n) for n in excluded) or "none"
    raise AccuracyBudgetError(
        f"cannot meet --max-accuracy-drop {budget:g}: top-1 drop is still {drop:.2f} points (FP32 {fp32_top1:.2f}%, "
        f"INT8 {top1:.2f}%) with {len(excluded)} of {len(layers)} layers kept in FP32 (limit {cap}; kept: {kept})")
