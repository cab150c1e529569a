#!/usr/bin/env python
"""PTQ vs QAT top-1 on the digits val split, 3 seeds: where post-training INT8 loses accuracy, does QAT recover it?

Per seed: train a ResNet-18 on digits (``train_model``, that seed), then on the same FP32 model

* PTQ, the project's default (``quantize_model``: onnxruntime QDQ, percentile calibration on 128 training images,
  uint8 asymmetric activations, per-channel int8 weights, reduce_range from the CPU);
* PTQ, TensorRT's form: int8 SYMMETRIC per-tensor activations (onnxruntime ``quantize_static`` with
  ``ActivationSymmetric``, same calibration images and method, per-channel weights);
* QAT with the same two activation schemes (``qat_model``: torchao PT2E, SGD lr 1e-3, cosine, observers / BN frozen
  after epoch ``qat_epochs - 1``), exported to ONNX QDQ with the learned scales.

Every INT8 figure is the ONNX file's top-1 in onnxruntime on the whole val split (360 images), never calibration or
training images.

    .venv/bin/python benchmarks/qat_digits.py            # writes benchmarks/results/qat_digits.md + .json
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resnet_opt.core.artifact import atomic_write_text, to_json  # noqa: E402
from resnet_opt.core.env import cpu_info, library_versions  # noqa: E402


def ptq_symmetric(model_dir: Path, spec: str, work: Path, seed: int, calib_size: int = 128) -> float:
    """onnxruntime static INT8 with int8 symmetric per-tensor activations (TensorRT's form)."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    from resnet_opt.data import build_loader
    from resnet_opt.export import export_onnx
    from resnet_opt.optimize import fuse_bn
    from resnet_opt.optimize.quantize_onnx import choose_quant_types, ort_session, run_onnx
    from resnet_opt.resnet import load_model, read_config

    model = load_model(model_dir).eval()
    size = int(read_config(model_dir)["input_size"])
    fp32 = export_onnx(fuse_bn(model), work / "fp32.onnx", input_size=size)
    imgs = [x.numpy() for x, _ in build_loader(spec, "calib", batch_size=1, limit=calib_size, seed=seed)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(imgs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"input": x}

    types = choose_quant_types()
    q = work / "sym.onnx"
    quantize_static(str(fp32), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=types.reduce_range, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.Percentile,
                    extra_options={"ActivationSymmetric": True, "percentile": 99.999})
    xs, ys = zip(*build_loader(spec, "val", batch_size=256))
    logits = run_onnx(ort_session(q), torch.cat(xs).numpy())
    return float(100.0 * np.mean(logits.argmax(1) == torch.cat(ys).numpy()))


def run_seed(seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from resnet_opt.engine import TrainConfig
    from resnet_opt.pipeline.qat import QatConfig, qat_model
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model
    from resnet_opt.pipeline.train import train_model

    spec = f"digits:{args.size}"
    run = work / f"fp32-{seed}"
    t0 = time.perf_counter()
    tr = train_model(depth=18, data=spec, out=run, config=TrainConfig(epochs=args.train_epochs, seed=seed))
    row: dict[str, Any] = {"seed": seed, "fp32_best_val_top1": tr["best_top1"]}
    ptq = quantize_model(model_dir=run, out=work / f"ptq-{seed}", config=QuantizeConfig(seed=seed, latency_runs=1,
                                                                                          min_agreement=0.0))
    row["fp32_top1"] = ptq["validation"]["fp32_top1"]
    row["ptq_asymmetric"] = ptq["validation"]["int8_top1"]
    row["ptq_symmetric"] = ptq_symmetric(run, spec, work, seed)
    for act in ("asymmetric", "symmetric"):
        q = qat_model(model_dir=run, out=work / f"qat-{act}-{seed}",
                      config=QatConfig(epochs=args.qat_epochs, seed=seed, activation=act, latency_runs=1,
                                       min_agreement=0.0, limit=args.qat_limit))
        row[f"qat_{act}"] = q["validation"]["int8_top1"]
        row[f"qat_{act}_schedule"] = q["quantization"]["schedule"]
        row[f"qat_{act}_export_agreement"] = q["validation"]["export_check"]["top1_agreement"]
    row["seconds"] = time.perf_counter() - t0
    print(f"seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if isinstance(v, float)), flush=True)
    return row


COLS = [("fp32_top1", "FP32"), ("ptq_asymmetric", "PTQ uint8 asym"), ("qat_asymmetric", "QAT uint8 asym"),
        ("ptq_symmetric", "PTQ int8 sym (TensorRT form)"), ("qat_symmetric", "QAT int8 sym")]


def markdown(res: dict[str, Any]) -> str:
    rows = res["rows"]
    lines = ["# PTQ vs QAT on digits (ResNet-18, val split)", "",
             f"Command: `{res['command']}`", "",
             f"CPU: {res['cpu'].get('model', '?')} (AVX2 {res['cpu'].get('flags', {}).get('avx2')}, VNNI "
             f"{res['cpu'].get('vnni')}); weights are 7-bit where there is no VNNI (onnxruntime's reduce_range) in "
             "both PTQ and QAT. Other work shared the machine (accuracy figures only, no timings).", "",
             f"Per seed: ResNet-18 trained {res['args']['train_epochs']} epochs on digits:{res['args']['size']}; "
             f"QAT {res['args']['qat_epochs']} epoch(s) on {res['args']['qat_limit'] or 'all'} training images (SGD lr 1e-3, cosine; observers and BN frozen per the "
             "schedule in the JSON) on the training split; every INT8 number is the ONNX file in onnxruntime on all "
             "360 val images (top-1 %).", "",
             "| seed | " + " | ".join(c for _, c in COLS) + " |", "|" + "---|" * (len(COLS) + 1)]
    for r in rows:
        lines.append(f"| {r['seed']} | " + " | ".join(f"{r[k]:.2f}" for k, _ in COLS) + " |")
    lines.append("| mean | " + " | ".join(f"{statistics.mean(r[k] for r in rows):.2f}" for k, _ in COLS) + " |")
    lines += ["", "Drop from FP32 (points, mean over seeds):", ""]
    for k, c in COLS[1:]:
        lines.append(f"- {c}: {statistics.mean(r['fp32_top1'] - r[k] for r in rows):+.2f}")
    lines += ["", res["verdict"], ""]
    return "\n".join(lines)


def render(parts: list[dict[str, Any]], out: Path, command: str) -> dict[str, Any]:
    rows = sorted((r for p in parts for r in p["rows"]), key=lambda r: r["seed"])
    args = parts[0]["args"]
    worst_ptq = max(statistics.mean(r["fp32_top1"] - r[k] for r in rows) for k in ("ptq_asymmetric", "ptq_symmetric"))
    if worst_ptq > 0.3:
        verdict = (f"PTQ loses up to {worst_ptq:.2f} points (mean); compare the QAT column of the same scheme for how "
                   "much QAT recovers.")
    else:
        verdict = (f"No setting tried made PTQ lose more than 0.3 points (worst mean drop {worst_ptq:.2f}): settings "
                   "tried: uint8 asymmetric and int8 symmetric per-tensor activations, per-channel weights, "
                   f"digits at {args['size']} px, ResNet-18 trained {args['train_epochs']} epochs.")
    res = {"command": command, "args": args, "rows": rows, "verdict": verdict,
           "seconds_per_seed": [r["seconds"] for r in rows], "cpu": parts[0]["cpu"], "versions": parts[0]["versions"]}
    atomic_write_text(out.with_suffix(".json"), to_json(res) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown(res))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--train-epochs", type=int, default=3)
    ap.add_argument("--qat-epochs", type=int, default=2)
    ap.add_argument("--qat-limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "qat_digits"))
    ap.add_argument("--merge", nargs="+", default=None, help="render --out from per-seed JSON files written by runs "
                    "with --seeds S --out PART (seeds run as separate processes)")
    args = ap.parse_args()
    command = "python benchmarks/qat_digits.py " + shlex.join(sys.argv[1:])
    if args.merge:
        import json

        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        cmds = "; ".join(p["command"] for p in parts)
        print(markdown(render(parts, Path(args.out), f"{cmds}; then {command}")))
        return
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qat-digits-") as td:
        rows = [run_seed(s, args, Path(td)) for s in args.seeds]
    part = {"command": command, "args": {k: v for k, v in vars(args).items() if k not in ("merge", "out", "seeds")},
            "rows": rows, "seconds": time.perf_counter() - t0, "cpu": cpu_info(), "versions": library_versions()}
    print(markdown(render([part], Path(args.out), command)))


if __name__ == "__main__":
    main()
