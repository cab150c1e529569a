#!/usr/bin/env python
"""Where the U8S8 peak goes: OpenVINO's own per-layer profile of our INT8 ResNet-50 and pruned-0.5 INT8 ResNet-50 at
batch 1 (issue 23: unpruned INT8 >= 85 % and pruned >= 75 % of the U8S8 GEMM peak on a VNNI/AMX CPU).

Each model runs on OpenVINO's CPU plugin as ``resnet-opt bench`` runs it (static batch 1, latency hint, 2 threads),
with ``PERF_COUNT`` on. In every round: the onnxruntime U8S8 GEMM peak (``resnet_opt.bench.roofline``), then each
model for ``--runs`` calls. The peak is the best of the rounds (a probe lasts milliseconds: one that lands on a slow
moment of the VM reads low). Every model figure is taken within a round first (per layer the median of its per-call
times, the wall time's median), then the median over the rounds; the fastest round is reported too. Layers are grouped
by what decides their speed (the stem's 7x7 convolution on 3 input channels, 3x3 convolutions, 1x1 convolutions by
their input channel count, the classifier, everything that is not a convolution) and each group's time is set
against its MACs at the peak: the "lost" column is how much slower than the peak the group runs, so the groups' lost
times plus the time between layers (wall - sum of layers) are where the rest of the peak goes.

Artifacts (random weights: latency only): ``quantize --depth 50`` and ``prune --depth 50 --ratio 0.5`` ->
``quantize --data synthetic``, built through the CLI into --work when missing.

    python benchmarks/ov_layer_profile.py [--work DIR] [--rounds 5] [--runs 100] [--tag TAG]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import build_with_cli, command, cpu_line, results_name, write_results  # noqa: E402

THREADS = 2
GROUPS = ("stem conv 7x7 (3 input channels)", "3x3 convs", "1x1 convs, < 64 input channels",
          "1x1 convs, 64-255 input channels", "1x1 convs, >= 256 input channels", "classifier (FC)",
          "not a conv (pool, reorder, input quantize, mean)")


def build(work: Path) -> dict[str, Path]:
    made = build_with_cli(work, [("int8", ["quantize", "--depth", "50", "--data", "synthetic"]),
                                 ("pruned50", ["prune", "--depth", "50", "--ratio", "0.5"]),
                                 ("pruned50-int8", ["quantize", "--model", str(work / "pruned50"), "--data",
                                                    "synthetic"])])
    from resnet_opt.core.manifest import open_artifact

    return {"INT8 ResNet-50": Path(open_artifact(made["int8"]).model_file),
            "pruned 0.5 + INT8 ResNet-50": Path(open_artifact(made["pruned50-int8"]).model_file)}


def layer_table(compiled: Any) -> dict[str, dict[str, Any]]:
    """name -> {type, macs, group, k_in} from the compiled (runtime) model: MACs of convolutions and the FC from their
    output and weight shapes, ``k_in`` a convolution's input channels."""
    import numpy as np

    out: dict[str, dict[str, Any]] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        lt = rt["layerType"].astype(str) if "layerType" in rt else op.get_type_name()
        name = op.get_friendly_name()
        macs, group, k_in = 0, GROUPS[-1], None
        if lt == "Convolution" or lt.startswith("FullyConnected"):
            w = list(op.get_input_partial_shape(1).to_shape())
            o = list(op.get_output_partial_shape(0).to_shape())
            if lt == "Convolution":
                k_in = int(w[1])
                macs = int(o[1] * o[2] * o[3] * int(np.prod(w[1:])))
                kh = int(w[2])
                group = (GROUPS[0] if k_in <= 4 and kh == 7 else GROUPS[1] if kh == 3 else
                         GROUPS[2] if k_in < 64 else GROUPS[3] if k_in < 256 else GROUPS[4])
            else:
                macs, group = int(np.prod(w)), GROUPS[5]
        out[name] = {"type": lt, "macs": macs, "group": group, "k_in": k_in}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/resnet-opt-ov-profile"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=100, help="profiled calls per model and round")
    ap.add_argument("--tag", default=None, help="results file suffix (auto: this CPU's tag)")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    files = build(a.work)
    import numpy as np
    import openvino as ov

    from resnet_opt.bench.roofline import measure_gemm
    from resnet_opt.core.env import cpu_info

    core = ov.Core()
    models: dict[str, Any] = {}
    for label, f in files.items():
        m = core.read_model(str(f))
        m.reshape({m.inputs[0]: [1, 3, 224, 224]})
        c = core.compile_model(m, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": THREADS,
                                          "INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": True})
        models[label] = (c, c.create_infer_request(), layer_table(c))
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    # per model, per round: the wall times and each layer's times of that round's calls
    wall: dict[str, list[list[float]]] = {k: [] for k in models}
    layer_us: dict[str, list[dict[str, list[float]]]] = {k: [] for k in models}
    peaks: list[float] = []
    t0 = time.perf_counter()
    for rnd in range(a.rounds):
        time.sleep(0.3)
        peaks.append(measure_gemm("u8s8", 1024, THREADS).gmacs_per_s)
        for label, (_c, req, _t) in models.items():
            time.sleep(0.3)
            for _ in range(10):
                req.infer({0: x})
            w: list[float] = []
            lay: dict[str, list[float]] = collections.defaultdict(list)
            for _ in range(a.runs):
                s = time.perf_counter()
                req.infer({0: x})
                w.append((time.perf_counter() - s) * 1e3)
                for p in req.profiling_info:
                    lay[p.node_name].append(p.real_time.total_seconds() * 1e6)
            wall[label].append(w)
            layer_us[label].append(lay)
        print(f"round {rnd + 1}: peak {peaks[-1]:.0f} GMAC/s; " + "; ".join(
            f"{k} {statistics.median(v[-1]):.3f} ms" for k, v in wall.items()), flush=True)
    secs = time.perf_counter() - t0
    cpu = cpu_info()
    peak = max(peaks)  # one short probe can land on a slow moment (a round at half the peak was seen)
    results: dict[str, Any] = {"peak_rounds": peaks, "peak_u8s8_gmacs": peak, "models": {}}
    md = ["# Where the U8S8 peak goes: OpenVINO's per-layer profile of INT8 ResNet-50 at batch 1", "",
          f"Command: `{command()}`", "",
          f"CPU: {cpu_line(cpu)}; OpenVINO {ov.__version__.split('-')[0]}, {THREADS} threads, static batch 1, latency "
          f"hint, `PERF_COUNT` on. {a.rounds} rounds ({secs:.0f} s); each round measures the U8S8 GEMM peak "
          f"(onnxruntime, `resnet_opt.bench.roofline`; {min(peaks):.0f}-{max(peaks):.0f} GMAC/s across the rounds) and "
          f"then runs each model {a.runs} times. The peak is the best of the rounds (**{max(peaks):.0f} GMAC/s**: a "
          "probe lasts milliseconds, so one that lands on a slow moment of the VM reads low, never high). Every "
          "model figure is taken within a round first (medians of its calls; the layers of one round add up to that "
          "round's wall time) and then the median over the rounds; the fastest round is given too. *lost* = the "
          "group's time minus its MACs' time at the peak.", ""]
    for label, (_c, _req, table) in models.items():
        macs = sum(t["macs"] for t in table.values())
        per_round = []
        for rnd in range(a.rounds):
            wr = statistics.median(wall[label][rnd])
            med = {n: statistics.median(v) for n, v in layer_us[label][rnd].items()}
            g: dict[str, dict[str, float]] = {k: {"ms": 0.0, "macs": 0, "layers": 0} for k in GROUPS}
            for n, us in med.items():
                t = table.get(n)
                k = t["group"] if t else GROUPS[-1]
                g[k]["ms"] += us / 1e3
                g[k]["macs"] += t["macs"] if t else 0
                g[k]["layers"] += 1 if us > 0 else 0
            for k in GROUPS:
                g[k]["lost_ms"] = g[k]["ms"] - g[k]["macs"] / (peak * 1e9) * 1e3
                g[k]["share"] = g[k]["macs"] / g[k]["ms"] / 1e6 / peak if g[k]["ms"] and g[k]["macs"] else None
            sum_layers = sum(med.values()) / 1e3
            between = max(wr - sum_layers, 0.0)
            # what a call costs whatever the channel counts: the stem's and classifier's losses, the layers that are
            # not convolutions, the time between layers
            fixed = g[GROUPS[0]]["lost_ms"] + g[GROUPS[5]]["lost_ms"] + g[GROUPS[6]]["ms"] + between
            per_round.append({"wall_ms": wr, "share": macs / wr / 1e6 / peak, "sum_layers_ms": sum_layers,
                              "between_ms": between, "fixed_ms": fixed, "groups": g, "layers_us": med})
        mid = lambda f: statistics.median(f(r) for r in per_round)  # noqa: E731
        shares = [r["share"] for r in per_round]
        best = max(per_round, key=lambda r: r["share"])
        md += [f"## {label}", "",
               f"{macs / 1e9:.3f} GMACs; wall p50 **{mid(lambda r: r['wall_ms']):.3f} ms** (rounds "
               f"{min(r['wall_ms'] for r in per_round):.3f}-{max(r['wall_ms'] for r in per_round):.3f}) = "
               f"**{100 * statistics.median(shares):.0f} % of the peak** (median over rounds; rounds "
               f"{100 * min(shares):.0f}-{100 * max(shares):.0f} %); the layers' medians sum to "
               f"{mid(lambda r: r['sum_layers_ms']):.3f} ms, {mid(lambda r: r['between_ms']):.3f} ms between layers "
               "(scheduling, the infer call; 0 where a round's layer medians add up to more than its wall median).",
               "",
               "| group | layers | MMACs | ms | share of wall | % of peak | lost ms |", "|---|---|---|---|---|---|---|"]
        rows = []
        for k in GROUPS:
            g0 = per_round[0]["groups"][k]
            if not g0["layers"] and not g0["macs"]:
                continue
            ms = mid(lambda r: r["groups"][k]["ms"])
            sh = mid(lambda r: r["groups"][k]["share"] or 0.0) if g0["macs"] else None
            lost = mid(lambda r: r["groups"][k]["lost_ms"])
            frac = mid(lambda r: r["groups"][k]["ms"] / r["wall_ms"])
            rows.append({"group": k, "layers": g0["layers"], "macs": g0["macs"], "ms": ms, "share_of_peak": sh,
                         "lost_ms": lost, "share_of_wall": frac})
            md.append(f"| {k} | {g0['layers']} | {g0['macs'] / 1e6:.1f} | {ms:.3f} | {100 * frac:.1f} % | "
                      + (f"{100 * sh:.0f} %" if sh else "—") + f" | {lost:.3f} |")
        between = mid(lambda r: r["between_ms"])
        md.append(f"| between layers | | | {between:.3f} | {100 * mid(lambda r: r['between_ms'] / r['wall_ms']):.1f} % "
                  f"| | {between:.3f} |")
        conv_share = mid(lambda r: sum(r["groups"][k]["macs"] for k in GROUPS[1:5])
                         / sum(r["groups"][k]["ms"] for k in GROUPS[1:5]) / 1e6 / peak)
        conv_macs = sum(r["macs"] for r in rows if r["group"] in GROUPS[1:5])
        fixed = mid(lambda r: r["fixed_ms"])
        no_fixed = mid(lambda r: macs / ((r["wall_ms"] - r["fixed_ms"]) * 1e6) / peak)
        top = sorted(rows, key=lambda r: -r["lost_ms"])[:3]
        md += ["", f"Reading: the 3x3 and 1x1 convolutions ({100 * conv_macs / macs:.0f} % of the MACs) run at "
               f"{100 * conv_share:.0f} % of the peak; the most time lost against the peak: " + ", ".join(
                   f"{r['group']} {r['lost_ms']:.3f} ms" for r in top)
               + f". The stem's and the classifier's losses, the layers that are not convolutions and the time "
               f"between layers cost {fixed:.3f} ms a call whatever the channel counts; without them the model would "
               f"run at {100 * no_fixed:.0f} % of the peak. The fastest round ran at {100 * best['share']:.0f} % "
               f"({best['wall_ms']:.3f} ms).", ""]
        med_layers = {n: statistics.median(r["layers_us"].get(n, 0.0) for r in per_round) for n in table}
        slow = sorted(((med_layers[n], t) for n, t in table.items() if t["macs"] and med_layers.get(n)),
                      key=lambda p: p[1]["macs"] / p[0])[:5]
        md += ["Slowest layers per MAC (median over rounds): " + "; ".join(
            f"{t['type']}" + (f" K={t['k_in']}" if t["k_in"] else "") + f" {t['macs'] / 1e6:.1f} MMACs in {us:.1f} us"
            for us, t in slow) + ".", ""]
        results["models"][label] = {"file": str(files[label]), "macs": macs, "groups": rows,
                                    "share_of_peak": statistics.median(shares), "share_rounds": shares,
                                    "wall_rounds_ms": [r["wall_ms"] for r in per_round],
                                    "layers": {n: {**t, "median_us": med_layers.get(n)} for n, t in table.items()}}
    results.update({"rounds": a.rounds, "runs": a.runs, "seconds": secs})
    write_results(results_name("ov_layer_profile", a.tag), results, "\n".join(md))


if __name__ == "__main__":
    main()
