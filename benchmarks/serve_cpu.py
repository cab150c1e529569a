#!/usr/bin/env python
"""Serving on a real Triton server (`resnet-opt serve`, the tritonserver bundled in nvidia-pytriton) vs in-process:
ResNet-18 digits (ONNX FP32, 32 px, trained) and ResNet-50 INT8 (ONNX QDQ, 224 px, random init: latency only).

For each artifact and each of dynamic batching on (500 µs queue delay, max batch 32) and off, one server is started
on loopback ports and driven by the project's load generator (`resnet_opt.serve.loadgen`, tritonclient HTTP and gRPC,
batch-1 requests, concurrency 1, 4 and 16, each cell bounded by a request count and a time limit); Triton's statistics
give the batch size the server really executed. The in-process figure is the same artifact through
`resnet_opt.runtime.load(...).logits` at batch 1 and 16. Server and load generator share the same cores.

    .venv/bin/python benchmarks/serve_cpu.py --work /tmp/serve-bench --prepare-only      # artifacts, outside the lock
    flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/serve_cpu.py --work /tmp/serve-bench

Writes benchmarks/results/serve_cpu.md and .json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from common import ROOT, command, cpu_line, write_results

from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.serve import ServeConfig, free_ports, start
from resnet_opt.serve.loadgen import LoadConfig, inprocess_throughput, run_load

warnings.filterwarnings("ignore")
CLI = [sys.executable, "-m", "resnet_opt"]


def prepare(work: Path, threads: int) -> dict[str, Path]:
    """The two artifacts (made once, then reused): R18 trained on digits -> ONNX FP32; R50 random init -> INT8."""
    work.mkdir(parents=True, exist_ok=True)
    r18_model, r18, r50 = work / "r18-digits", work / "r18-digits-onnx", work / "r50-int8"
    steps = [
        (r18_model, ["train", "--depth", "18", "--data", "digits", "--epochs", "3", "--threads", str(threads),
                     "--out", str(r18_model)]),
        (r18, ["export", "onnx", "--model", str(r18_model), "--data", "digits", "--out", str(r18)]),
        (r50, ["quantize", "--depth", "50", "--threads", str(threads), "--out", str(r50)]),
        (work / "digits-png", ["digits-images", "--out", str(work / "digits-png")]),
    ]
    for out, args in steps:
        if not out.exists():
            t0 = time.monotonic()
            print(f"$ resnet-opt {' '.join(args)}", flush=True)
            subprocess.run(CLI + args, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            print(f"  {time.monotonic() - t0:.0f} s", flush=True)
    return {"R18 digits ONNX FP32": r18, "R50 ONNX INT8 (QDQ)": r50}


def load_avg() -> float:
    return os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/serve-bench"))
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads of the model (server and in-process)")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--requests", type=int, default=200, help="requests per cell (at most)")
    ap.add_argument("--time-limit", type=float, default=20.0, help="seconds per cell (at most)")
    ap.add_argument("--protocols", default="http,grpc")
    ap.add_argument("--only", default=None, help="run one artifact: r18 or r50")
    ap.add_argument("--rerender", action="store_true",
                    help="re-write results/serve_cpu.md from the existing serve_cpu.json (no measurement)")
    args = ap.parse_args()
    if args.rerender:
        import json

        from common import RESULTS, results_name
        from resnet_opt.core.artifact import atomic_write_text

        name = results_name("serve_cpu")
        data = json.loads((RESULTS / f"{name}.json").read_text())
        atomic_write_text(RESULTS / f"{name}.md", render(data))
        return
    arts = prepare(args.work, args.threads)
    if args.prepare_only:
        return
    if args.only:
        arts = {k: v for k, v in arts.items() if k.lower().startswith(args.only.lower())}
    levels = [int(c) for c in args.concurrency.split(",")]
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    images = sorted(str(p) for p in (args.work / "digits-png").rglob("*.png"))
    rows, local, local_after, servers, loads = [], {}, {}, [], {}

    def in_process(art: Path) -> list[dict]:
        return [r.to_dict() for r in inprocess_throughput(art, (1, max(levels)), threads=args.threads,
                                                          iterations=100, time_limit_s=args.time_limit)]

    for label, art in arts.items():
        loads[f"before {label}"] = load_avg()  # nothing of this run is running then
        local[label] = in_process(art)
        for batching in (True, False):
            h, g, m = free_ports(3)
            cfg = ServeConfig(art, http_port=h, grpc_port=g, metrics_port=m, threads=args.threads,
                              dynamic_batching=None if batching else False)
            serving = start(cfg)
            try:
                servers.append({"artifact": label, "dynamic_batching": batching,
                                "ready_seconds": round(serving.server.ready_seconds or 0, 1)})
                for proto in protocols:
                    url = f"{proto}://{serving.server.http_url if proto == 'http' else serving.server.grpc_url}"
                    res = run_load(LoadConfig(url=url, model="resnet", concurrency=levels, requests=args.requests,
                                              time_limit_s=args.time_limit, warmup=5), log=print)
                    for c in res.cells:
                        rows.append({"artifact": label, "model": "resnet", "dynamic_batching": batching,
                                     **c.to_dict()})
                if label.startswith("R18") and images:  # encoded images: decode + preprocess + BLS to the tensor model
                    res = run_load(LoadConfig(url=f"grpc://{serving.server.grpc_url}", model="resnet-images",
                                              concurrency=levels, requests=args.requests, time_limit_s=args.time_limit,
                                              warmup=5, images=images), log=print)
                    for c in res.cells:
                        rows.append({"artifact": label, "model": "resnet-images", "dynamic_batching": batching,
                                     **c.to_dict()})
            finally:
                report = serving.stop()
                assert report.get("left") == [], report
        local_after[label] = in_process(art)
        loads[f"after {label}"] = load_avg()  # includes this run's own server and clients
    cpu = cpu_info()
    from importlib.metadata import version

    data = {"command": command(), "cpu": cpu, "versions": library_versions(), "pytriton": version("nvidia-pytriton"),
            "tritonclient": version("tritonclient"), "rows": rows, "in_process": local,
            "in_process_after": local_after,
            "servers": servers, "load_average_1min": loads,
            "settings": {"threads": args.threads, "requests": args.requests, "time_limit_s": args.time_limit,
                         "concurrency": levels, "protocols": protocols, "max_batch": 32, "queue_delay_us": 500,
                         "instances": 1}}
    write_results("serve_cpu", data, render(data))


def render(d: dict) -> str:
    from datetime import datetime, timezone

    cpu = d["cpu"]
    s = d["settings"]
    out = [f"# Serving on Triton (`resnet-opt serve`) vs in-process — {cpu.get('cores', '?')}-core CPU",
           "", f"Command: `{d['command']}`  ",
           f"Created {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}; CPU: {cpu_line(cpu)}; "
           f"tritonserver 2.51 (nvidia-pytriton {d['pytriton']}), tritonclient {d['tritonclient']}, onnxruntime "
           f"{d['versions'].get('onnxruntime-gpu') or d['versions'].get('onnxruntime', '?')}.  ",
           f"One model instance with {s['threads']} intra-op threads; max batch {s['max_batch']}; dynamic batching "
           f"on = {s['queue_delay_us']} µs max queue delay, off = no dynamic batcher (each request runs alone). "
           f"Batch-1 requests from the load generator (`resnet_opt.serve.loadgen`: one tritonclient client per "
           f"concurrent thread, back to back); each cell stops at {s['requests']} requests or {s['time_limit_s']:.0f} s. "
           "The load generator runs on the same cores as the server (its CPU time is part of what is measured). "
           "Latency is client-side, per request; throughput = successful requests / wall time; "
           "'exec batch' = images / model executions, from Triton's statistics. This VM's speed drifts between runs "
           "(other benchmark files may show other absolute figures for the same artifact): compare figures within "
           "this file, whose in-process rows are measured in the same run, before and after the servers.", ""]
    for label, local in d["in_process"].items():
        out += [f"## {label}", ""]
        after = d.get("in_process_after", {}).get(label) or []
        ip = ", ".join(f"batch {r['batch']}: **{r['images_per_s']:.1f} img/s** (p50 {r['p50_ms']:.2f} ms)" for r in local)
        ipa = ", ".join(f"batch {r['batch']} {r['images_per_s']:.1f} img/s" for r in after)
        out += [f"In-process (`runtime.load(...).logits`, {local[0]['threads']} threads, before the servers): {ip}"
                + (f"; after them: {ipa}" if ipa else "") + ".", ""]
        out += ["| model | protocol | dynamic batching | clients | ok / sent | req/s | p50 ms | p90 ms | p99 ms | "
                "exec batch | stopped by |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        rows_all = [r for r in d["rows"] if r["artifact"] == label]
        rows = [r for r in rows_all if r.get("model", "resnet") == "resnet"]
        for r in sorted(rows_all, key=lambda r: (r.get("model", "resnet"), r["protocol"], not r["dynamic_batching"],
                                                 r["concurrency"])):
            eb = r.get("mean_executed_batch")
            out.append(f"| `{r.get('model', 'resnet')}` | {r['protocol']} | {'on' if r['dynamic_batching'] else 'off'} | "
                       f"{r['concurrency']} | "
                       f"{r['ok']} / {r['requests']} | {r['throughput_rps']:.1f} | {_f(r['p50_ms'])} | "
                       f"{_f(r['p90_ms'])} | {_f(r['p99_ms'])} | {'—' if eb is None else f'{eb:.2f}'} | "
                       f"{r['stopped_by']} |")
        out.append("")
        top = max(c["concurrency"] for c in rows) if rows else None
        lines = []
        for proto in sorted({r["protocol"] for r in rows}):
            on = next((r for r in rows if r["protocol"] == proto and r["dynamic_batching"] and r["concurrency"] == top),
                      None)
            off = next((r for r in rows if r["protocol"] == proto and not r["dynamic_batching"]
                        and r["concurrency"] == top), None)
            one = next((r for r in rows if r["protocol"] == proto and r["dynamic_batching"] and r["concurrency"] == 1),
                       None)
            if on and off and off["throughput_rps"] > 0:
                lines.append(f"{proto}, {top} clients: batching on {on['throughput_rps']:.1f} vs off "
                             f"{off['throughput_rps']:.1f} req/s (×{on['throughput_rps'] / off['throughput_rps']:.2f}), "
                             f"p99 {_f(on['p99_ms'])} vs {_f(off['p99_ms'])} ms"
                             + (f"; 1 client: {one['throughput_rps']:.1f} req/s = "
                                f"{100 * one['throughput_rps'] / local[0]['images_per_s']:.0f} % of in-process batch 1"
                                if one and local[0]['images_per_s'] else "")
                             + (f"; {top} clients with batching = {100 * on['throughput_rps'] / local[-1]['images_per_s']:.0f} % "
                                f"of in-process batch {local[-1]['batch']}" if local[-1]['images_per_s'] else ""))
        out += [f"- {ln}" for ln in lines] + [""]
    out += summary(d)
    errs = sum(r["errors"] for r in d["rows"])
    la = d["load_average_1min"]
    out += [f"Errors: {errs} of {sum(r['requests'] for r in d['rows'])} requests. Server start to ready: "
            + ", ".join(f"{x['artifact']} batching {'on' if x['dynamic_batching'] else 'off'} {x['ready_seconds']} s"
                        for x in d["servers"]) + ".",
            "", "1-minute load average (2 cores; other work shared the machine): "
            + ", ".join(f"{k} {v:.2f}" for k, v in la.items())
            + " ('before' with nothing of this run active; 'after' includes its own server and clients, about 2).", ""]
    return "\n".join(out)


def summary(d: dict) -> list[str]:
    """What batching buys, per artifact, worked out from the rows (every figure is from this run)."""
    out = ["## What dynamic batching buys here", ""]
    for label, local in d["in_process"].items():
        rows = [r for r in d["rows"] if r["artifact"] == label and r.get("model", "resnet") == "resnet"]
        if not rows:
            continue
        top = max(r["concurrency"] for r in rows)

        def cell(proto: str, on: bool, c: int) -> dict | None:
            return next((r for r in rows if r["protocol"] == proto and r["dynamic_batching"] == on
                         and r["concurrency"] == c), None)

        gains, p99, cost, eb = [], [], [], []
        for proto in sorted({r["protocol"] for r in rows}):
            on, off = cell(proto, True, top), cell(proto, False, top)
            on1, off1 = cell(proto, True, 1), cell(proto, False, 1)
            if on and off and off["throughput_rps"]:
                gains.append(f"×{on['throughput_rps'] / off['throughput_rps']:.2f} ({proto})")
                p99.append(f"{_f(on['p99_ms'])} vs {_f(off['p99_ms'])} ms ({proto})")
                eb.append(f"{on['mean_executed_batch']:.1f}" if on.get("mean_executed_batch") else "—")
            if on1 and off1 and on1["p50_ms"] is not None and off1["p50_ms"] is not None:
                cost.append(f"{on1['p50_ms'] - off1['p50_ms']:+.1f} ms ({proto})")
        b1, bn = local[0], local[-1]
        ideal = bn["images_per_s"] / b1["images_per_s"] if b1["images_per_s"] else float("nan")
        out.append(f"- **{label}**: at {top} clients batching gives {', '.join(gains)} the requests per second of "
                   f"no batching, p99 {', '.join(p99)}, with batches of {' / '.join(eb)} images executed on "
                   f"average; in-process, batch {bn['batch']} runs ×{ideal:.2f} the images per second of batch 1 (what "
                   f"batching gains in compute alone on this CPU). At 1 client batching only adds its queue delay and "
                   f"hand-off: p50 {', '.join(cost)} against no batching.")
    out.append("")
    return out


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


if __name__ == "__main__":
    main()
