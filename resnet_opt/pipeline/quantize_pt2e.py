"""The quantize stage's ``torch`` target: PT2E INT8 (torchao) compiled into an AOTInductor package ``model.pt2``.

Called by :func:`resnet_opt.pipeline.quantize.quantize_model`; the quantization itself is
:func:`resnet_opt.optimize.quantize_pt2e.quantize_pt2e`, the compilation :mod:`resnet_opt.export.pt2_export`.
Besides the stage's own validation (the package against the FP32 model on the val split), the compiled package is
compared with the PT2E graph it was compiled from (run eagerly: quantize/dequantize simulated in FP32) on up to
:data:`REFERENCE_IMAGES` eval images, so a lowering error shows apart from quantization error.
"""

from __future__ import annotations

import time

import torch

from resnet_opt.core.errors import ValidationError
from resnet_opt.engine import batched_logits
from resnet_opt.pipeline.int8_build import Int8Build, Int8Job

REFERENCE_IMAGES = 64


def _param_bytes(model: torch.nn.Module) -> int:
    return int(sum(p.numel() * p.element_size() for p in model.parameters())
               + sum(b.numel() * b.element_size() for b in model.buffers()))


def pt2e_target(job: Int8Job) -> Int8Build:
    """Quantize the fused model with PT2E, compile it to the job's ``model.pt2`` and run it on the eval images; the
    package is checked against the PT2E graph it came from (its ``pt2e_reference`` facts)."""
    from resnet_opt.engine import agreement
    from resnet_opt.export.pt2_export import Pt2Settings, build_package, load_package, package_latency_fn
    from resnet_opt.optimize.quantize_pt2e import default_reduce_range, quantize_pt2e

    cfg, calib, method, size, x_eval, say = job.cfg, job.calib, job.method, job.size, job.x_eval, job.say
    rr = default_reduce_range() if cfg.reduce_range is None else bool(cfg.reduce_range)
    say(f"quantizing to INT8 for PyTorch (torchao PT2E, x86): activation ranges measured on {len(calib)} "
        f"{getattr(calib, 'source', 'calibration')} images ({method})" + ("; 7-bit range, as this CPU has no VNNI (reduce_range)" if rr else "") + " ...")
    batches = [torch.from_numpy(calib.batches(len(calib))[i:i + 16]) for i in range(0, len(calib), 16)]
    q, facts = quantize_pt2e(job.fused, batches, method=method, reduce_range=rr, input_size=size,
                             progress=job.progress)
    settings = Pt2Settings(device="cpu").validate()
    say(f"compiling the INT8 package (torch.export + AOTInductor, freezing; {settings.describe()}); "
        "this takes a while ...")
    compile_info = build_package(q, job.qpath, input_size=size, settings=settings)
    t0 = time.perf_counter()
    pkg = load_package(job.qpath, "cpu")
    compile_info["load_ms"] = (time.perf_counter() - t0) * 1e3
    int8_logits = batched_logits(pkg, x_eval)

    k = min(REFERENCE_IMAGES, int(x_eval.shape[0]))
    ref = batched_logits(q, x_eval[:k])
    a = agreement(ref, int8_logits[:k])
    if not torch.isfinite(int8_logits).all():
        raise ValidationError("the compiled INT8 package produces non-finite logits on the eval images")
    facts["pt2e_reference"] = {
        "what": "compiled package vs the PT2E graph it was compiled from (eager, q/dq simulated in FP32)",
        "images": k, "top1_agreement": a["top1_agreement"], "max_abs_diff": a["max_abs_diff"],
        "max_rel_diff": a["max_rel_diff"],
    }
    facts["nodes_to_exclude"], facts["excluded_layers"] = [], []

    return Int8Build(file=job.qpath, what=".pt2 package (AOTInductor)", int8_logits=int8_logits,
                     latency_fn=package_latency_fn(pkg), quant=facts, fp32_size=_param_bytes(job.fused),
                     fp32_file="FP32 parameters and buffers (bytes)", compile=compile_info)
