#!/usr/bin/env python
"""Fashion-MNIST at 28-64 px: is the standard ResNet stem the limit, and what do the alternatives cost?

The same ResNet-18 recipe (SGD nesterov, one-cycle cosine, label smoothing 0.1, flips and shifts, BF16 autocast where
the CPU has it), the same seeded subset of the training split and the same number of epochs for each variant:

- ``imagenet`` stem (torchvision's 7x7 stride-2 conv + max pool) at 32 px: layer1 sees 8x8 maps;
- the same stem at 64 px (bilinear from 28): layer1 sees 16x16, 4x the MACs;
- the ``small`` stem (``train --stem small``: one 3x3 stride-1 conv, no pool) at the native 28 px: layer1 sees 28x28.

Each row: test top-1 on all 10,000 official test images, MACs per image, training throughput (wall time of the whole
``resnet-opt train`` process). A short schedule ranks the variants; it is not the final figure
(``benchmarks/fashion_mnist.py`` trains the chosen one to the end).

    .venv/bin/python benchmarks/fashion_stem.py            # benchmarks/results/fashion_stem.md + .json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import command, cpu_line, write_study  # noqa: E402
from fashion_mnist import macs_of, start_study  # noqa: E402

VARIANTS = (("imagenet stem, 32 px", "fashion-mnist:32", "imagenet"),
            ("imagenet stem, 64 px", "fashion-mnist:64", "imagenet"),
            ("small stem, 28 px (native)", "fashion-mnist:28", "small"))


def main() -> int:
    from resnet_opt.core.env import environment

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=12000, help="training images (a seeded, stratified subset)")
    ap.add_argument("--epochs", type=int, default=4)
    started = start_study(ap, ROOT / "runs" / "fashion-stem")
    if started is None:
        return 2
    a, cpu, amp, s = started
    t_all = time.perf_counter()
    rows = []
    for label, data, stem in VARIANTS:
        tag = f"{stem}-{data.split(':')[1]}"
        out = str(a.work / tag)
        rec = s.run(f"train-{tag}", ["train", "--data", data, "--stem", stem, "--depth", "18", "--epochs",
                                     str(a.epochs), "--limit", str(a.limit), "--batch-size", "128", "--optimizer",
                                     "sgd", "--lr", "0.2", "--weight-decay", "5e-4", "--augment", "flip-shift",
                                     "--amp", amp, "--threads", str(a.threads), "--out", out, "--overwrite"])
        if rec["result"] is None:
            rows.append({"variant": label, "error": rec["error"]})
            continue
        ev = s.run(f"eval-{tag}", ["eval", "--model", out, "--data", data, "--threads", str(a.threads)])
        rows.append({"variant": label, "data": data, "stem": stem, "macs": macs_of(out),
                     "train_s": rec["seconds"], "images_per_s": a.limit * a.epochs / rec["result"]["seconds"],
                     "val_top1": rec["result"]["best_top1"],
                     "test_top1": ev["result"]["top1"] if ev["result"] else None, "split": (ev["result"] or {}).get("split")})
    cmd = command(lock=False)
    data = {"command": cmd, "limit": a.limit, "epochs": a.epochs, "amp": amp, "rows": rows,
            "steps": s.steps, "wall_s": time.perf_counter() - t_all, "environment": environment()}
    md = ["# Fashion-MNIST: the ResNet-18 stem at 28-64 px", "", f"Command: `{cmd}`", f"CPU: {cpu_line(cpu)}", "",
          f"Each variant: {a.epochs} epochs on the same seeded {a.limit:,} training images (SGD nesterov lr 0.2, batch "
          f"128, wd 5e-4, label smoothing 0.1, flips + shifts, autocast {amp}, {a.threads} threads); test top-1 on all "
          "10,000 official test images. A short schedule that ranks the stems, not a final figure.", "",
          "| variant | MMACs / image | train img/s | val top-1 % | test top-1 % |", "|---|---:|---:|---:|---:|"]
    return write_study(a.results_dir, "fashion_stem", data, md, rows, lambda r: [
        f"{r['macs'] / 1e6:.0f}", f"{r['images_per_s']:.0f}", f"{r['val_top1']:.2f}",
        "—" if r["test_top1"] is None else f"{r['test_top1']:.2f}"])


if __name__ == "__main__":
    raise SystemExit(main())
