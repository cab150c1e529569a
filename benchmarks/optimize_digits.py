"""`resnet-opt optimize --max-drop 0.5` on digits (or --data SPEC) from a trained ResNet: the front, the choice, the
wall time.

    .venv/bin/python benchmarks/optimize_digits.py --model runs/digits-r18 --out /tmp/opt/search
        runs the search (the exact CLI command below) and writes results/optimize_digits.md + .json
    .venv/bin/python benchmarks/optimize_digits.py --model runs/fashion-study/fp32 --data fashion-mnist:64 \
        --name optimize_fashion --out /tmp/opt/fashion -- --budget-minutes 25 --finetune-epochs 1
        the same on Fashion-MNIST (arguments after -- go to resnet-opt optimize)
    .venv/bin/python benchmarks/optimize_digits.py --render /tmp/opt/search --wall 812 --command "..."
        writes them from a finished work folder (the command and wall time as they were measured)

Issue 28's target: an artifact within 0.5 pt of FP32 and at least 5x faster than its FP32 eager source at batch 1.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, cpu_line, environment, write_results


def _row(c: dict, chosen: str | None) -> str:
    mark = " **chosen**" if c["id"] == chosen else ""
    lat = "-" if c.get("latency_ms") is None else f"{c['latency_ms']:.3f}" + ("!" if c.get("unstable") else "")
    top1 = "-" if c.get("val_top1") is None else f"{c['val_top1']:.2f}"
    drop = "-" if c.get("drop") is None else f"{c['drop']:+.2f}"
    status = c["status"] + (f" ({c['reason']})" if c.get("reason") and c["status"] != "timed" else "")
    return (f"| {c['id']}{mark} | {c['ratio']:g} | {(c.get('macs') or 0) / 1e6:.1f}M | {c['precision']} | "
            f"{c['runtime']} | {top1} | {drop} | {lat} | {status.replace('|', '/')} |")


def render(work: Path, wall_s: float, cmd: str, notes: str | None = None, data: str = "digits",
           name: str = "optimize_digits") -> None:
    d = json.loads((work / "candidates.json").read_text())
    rep, ref, chosen = d.get("report") or {}, d["reference"], d.get("chosen")
    env = environment()
    head = ["| candidate | ratio | MACs | precision | runtime | val top-1 % | drop (pt) | p50 ms | status |",
            "|---|---|---|---|---|---|---|---|---|"]
    by_id = {c["id"]: c for c in d["candidates"]}
    depth = ref.get("depth")
    if depth is None:  # the search records the source folder; its config.json names the depth
        from resnet_opt.core.errors import ModelFormatError
        from resnet_opt.core.model_config import read_config

        try:
            depth = read_config(ROOT / ref["model"])["depth"]
        except (ModelFormatError, KeyError):
            depth = "?"
    md = [
        f"# `resnet-opt optimize` on {data} (ResNet-{depth}, batch 1)", "",
        f"Command (wall time **{wall_s / 60:.1f} min**, {wall_s:.0f} s"
        + ("; see the notes on the timing" if notes else "") + "):", "", "```", cmd, "```", "",
        f"CPU: {cpu_line(env['cpu'])}; torch {env.get('versions', {}).get('torch')}, onnxruntime "
        f"{env.get('versions', {}).get('onnxruntime')}.", "",
        f"Source: FP32 eager, val top-1 {ref['val_top1']:.2f} % on {ref['val_count']} val images, "
        f"{ref['macs'] / 1e6:.1f}M MACs.", "",
        f"**Choice: {chosen}** — {d['why']}.", "",
    ]
    if rep:
        md += [f"Reported on the {rep['split']} split ({rep['images']} images): top-1 **{rep['top1']:.2f} %** vs "
               f"{rep['fp32_source_top1']:.2f} % FP32 (drop {rep['drop']:+.2f} pt); latency **{rep['latency_ms']:.3f} "
               f"ms** vs {rep['fp32_source_latency_ms']:.3f} ms FP32 eager = **{rep['speedup_vs_fp32_eager']:.2f}x** "
               f"(one harness run, 3 interleaved rounds, batch {rep['batch']}, {rep['threads']} threads"
               + (f"; load average {rep['load_average'][0]:.1f} when it ended" if rep.get("load_average") else "")
               + ")."
               + (f" Note: {rep['note']}." if rep.get("note") else ""), ""]
        if rep.get("warning"):
            md += [f"**Over the budget on the {rep['split']} split — {rep['warning']}** (the command exited 1).", ""]
    if d.get("budget", {}).get("stopped"):
        md += [f"The search stopped early: {d['budget']['stopped']}.", ""]
    md += ["## Pareto front (val top-1 vs latency)", "", *head, *[_row(by_id[i], chosen) for i in d["front"]], "",
           "## Every candidate", "", *head,
           *[_row(c, chosen) for c in sorted(d["candidates"], key=lambda c: (c["ratio"], c["artifact"], c["runtime"]))],
           "", "`!`: the harness flagged the cell's spread (p90/p50 or CV) as unstable. Levels:", ""]
    for lv in d["levels"]:
        md.append(f"- {lv['name']}: ratio {lv['ratio']:g}, {(lv.get('macs') or 0) / 1e6:.1f}M MACs, FP32 val top-1 "
                  f"{lv.get('fp32_val_top1', float('nan')):.2f} %, {lv.get('status')}"
                  + (f" ({lv['reason']})" if lv.get("reason") else ""))
    md += ["", "Plot: `pareto.png` in the work folder (not copied here)."]
    if notes:
        md += ["", "## Notes", "", Path(notes).read_text().strip()]
    write_results(name, {"command": cmd, "wall_s": wall_s, "candidates": d,
                                      "environment": env}, "\n".join(md))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path)
    ap.add_argument("--out", type=Path, default=Path("/tmp/opt/search"))
    ap.add_argument("--render", type=Path, help="a finished work folder to write the results from")
    ap.add_argument("--wall", type=float, help="with --render: the measured wall time (s)")
    ap.add_argument("--command", help="with --render: the command that was run")
    ap.add_argument("--notes", help="a markdown file appended as the Notes section")
    ap.add_argument("--data", default="digits", help="the data spec of the search (default digits)")
    ap.add_argument("--name", default="optimize_digits", help="results file name")
    ap.add_argument("extra", nargs="*", help="after --: more resnet-opt optimize arguments")
    a = ap.parse_args()
    if a.render:
        render(a.render, float(a.wall or 0), a.command or "?", a.notes, a.data, a.name)
        return
    if a.model is None:
        ap.error("--model DIR (a trained digits ResNet-18: resnet-opt train --depth 18 --data digits --epochs 8)")
    argv = [str(ROOT / ".venv/bin/resnet-opt"), "optimize", "--model", str(a.model), "--data", a.data,
            "--max-drop", "0.5", "--out", str(a.out), *a.extra]
    t0 = time.perf_counter()
    rc = subprocess.call(argv)
    wall = time.perf_counter() - t0
    if rc != 0 and not (a.out / "candidates.json").is_file():
        sys.exit(rc)
    # exit 1 with figures (no candidate, or a choice over the budget on the test split): rendered as well, then rc
    render(a.out, wall, "resnet-opt " + " ".join(shlex.quote(x) for x in argv[1:]), a.notes, a.data, a.name)
    sys.exit(rc)


if __name__ == "__main__":
    main()
