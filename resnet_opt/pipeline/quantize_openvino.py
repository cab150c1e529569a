"""The quantize stage's ``openvino`` target: the fused FP32 model -> ONNX (the export stage's exporter) ->
``openvino.convert_model`` (as ``export openvino``) -> NNCF INT8 (:mod:`resnet_opt.optimize.quantize_nncf`) -> an
OpenVINO IR artifact ``model.xml`` + ``model.bin`` (kind ``openvino``, precision int8), run by OpenVINO's CPU plugin
with an explicit f32 precision hint for whatever stays in floating point.

Called by :func:`resnet_opt.pipeline.quantize.quantize_model` with the same calibration images (training split) and
eval images (val split) as every other target; it returns the pieces that stage puts into the manifest.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from resnet_opt.core.errors import AccuracyBudgetError, BackendUnavailableError
from resnet_opt.engine import accuracy_from_logits, batched_logits
from resnet_opt.pipeline.int8_build import Int8Build, Int8Job

__all__ = ["openvino_target", "HINT"]

HINT = "f32"  # the precision hint the artifact is validated with and records (what stays float runs FP32)


def openvino_target(job: Int8Job) -> Int8Build:
    """The fused model as an NNCF INT8 OpenVINO IR: the job's ``model.xml`` and its ``model.bin`` are written."""
    from resnet_opt.engine.openvino_session import OpenVINOSession, openvino_unavailable_reason, openvino_version
    from resnet_opt.export import export_onnx
    from resnet_opt.export.validate import check_close
    from resnet_opt.optimize.quantize_nncf import nncf_unavailable_reason, quantize_ov
    from resnet_opt.optimize.quantize_onnx import default_max_excluded

    cfg, calib, size, work, qpath, x_eval, y_eval = job.cfg, job.calib, job.size, job.work, job.qpath, job.x_eval, job.y_eval
    fp32_ref, threads, say = job.fp32_ref, job.threads, job.say
    why = openvino_unavailable_reason() or nncf_unavailable_reason()
    if why:
        raise BackendUnavailableError(why)
    import openvino as ov

    onnx_path = work / "model.onnx"
    say(f"exporting FP32 ONNX (opset {cfg.opset}) and converting it to OpenVINO ...")
    export_onnx(job.fused, onnx_path, input_size=size, opset=cfg.opset, dynamic_batch=True)
    fp32_model = ov.convert_model(str(onnx_path))
    fp32_xml = work / "model_fp32.xml"
    ov.save_model(fp32_model, str(fp32_xml), compress_to_fp16=False)
    fp32_sess = OpenVINOSession(fp32_xml, threads=threads, inference_precision=HINT)
    k = min(8, int(x_eval.shape[0]))
    fp32_check = check_close(fp32_ref[:k], fp32_sess.run(x_eval[:k]),
                             what="the FP32 OpenVINO model of the fused model")["max_rel_diff"]

    gate_budget = cfg.max_accuracy_drop
    validation = None
    fp32_top1 = None
    max_reverted = None
    if gate_budget is not None:
        fp32_top1 = accuracy_from_logits(fp32_ref, y_eval).top1
        xs, ys = x_eval.numpy(), y_eval.numpy()
        validation = [(xs[i:i + 64], ys[i:i + 64]) for i in range(0, len(xs), 64)]
        n_layers = sum(1 for op in fp32_model.get_ops() if op.get_type_name() in ("Convolution", "MatMul"))
        max_reverted = cfg.max_excluded if cfg.max_excluded is not None else default_max_excluded(n_layers)
    say(f"quantizing to INT8 with NNCF ({'nncf.quantize_with_accuracy_control, budget ' + format(gate_budget, 'g') + ' points' if gate_budget is not None else 'nncf.quantize'}, "
        f"defaults, fast bias correction): activation ranges from {len(calib)} {calib.source} images ...")
    res = quantize_ov(fp32_model, calib.images, max_drop=gate_budget, validation=validation,
                      max_reverted=max_reverted, log=say)
    ov.save_model(res.model, str(qpath), compress_to_fp16=False)
    sess = OpenVINOSession(qpath, threads=threads, inference_precision=HINT)
    int8_logits = batched_logits(sess.run, x_eval, progress=job.progress, description="evaluating INT8")
    gate = None
    if res.gate is not None:
        int8_top1 = accuracy_from_logits(int8_logits, y_eval).top1
        drop = fp32_top1 - int8_top1
        gate = {**res.gate, "fp32_top1": fp32_top1, "int8_top1": int8_top1, "drop": drop,
                "excluded_layers": res.summary["fp32_layers"],
                "measured_on": "the labelled eval images (val split), by NNCF's validation run and again here with "
                               "the f32 precision hint"}
        if drop > gate_budget + 1e-9:
            raise AccuracyBudgetError(
                f"cannot meet --max-accuracy-drop {gate_budget:g}: NNCF's accuracy control left a top-1 drop of "
                f"{drop:.2f} points (FP32 {fp32_top1:.2f}%, INT8 {int8_top1:.2f}%) with "
                f"{len(res.summary['fp32_layers'])} layer(s) in floating point (limit {max_reverted})")
    summary = res.summary
    qinfo = {**res.settings, "method": "nncf", "calibration_seconds": res.calibration_seconds,
             "source_model": "FP32 ONNX export of the fused model -> openvino.convert_model (as export openvino)",
             "openvino": openvino_version(), "inference_precision_hint": HINT,
             "nodes_to_exclude": [], "excluded_layers": list(summary["fp32_layers"]),
             "fp32_layers": summary["fp32_layers"], "quantized_layers": summary["quantized_layers"],
             "op_counts": summary["op_counts"]}
    fp32_size = fp32_xml.stat().st_size + fp32_xml.with_suffix(".bin").stat().st_size

    def latency_fn(xb: torch.Tensor) -> Callable[[], Any]:
        a = np.ascontiguousarray(xb.numpy())
        return lambda: sess.run_numpy(a)

    def extra_latency(xb: torch.Tensor) -> dict[str, Callable[[], Any]]:
        a = np.ascontiguousarray(xb.numpy())
        return {"fp32_openvino": lambda: fp32_sess.run_numpy(a)}

    wfile = qpath.with_suffix(".bin")  # listed, so open_artifact checks model.bin too (as export's)
    return Int8Build(file=qpath, what="OpenVINO IR (NNCF)", int8_logits=int8_logits, latency_fn=latency_fn,
                     quant=qinfo, extra_latency=extra_latency, fp32_size=fp32_size,
                     fp32_file="FP32 OpenVINO IR (model.xml + model.bin)", fp32_check=fp32_check, gate=gate,
                     companions=[(wfile.name, "weights")],
                     sections={"openvino": {"weights_file": wfile.name, "inference_precision_hint": HINT,
                                            "version": qinfo["openvino"]}},
                     versions={"openvino": qinfo["openvino"], "nncf": qinfo["nncf"]})
