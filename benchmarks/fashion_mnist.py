#!/usr/bin/env python
"""What each optimization costs on real data where it can: Fashion-MNIST (60,000 train / 10,000 test product photos).

Every step is a ``resnet-opt`` command, run as a user would and timed as a whole process; every accuracy is top-1 on
the official 10,000 test images (``eval``'s default split for this data set), never on training or calibration
images:

1. ``train`` a ResNet-18 (the recipe below), ``eval`` FP32;
2. INT8 three ways: ``quantize`` (onnxruntime QDQ), the same file on OpenVINO (``eval --provider openvino``),
   ``quantize --target torch`` (PT2E into an AOTInductor ``.pt2``);
3. ``prune`` to >= 2x and >= 4x fewer MACs with a distilled fine-tune, each then quantized;
4. where post-training INT8 can lose accuracy (minmax calibration, per-tensor weights, few calibration images, on
   the unpruned and the 4x-pruned model), and what the accuracy gate (``--max-accuracy-drop``: layers kept FP32)
   and ``qat`` recover there.

    .venv/bin/python benchmarks/fashion_mnist.py                 # benchmarks/results/fashion_mnist.md + .json
    .venv/bin/python benchmarks/fashion_mnist.py --quick --results-dir /tmp/r   # 3.5 min: a smoke check (not in make test)

Resumable: each finished step's result is kept in ``--work`` (default ``runs/fashion-study``) and not run again, so
an interrupted study continues where it stopped (``--fresh`` starts over). Run it on a quiet machine: the wall times
are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import command, cpu_line  # noqa: E402
from resnet_opt.core.artifact import atomic_write_text, to_json  # noqa: E402

PUBLISHED = 94.9  # upstream's README table: ResNet18 with flips, translation and rotation (test accuracy)
TARGET = 94.0  # issue 25: the FP32 ResNet-18 must reach this test top-1


def recipe(quick: bool) -> dict[str, Any]:
    if quick:
        return {"data": "fashion-mnist:16", "depth": 18, "epochs": 1, "batch_size": 32, "limit": 512,
                "finetune_epochs": 1, "qat_epochs": 1, "eval_limit": 300, "calib": 32, "augment": "flip-shift"}
    # 64 px: at 32 px the standard stem leaves 8x8 maps and the same R18 recipe stopped at 92.83 % after 12 epochs
    # (docs/reference-figures.md); 64 px costs 4x the compute. BF16 autocast where the CPU has BF16: 1.28x faster
    # training on a 2-core Zen 4 (23.5 vs 30.1 s for 4,096 images), about 240 s an epoch there with channels_last
    from resnet_opt.core.env import cpu_info, has_bf16

    # 36 epochs, chosen on the val split: the same recipe at 24 epochs ended at 94.78 % val (93.99 % test), at 36 at
    # 95.00 % val (94.32 % test); about 140 s an epoch on a 2-core Zen 5 (results/fashion_mnist.md)
    return {"data": "fashion-mnist:64", "depth": 18, "epochs": 36, "batch_size": 128, "limit": None,
            "optimizer": "sgd", "lr": 0.2, "weight_decay": 5e-4, "finetune_epochs": 3, "qat_epochs": 2,
            "eval_limit": None, "calib": 256, "augment": "flip-shift-erase", "amp": "bf16" if has_bf16(cpu_info()) else "off"}


def start_study(ap: argparse.ArgumentParser, work: Path) -> tuple[argparse.Namespace, dict[str, Any], str, "Study"] | None:
    """The opening of a short training study script (fashion_stem.py, zero_init_residual.py): the shared options
    (--work, --results-dir, --threads), the data check (None after one error line when Fashion-MNIST is missing), this
    CPU and the autocast it gets, and a :class:`Study` in the work folder."""
    from resnet_opt.core.env import cpu_info, has_bf16
    from resnet_opt.data import fashion_mnist as fm

    ap.add_argument("--work", type=Path, default=work)
    ap.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    a = ap.parse_args()
    ok, why = fm.available()
    if not ok:
        print(f"error: {why}", file=sys.stderr)
        return None
    cpu = cpu_info()
    return a, cpu, "bf16" if has_bf16(cpu) else "off", Study(a.work, False, a.threads)


class Study:
    def __init__(self, work: Path, quick: bool, threads: int):
        self.work, self.quick, self.threads = work, quick, threads
        self.r = recipe(quick)
        self.steps: list[dict[str, Any]] = []
        (work / "steps").mkdir(parents=True, exist_ok=True)

    def run(self, name: str, args: list[str]) -> dict[str, Any]:
        """Run ``resnet-opt ARGS --json`` once (a finished step is read back from ``work/steps``)."""
        keep = self.work / "steps" / f"{name}.json"
        cmd = [sys.executable, "-m", "resnet_opt", *args, "--json"]
        shown = "resnet-opt " + " ".join(shlex.quote(a) for a in args)
        if keep.is_file():
            rec = json.loads(keep.read_text())
            print(f"[{name}] done before ({rec['seconds']:.0f} s): {shown}", flush=True)
        else:
            print(f"[{name}] {shown}", flush=True)
            t0 = time.perf_counter()
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            secs = time.perf_counter() - t0
            if p.returncode != 0:
                err = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
                rec = {"name": name, "command": shown, "seconds": secs, "error": err, "result": None}
                print(f"[{name}] FAILED ({secs:.0f} s): {err}", flush=True)
            else:
                rec = {"name": name, "command": shown, "seconds": secs, "result": json.loads(p.stdout)}
                atomic_write_text(keep, to_json(rec) + "\n")
                print(f"[{name}] {secs:.0f} s", flush=True)
        self.steps.append(rec)
        return rec

    def out(self, name: str) -> str:
        return str(self.work / name)

    def eval(self, name: str, model: str, provider: str | None = None) -> float | None:
        args = ["eval", "--model", model, "--data", self.r["data"]]
        if self.r["eval_limit"]:
            args += ["--limit", str(self.r["eval_limit"])]
        if provider:
            args += ["--provider", provider]
        rec = self.run(f"eval-{name}", args)
        return rec["result"]["top1"] if rec["result"] else None

    def quantize(self, name: str, model: str, *extra: str) -> str | None:
        args = ["quantize", "--model", model, "--data", self.r["data"], "--calib-size", str(self.r["calib"]),
                "--latency-runs", "5", "--threads", str(self.threads), "--out", self.out(name), "--overwrite", *extra]
        rec = self.run(name, args)
        return self.out(name) if rec["result"] else None


def macs_of(model_dir: str) -> int:
    from resnet_opt.resnet import count_macs, load_model, read_config

    return int(count_macs(load_model(model_dir), int(read_config(model_dir)["input_size"])))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny settings (minutes): checks the study runs end to end")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "fashion-study")
    ap.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--fresh", action="store_true", help="forget the finished steps in --work")
    ap.add_argument("--data", help="override the recipe's data spec, e.g. fashion-mnist:32 (4x cheaper than 64)")
    ap.add_argument("--epochs", type=int, help="override the recipe's training epochs")
    ap.add_argument("--finetune-epochs", type=int, help="override the pruned models' fine-tune epochs")
    ap.add_argument("--qat-epochs", type=int, help="override the QAT epochs")
    ap.add_argument("--name", help="results file name (default fashion_mnist, or fashion_mnist-quick)")
    ap.add_argument("--note", help="a paragraph added to the results (e.g. what else ran beside a step)")
    a = ap.parse_args()
    from resnet_opt.data import fashion_mnist as fm

    ok, why = fm.available()
    if not ok:
        print(f"error: {why}", file=sys.stderr)
        return 2
    if a.fresh and (a.work / "steps").is_dir():
        for f in (a.work / "steps").glob("*.json"):
            f.unlink()
    s = Study(a.work, a.quick, a.threads)
    r = s.r
    for k in ("data", "epochs", "finetune_epochs", "qat_epochs"):
        if getattr(a, k) is not None:
            r[k] = getattr(a, k)
    t_all = time.perf_counter()
    train = ["train", "--data", r["data"], "--depth", str(r["depth"]), "--epochs", str(r["epochs"]),
             "--batch-size", str(r["batch_size"]), "--augment", r["augment"], "--threads", str(a.threads),
             "--out", s.out("fp32"), "--overwrite"]
    if r["limit"]:
        train += ["--limit", str(r["limit"])]
    for k in ("optimizer", "lr", "weight_decay", "amp"):
        if r.get(k) is not None:
            train += [f"--{k.replace('_', '-')}", str(r[k])]
    if s.run("train", train)["result"] is None:
        return finish(s, a, t_all)
    fp32 = s.out("fp32")
    rows: list[dict[str, Any]] = []
    base_macs = macs_of(fp32)

    def row(variant: str, top1: float | None, macs: int | None, step: str, note: str = "") -> None:
        rows.append({"variant": variant, "top1": top1, "macs": macs, "step": step, "note": note})

    row("FP32 (torch)", s.eval("fp32", fp32), base_macs, "train")
    q = s.quantize("int8-onnx", fp32)
    if q:
        row("INT8 onnxruntime QDQ (default quantize)", s.eval("int8-onnx", q), base_macs, "int8-onnx")
        row("INT8 same file on OpenVINO", s.eval("int8-onnx-openvino", q, "openvino"), base_macs, "int8-onnx")
    q = s.quantize("int8-pt2", fp32, "--target", "torch")
    if q:
        row("INT8 PT2E .pt2 (quantize --target torch)", s.eval("int8-pt2", q), base_macs, "int8-pt2")
    pruned: dict[str, str] = {}
    for tag, factor in (("2x", 2.1), ("4x", 4.2)):
        args = ["prune", "--model", fp32, "--data", r["data"], "--target-macs", str(int(base_macs / factor)),
                "--importance", "taylor", "--finetune-epochs", str(r["finetune_epochs"]), "--distill",
                "--batch-size", str(r["batch_size"]), "--latency-runs", "3", "--threads", str(a.threads),
                "--out", s.out(f"pruned-{tag}"), "--overwrite"]
        if r["limit"]:
            args += ["--limit", str(r["limit"])]
        if s.run(f"prune-{tag}", args)["result"] is None:
            continue
        pruned[tag] = s.out(f"pruned-{tag}")
        m = macs_of(pruned[tag])
        row(f"pruned {base_macs / m:.1f}x fewer MACs + distilled fine-tune, FP32", s.eval(f"pruned-{tag}", pruned[tag]),
            m, f"prune-{tag}")
        q = s.quantize(f"pruned-{tag}-int8", pruned[tag])
        if q:
            row(f"pruned {base_macs / m:.1f}x + INT8 onnxruntime", s.eval(f"pruned-{tag}-int8", q), m,
                f"pruned-{tag}-int8")
    # where post-training INT8 can lose accuracy, and what the gate and QAT get back
    # two stress settings: minmax + per-tensor weights on 8 images, then the harshest the CLI allows (one calibration
    # image, 7-bit range); --min-agreement 0 on the latter so the accuracy is measured, not refused
    stresses = (("minmax-pertensor", "INT8 minmax, per-tensor weights, 8 calibration images",
                 ["--method", "minmax", "--per-tensor", "--calib-size", "8"]),
                ("minmax-pertensor-1img-7bit", "INT8 minmax, per-tensor weights, 1 calibration image, 7-bit range",
                 ["--method", "minmax", "--per-tensor", "--calib-size", "1", "--reduce-range", "on",
                  "--min-agreement", "0"]))
    for tag, model in (("fp32", fp32), *((f"pruned-{k}", v) for k, v in pruned.items() if k == "4x")):
        m = macs_of(model)
        for st, words, stress in stresses:
            q = s.quantize(f"{tag}-int8-{st}", model, *stress)
            if q:
                row(f"{tag}: {words}", s.eval(f"{tag}-int8-{st}", q), m, f"{tag}-int8-{st}", "stress")
            q = s.quantize(f"{tag}-int8-{st}-gate", model, *stress, "--max-accuracy-drop", "0.3")
            if q:
                row(f"{tag}: the same + accuracy gate (--max-accuracy-drop 0.3: sensitive layers FP32)",
                    s.eval(f"{tag}-int8-{st}-gate", q), m, f"{tag}-int8-{st}-gate", "gate")
        args = ["qat", "--model", model, "--epochs", str(r["qat_epochs"]), "--batch-size", str(r["batch_size"]),
                "--latency-runs", "3", "--threads", str(a.threads), "--out", s.out(f"{tag}-qat")]
        if r["limit"]:
            args += ["--limit", str(r["limit"])]
        if a.quick:  # one epoch on 512 images is no QAT: check the plumbing, not the agreement
            args += ["--min-agreement", "0"]
        if s.run(f"{tag}-qat", args)["result"] is not None:
            row(f"{tag}: QAT ({r['qat_epochs']} epochs), INT8 ONNX", s.eval(f"{tag}-qat", s.out(f"{tag}-qat")), m,
                f"{tag}-qat", "qat")
    return finish(s, a, t_all, rows)


def finish(s: Study, a: argparse.Namespace, t_all: float, rows: list[dict[str, Any]] | None = None) -> int:
    from resnet_opt.core.env import cpu_info, environment

    rows = rows or []
    fp32 = rows[0]["top1"] if rows else None
    for x in rows:
        x["drop"] = None if fp32 is None or x["top1"] is None else round(fp32 - x["top1"], 2)
    # each optimized row against the FP32 model it was made from (the pruned FP32 model for a pruned model's INT8)
    own = {x["macs"]: x["top1"] for x in rows if x["step"] == "train" or x["step"].startswith("prune-")}
    for x in rows:
        src = fp32 if x["step"] == "train" or x["step"].startswith("prune-") else own.get(x["macs"])
        x["drop_vs_source"] = None if src is None or x["top1"] is None else round(src - x["top1"], 2)
    failed = [st for st in s.steps if st.get("error")]
    cpu = cpu_info()
    name = a.name or ("fashion_mnist-quick" if s.quick else "fashion_mnist")
    cmd = command(lock=False)
    data = {"command": cmd, "recipe": s.r, "rows": rows, "steps": s.steps, "wall_s": time.perf_counter() - t_all,
            "environment": environment(), "published_r18": PUBLISHED}
    md = [f"# Fashion-MNIST: what each optimization costs ({'QUICK smoke settings, not a result' if s.quick else 'ResNet-18'})",
          "", f"Command: `{cmd}`", f"CPU: {cpu_line(cpu)}", "",
          f"Recipe: {', '.join(f'{k} {v}' for k, v in s.r.items() if v is not None)}. Accuracy: top-1 on the official "
          f"test split ({'first ' + str(s.r['eval_limit']) + ' seeded' if s.r['eval_limit'] else 'all 10,000'} "
          "images); drop = FP32 minus the row, in points.", ""]
    if fp32 is not None:
        verdict = "met" if fp32 >= TARGET else f"**missed by {TARGET - fp32:.2f} pt**"
        md += [f"FP32 test top-1 **{fp32:.2f} %** (published ResNet-18: {PUBLISHED} %, gap {PUBLISHED - fp32:+.2f} pt; "
               f"target >= {TARGET} %: {verdict}); training took "
               f"{next((st['seconds'] for st in s.steps if st['name'] == 'train'), 0):.0f} s on "
               f"{cpu.get('cores', '?')} cores.", ""]
    if a.note:
        md += [a.note, ""]
    ptq = [x for x in rows if x["note"] in ("stress", "") and x["step"] not in ("train",)
           and not x["step"].startswith("prune-") and x["drop_vs_source"] is not None]
    if ptq:
        worst = max(ptq, key=lambda x: x["drop_vs_source"])
        if worst["drop_vs_source"] <= 0.3:
            md += [f"No post-training INT8 setting tried lost more than 0.3 pt against its own FP32 source (worst "
                   f"{worst['drop_vs_source']:+.2f} pt: {worst['variant']}), so on this model and data the accuracy "
                   "gate and QAT had nothing to recover; the gate and QAT rows show that they cost nothing either.", ""]
        else:
            md += [f"Worst post-training INT8 loss: {worst['drop_vs_source']:+.2f} pt ({worst['variant']}); the gate "
                   "and QAT rows below it show what they recover.", ""]
    md += ["| variant | MMACs | test top-1 % | drop vs FP32 (pt) | drop vs its source (pt) |",
           "|---|---:|---:|---:|---:|"]
    def cell(v: float | None, fmt: str) -> str:
        return "—" if v is None else format(v, fmt)

    for x in rows:
        md.append(f"| {x['variant']} | {x['macs'] / 1e6:.1f} | {cell(x['top1'], '.2f')} | {cell(x['drop'], '+.2f')} "
                  f"| {cell(x['drop_vs_source'], '+.2f')} |")
    md += ["", "Steps (each a whole `resnet-opt` process, wall seconds):", ""]
    md += [f"- `{st['command']}`: {st['seconds']:.0f} s" + (f" — **failed**: {st['error']}" if st.get("error") else "")
           for st in s.steps]
    md.append(f"\nTotal wall time of the steps {sum(st['seconds'] for st in s.steps) / 60:.1f} min (this invocation: "
              f"{data['wall_s'] / 60:.1f} min; finished steps are read back, not run again).")
    a.results_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.results_dir / f"{name}.json", to_json(data) + "\n")
    atomic_write_text(a.results_dir / f"{name}.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
