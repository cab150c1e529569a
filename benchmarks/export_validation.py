#!/usr/bin/env python
"""Export stage figures: how far each artifact is from PyTorch, and whether accuracy survives export.

Part 1 — random-weight ResNet-18 and ResNet-50 at 224 px (ImageNet-sized, 1000 classes): ONNX FP32, ONNX FP16 and
TorchScript exports through ``resnet_opt.pipeline.export.export_artifact`` (validated on 16 seeded N(0,1) inputs at
batch 1 and 16): max abs / rel logit difference against PyTorch, allowed bound, top-1 agreement, file size, wall time of
the whole export (trace/export + validation), and TorchScript's optimize_for_inference decision.

Part 2 — the trained digits ResNet-18 (a model folder, e.g. /tmp/fixture-run or one made by ``resnet-opt train``):
top-1 of the source and of each exported artifact on the 360-image digits validation split via
``resnet_opt.pipeline.evaluate.evaluate_path`` (the code path of ``resnet-opt eval --model``).

    flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/export_validation.py --digits-model /tmp/fixture-run
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from common import ROOT, command, write_results  # noqa: E402
from resnet_opt.core.env import cpu_info, library_versions  # noqa: E402
from resnet_opt.pipeline.evaluate import evaluate_path  # noqa: E402
from resnet_opt.pipeline.export import export_artifact  # noqa: E402
from resnet_opt.resnet import ModelSpec  # noqa: E402
from resnet_opt.pipeline.evaluate import EvalConfig  # noqa: E402
from resnet_opt.pipeline.export import ExportConfig  # noqa: E402

VARIANTS = [("onnx", False), ("onnx", True), ("torchscript", False)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--digits-model", default="/tmp/fixture-run")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--depths", default="18,50")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "export_validation"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows, evals = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for depth in [int(d) for d in args.depths.split(",")]:
            for fmt, fp16 in VARIANTS:
                t = time.perf_counter()
                man = export_artifact(ExportConfig(fmt, input_size=args.size, fp16=fp16,
                                      out=Path(tmp) / f"r{depth}-{fmt}-{fp16}", source=ModelSpec(depth=depth)))
                secs = time.perf_counter() - t
                v = man.manifest.validation
                rows.append(
                    {
                        "model": f"resnet{depth}",
                        "size": args.size,
                        "format": fmt,
                        "precision": man.precision,
                        "max_abs_diff": v["max_abs_diff"],
                        "max_rel_diff": v["max_rel_diff"],
                        "allowed_abs_diff": v["allowed_abs_diff"],
                        "logit_scale": v["logit_scale"],
                        "top1_agreement": v["top1_agreement"],
                        "batch_sizes": v["batch_sizes"],
                        "file_mb": man.manifest.files[0].size / 1e6,
                        "export_seconds": secs,
                        "optimize_for_inference_on_load": man.manifest.export.get(
                            "optimize_for_inference_on_load"
                        ),
                        "ts_auto_timing_ms": man.manifest.export.get("auto_timing_ms"),
                    }
                )
                print(rows[-1], flush=True)
        src = Path(args.digits_model)
        if src.is_dir():
            e = evaluate_path(EvalConfig(src, "digits"))
            evals.append({"artifact": "source model folder", **e.to_dict()})
            for fmt, fp16 in VARIANTS:
                out = Path(tmp) / f"digits-{fmt}-{fp16}"
                export_artifact(
                    ExportConfig(fmt, data="digits", fp16=fp16, out=out, source=ModelSpec(model_dir=str(src)))
                )
                e = evaluate_path(EvalConfig(out, "digits"))
                evals.append({"artifact": f"{fmt} {'fp16' if fp16 else 'fp32'}", **e.to_dict()})
                print(evals[-1], flush=True)
    result = {"command": command(),
              "cpu": cpu_info(), "versions": library_versions(), "threads": torch.get_num_threads(),
              "validation": rows, "digits_eval": evals}
    md = ["# Export validation figures\n", f"Command: `{result['command']}`  ",
          f"CPU: {result['cpu']['model']} ({result['cpu']['cores']} cores, AVX-512 VNNI: {result['cpu']['vnni']}), "
          f"torch {result['versions']['torch']}, onnx {result['versions']['onnx']}, "
          f"onnxruntime {result['versions']['onnxruntime']}, torch threads {result['threads']}\n",
          "## Artifact vs PyTorch FP32 (random weights, 16 seeded N(0,1) inputs, batch 1 and 16)\n",
          "| model | px | format | precision | max abs diff | allowed | max rel diff | top-1 agree | file MB | export+validate s | TS optimize on load |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ofi = "" if r["optimize_for_inference_on_load"] is None else (
            f"{r['optimize_for_inference_on_load']} ({r['ts_auto_timing_ms']['frozen']:.1f} → "
            f"{r['ts_auto_timing_ms']['optimized']:.1f} ms)" if r["ts_auto_timing_ms"] else str(r["optimize_for_inference_on_load"]))
        md.append(f"| {r['model']} | {r['size']} | {r['format']} | {r['precision']} | {r['max_abs_diff']:.3g} | "
                  f"{r['allowed_abs_diff']:.3g} | {r['max_rel_diff']:.3g} | {r['top1_agreement']:.1f}% | "
                  f"{r['file_mb']:.1f} | {r['export_seconds']:.1f} | {ofi} |")
    if evals:
        md += ["", f"## Digits validation split ({evals[0]['count']} images), trained ResNet-18 `{args.digits_model}`\n",
               "| artifact | top-1 | top-5 |", "|---|---|---|"]
        md += [f"| {e['artifact']} | {e['top1']:.2f}% | {e['top5']:.2f}% |" for e in evals]
    write_results(Path(args.out).name, result, "\n".join(md))


if __name__ == "__main__":
    main()
