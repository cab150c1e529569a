"""The one protocol of the INT8 targets, shared by the quantize and QAT stages.

Every target (quantize: ``onnx``, ``torch`` (PT2E ``.pt2``), ``openvino`` (NNCF), ``torchscript-fx``; QAT: ``onnx``,
``torch``) builds its INT8 file in the stage's work folder from an :class:`Int8Job` and returns an :class:`Int8Build`:
the file, its logits on the stage's eval images, how to time it, FP32 on the same runtime to time beside it, and its
part of the manifest. The stages then judge the logits against FP32, time INT8 at batch 1 beside FP32
(:func:`batch1_latency`), describe the figures (:func:`latency_measurements`) and write the artifact folder
(:func:`write_int8_folder`) the same way.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from resnet_opt.engine.timing import median_latency_ms
from resnet_opt.core.artifact import atomic_dir
from resnet_opt.core.manifest import Manifest, write_manifest

__all__ = ["Int8Job", "Int8Build", "batch1_latency", "latency_measurements", "write_int8_folder", "LATENCY_STATISTIC"]

LATENCY_STATISTIC = "median after 3 warm-up runs, each model's runs back to back, one process"


def _no_extra(_xb: torch.Tensor) -> dict[str, Callable[[], Any]]:
    return {}


@dataclass
class Int8Job:
    """What a quantize target is given: the stage's settings, the fused FP32 model and its input size, the
    calibration reader (training split), the eval images (val split) with their labels and FP32 reference logits,
    the work folder and the INT8 file to write there."""

    cfg: Any
    method: str
    fused: torch.nn.Module
    size: int
    calib: Any
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    fp32_ref: torch.Tensor
    meaningful: bool
    threads: int
    work: Path
    qpath: Path
    progress: bool = False
    say: Callable[[str], None] = field(default=lambda _m: None)


@dataclass
class Int8Build:
    """What every INT8 target returns.

    ``file``: the INT8 model file in the work folder (``companions``: other files of the artifact beside it, as
    (name, role)); ``int8_logits``: its logits on the stage's eval images; ``latency_fn(xb)``: a callable running it
    once on ``xb``; ``extra_latency(xb)``: FP32 on the same runtime (e.g. ``fp32_onnx``), timed beside it;
    ``quant``: the target's facts for the manifest's quantization section; ``fp32_size`` (bytes) with what it
    measures; ``fp32_check``: the FP32 intermediate's max relative difference to PyTorch (None where there is none);
    ``gate``: the accuracy gate's record; ``compile``: the AOTInductor facts of a ``.pt2`` package; ``sections`` and
    ``versions``: more manifest sections and library versions (OpenVINO, NNCF)."""

    file: Path
    what: str
    int8_logits: torch.Tensor
    latency_fn: Callable[[torch.Tensor], Callable[[], Any]]
    quant: dict[str, Any]
    extra_latency: Callable[[torch.Tensor], dict[str, Callable[[], Any]]] = _no_extra
    fp32_size: int | None = None
    fp32_file: str | None = None
    fp32_check: float | None = None
    gate: dict[str, Any] | None = None
    compile: dict[str, Any] | None = None
    companions: list[tuple[str, str]] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        """The INT8 artifact's bytes: the model file and its companions."""
        return self.file.stat().st_size + sum((self.file.parent / n).stat().st_size for n, _ in self.companions)


def batch1_latency(model: torch.nn.Module, build: Int8Build, size: int, runs: int) -> dict[str, float]:
    """Median batch-1 latency (ms) of the FP32 model in torch eager, FP32 on the target's runtime (when the target
    has one) and the INT8 artifact, each timed back to back in this process (one input, seeded)."""
    xb = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))

    def fp32_eager() -> None:
        with torch.inference_mode():
            model(xb)

    return median_latency_ms({"fp32_torch_eager": fp32_eager, **build.extra_latency(xb), "int8": build.latency_fn(xb)},
                             runs)


def latency_measurements(lat: dict[str, float], *, size: int, threads: int, runs: int) -> dict[str, Any]:
    """The manifest's latency figures: every median, how they were taken, and INT8's speed-up over FP32 in torch
    eager and over FP32 on its own runtime (like for like) where that was timed."""
    m: dict[str, Any] = {
        "latency_ms": {**lat, "batch": 1, "input_size": size, "threads": threads, "runs": runs,
                       "statistic": LATENCY_STATISTIC},
        "speedup_int8_vs_fp32_torch_eager": lat["fp32_torch_eager"] / lat["int8"],
    }
    for key in ("fp32_onnx", "fp32_openvino"):
        if key in lat:
            m[f"speedup_int8_vs_{key}"] = lat[key] / lat["int8"]
    return m


def write_int8_folder(out: str | os.PathLike, build: Int8Build, manifest: Manifest) -> Manifest:
    """The artifact folder ``out``: the INT8 file, its companions and the manifest, written atomically (an old
    folder is replaced only when the new one is complete)."""
    with atomic_dir(Path(out)) as tmp:
        shutil.copyfile(build.file, tmp / manifest.file if manifest.file else tmp / build.file.name)
        for name, _ in build.companions:
            shutil.copyfile(build.file.parent / name, tmp / name)
        return write_manifest(tmp, manifest)
