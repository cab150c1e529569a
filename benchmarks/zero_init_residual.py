#!/usr/bin/env python
"""Does ``train --zero-init-residual`` help a ResNet-50 trained from scratch on Fashion-MNIST?

A ResNet-50 at 32 px (SGD lr 0.1, batch 128, 6 epochs on all 54,000 training images) ended at only 77.85 % val and sat at
chance (14 %) after its first epoch. Starting every residual block as the identity (its last BatchNorm scale 0, Goyal
et al. 2017, torchvision's ``zero_init_residual=True``) is the standard cure for deep bottleneck models. Each variant:
the same seeded subset, the same short schedule, val top-1 after every epoch and test top-1 on all 10,000 official test
images at the end. A short schedule that ranks the variants, not a final figure.

    .venv/bin/python benchmarks/zero_init_residual.py     # benchmarks/results/zero_init_residual.md + .json
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
from fashion_mnist import start_study  # noqa: E402

VARIANTS = (("SGD lr 0.1, torchvision init", "sgd", "0.1", False),
            ("SGD lr 0.1, --zero-init-residual", "sgd", "0.1", True),
            ("AdamW lr 2e-3, --zero-init-residual", "adamw", "0.002", True))


def main() -> int:
    from resnet_opt.core.env import environment

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=8192, help="training images (a seeded subset)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--depth", default="50")
    ap.add_argument("--data", default="fashion-mnist:32")
    started = start_study(ap, ROOT / "runs" / "zero-init")
    if started is None:
        return 2
    a, cpu, amp, s = started
    t_all = time.perf_counter()
    rows = []
    for i, (label, opt, lr, zi) in enumerate(VARIANTS):
        out = str(a.work / f"v{i}")
        args = ["train", "--data", a.data, "--depth", a.depth, "--epochs", str(a.epochs), "--limit", str(a.limit),
                "--batch-size", "128", "--optimizer", opt, "--lr", lr, "--warmup-epochs", "0.5", "--augment",
                "flip-shift-erase", "--amp", amp, "--threads", str(a.threads), "--out", out, "--overwrite"]
        rec = s.run(f"train-v{i}", args + (["--zero-init-residual"] if zi else []))
        if rec["result"] is None:
            rows.append({"variant": label, "error": rec["error"]})
            continue
        ev = s.run(f"eval-v{i}", ["eval", "--model", out, "--data", a.data, "--threads", str(a.threads)])
        rows.append({"variant": label, "val_top1": [h["val_top1"] for h in rec["result"]["history"]],
                     "train_s": rec["seconds"], "test_top1": ev["result"]["top1"] if ev["result"] else None,
                     "split": (ev["result"] or {}).get("split")})
    cmd = command(lock=False)
    data = {"command": cmd, "depth": a.depth, "data": a.data, "limit": a.limit, "epochs": a.epochs, "amp": amp,
            "rows": rows, "steps": s.steps, "wall_s": time.perf_counter() - t_all, "environment": environment()}
    md = [f"# ResNet-{a.depth} from scratch on {a.data}: zero-init residual", "", f"Command: `{cmd}`",
          f"CPU: {cpu_line(cpu)}", "",
          f"Each variant: {a.epochs} epochs on the same seeded {a.limit:,} training images (batch 128, wd default, "
          f"warm-up 0.5 epoch then cosine, label smoothing 0.1, flips + shifts + erasing, autocast {amp}, "
          f"{a.threads} threads). A short schedule that ranks the variants, not a final figure.", "",
          "| variant | val top-1 % after each epoch | test top-1 % | train s |", "|---|---|---:|---:|"]
    return write_study(a.results_dir, "zero_init_residual", data, md, rows, lambda r: [
        " → ".join(f"{v:.2f}" for v in r["val_top1"]), "—" if r["test_top1"] is None else f"{r['test_top1']:.2f}",
        f"{r['train_s']:.0f}"])


if __name__ == "__main__":
    raise SystemExit(main())
