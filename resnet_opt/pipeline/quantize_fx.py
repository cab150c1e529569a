"""The quantize stage's ``torchscript-fx`` target (legacy): torch.ao FX x86 INT8, traced and frozen into a
TorchScript file ``model_int8.ts`` (both APIs are deprecated upstream; kept while torch ships them).

Registered by kind ``torchscript`` (:mod:`resnet_opt.core.kinds.torchscript`); called by
:func:`resnet_opt.pipeline.quantize.quantize_model` with an :class:`~resnet_opt.pipeline.int8_build.Int8Job`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from resnet_opt.engine import batched_logits
from resnet_opt.pipeline.int8_build import Int8Build, Int8Job

__all__ = ["torchscript_fx_target"]


def torchscript_fx_target(job: Int8Job) -> Int8Build:
    """``torchscript-fx`` (legacy): torch.ao FX INT8 (x86), frozen into a TorchScript file."""
    from resnet_opt.optimize.quantize_torch import quantize_torch, to_torchscript, torch_settings

    calib = job.calib
    job.say(f"quantizing: torch.ao FX x86, {job.method} observers, {len(calib)} calibration images ...")
    t0 = time.perf_counter()
    batches = [torch.from_numpy(calib.batches(len(calib))[i:i + 16]) for i in range(0, len(calib), 16)]
    q = quantize_torch(job.fused, batches, method=job.method, input_size=job.size, progress=job.progress)
    secs = time.perf_counter() - t0
    ts = to_torchscript(q, job.qpath, input_size=job.size)
    int8_logits = batched_logits(ts, job.x_eval, progress=job.progress, description="evaluating INT8")
    fp32_path = job.work / "model_fp32.ts"
    to_torchscript(job.fused, fp32_path, input_size=job.size, freeze=False)
    qinfo = {**torch_settings(job.method), "calibration_seconds": secs, "nodes_to_exclude": [], "excluded_layers": []}

    def latency_fn(xb: torch.Tensor) -> Callable[[], Any]:
        def run() -> None:
            with torch.inference_mode():
                ts(xb)
        return run

    return Int8Build(file=job.qpath, what="TorchScript file (torch.ao FX)", int8_logits=int8_logits,
                     latency_fn=latency_fn, quant=qinfo, fp32_size=fp32_path.stat().st_size,
                     fp32_file="model.ts (FP32 TorchScript)")
