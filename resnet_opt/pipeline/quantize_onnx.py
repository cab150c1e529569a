"""The quantize stage's ``onnx`` target (the default): the fused model exported to FP32 ONNX, quantized to QDQ INT8
with onnxruntime's static quantizer, and (``--max-accuracy-drop``) the accuracy gate's layer fallback.

Registered by kind ``onnx`` (:mod:`resnet_opt.core.kinds.onnx`); called by
:func:`resnet_opt.pipeline.quantize.quantize_model` with an :class:`~resnet_opt.pipeline.int8_build.Int8Job`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from resnet_opt.engine import accuracy_from_logits, batched_logits
from resnet_opt.engine.onnx_session import ort_logits_fn
from resnet_opt.pipeline.int8_build import Int8Build, Int8Job

__all__ = ["onnx_target"]


def onnx_target(job: Int8Job) -> Int8Build:
    """``onnx``: the fused model exported to FP32 ONNX (checked against PyTorch), quantized to QDQ INT8 with
    onnxruntime's static quantizer, and (``--max-accuracy-drop``) the accuracy gate's layer fallback."""
    from resnet_opt.export import export_onnx
    from resnet_opt.export.validate import check_close
    from resnet_opt.optimize.quantize_onnx import (
        OnnxQuantConfig, choose_quant_types, gate_accuracy, node_to_module, ort_session, qdq_summary, quantize_onnx,
    )

    cfg, calib, x_eval, y_eval, threads, say = job.cfg, job.calib, job.x_eval, job.y_eval, job.threads, job.say
    fp32_path = job.work / "model.onnx"
    say(f"exporting FP32 ONNX (opset {cfg.opset}) ...")
    export_onnx(job.fused, fp32_path, input_size=job.size, opset=cfg.opset, dynamic_batch=True)
    fp32_sess = ort_session(fp32_path, threads=threads)
    k = min(8, int(x_eval.shape[0]))
    fp32_check = check_close(job.fp32_ref[:k], batched_logits(ort_logits_fn(fp32_sess), x_eval[:k]),
                             what="the FP32 ONNX export of the fused model")["max_rel_diff"]
    qcfg = OnnxQuantConfig(method=job.method, per_channel=cfg.per_channel, activation_type=cfg.activation_type,
                           reduce_range=cfg.reduce_range)
    types = choose_quant_types(activation_type=cfg.activation_type, reduce_range=cfg.reduce_range)
    say(f"quantizing to INT8 for onnxruntime: activation ranges measured on {len(calib)} {calib.source} images "
        f"({job.method}), weights {'per output channel' if cfg.per_channel else 'per tensor'}"
        + ("; 7-bit weights, as this CPU has no VNNI (reduce_range)" if types.reduce_range else ""))
    res = quantize_onnx(fp32_path, job.qpath, calib, qcfg, workdir=job.work, types=types, progress=job.progress)
    sess = ort_session(job.qpath, threads=threads)
    int8_logits = batched_logits(ort_logits_fn(sess), x_eval, progress=job.progress, description="evaluating INT8")
    gate = None
    if cfg.max_accuracy_drop is not None:
        fp32_top1 = accuracy_from_logits(job.fp32_ref, y_eval).top1
        int8_top1 = accuracy_from_logits(int8_logits, y_eval).top1

        def top1_of(path: Path) -> float:
            return accuracy_from_logits(batched_logits(ort_logits_fn(ort_session(path, threads=threads)), x_eval), y_eval).top1

        g = gate_accuracy(res.preprocessed_path, job.qpath, res.cache_path, method=job.method, types=types,
                          per_channel=cfg.per_channel, budget=float(cfg.max_accuracy_drop), fp32_top1=fp32_top1,
                          int8_top1=int8_top1, evaluate_top1=top1_of, sample=calib.batches(cfg.sensitivity_images),
                          max_excluded=cfg.max_excluded, threads=threads, progress=job.progress, log=say)
        gate = g.to_dict()
        gate["ranking"] = gate["ranking"][:20]  # the most sensitive layers are what matters in the manifest
        gate["measured_on"] = "the labelled eval images (val split); ranking on calibration images"
        if g.excluded:
            sess = ort_session(job.qpath, threads=threads)
            int8_logits = batched_logits(ort_logits_fn(sess), x_eval, progress=job.progress,
                                         description="evaluating INT8")
    summary = qdq_summary(job.qpath)
    excluded = list(gate["excluded"]) if gate else []
    qinfo = {**res.settings, "calibration_seconds": res.calibration_seconds, "nodes_to_exclude": excluded,
             "excluded_layers": [node_to_module(n) for n in excluded], "fp32_layers": summary["fp32_layers"],
             "quantized_layers": summary["quantized_layers"], "op_counts": summary["op_counts"],
             "onnx_opset": cfg.opset, "runtime_note": "run with onnxruntime graph optimizations enabled (ORT_ENABLE_ALL) "
                                                      "so QDQ groups become QLinearConv / QLinearAdd kernels"}
    q_sess = sess

    def latency_fn(xb: torch.Tensor) -> Callable[[], Any]:
        a = np.ascontiguousarray(xb.numpy())
        return lambda: q_sess.run(None, {"input": a})

    def extra_latency(xb: torch.Tensor) -> dict[str, Callable[[], Any]]:
        a = np.ascontiguousarray(xb.numpy())
        return {"fp32_onnx": lambda: fp32_sess.run(None, {"input": a})}

    return Int8Build(file=job.qpath, what="ONNX file (onnxruntime)", int8_logits=int8_logits, latency_fn=latency_fn,
                     quant=qinfo, extra_latency=extra_latency, fp32_size=fp32_path.stat().st_size,
                     fp32_file="model.onnx (FP32 export)", fp32_check=fp32_check, gate=gate)
