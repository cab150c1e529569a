#!/usr/bin/env python
"""The default PyTorch INT8 package against the legacy FX INT8 TorchScript, paired (issue 23: the PT2E `.pt2` no
slower than FX TorchScript at batch 1 and 8).

Both artifacts of a random ResNet-50 (latency only), built through the CLI into --work when missing:
``quantize --depth 50 --target torch`` (PT2E, one static AOTInductor model per batch size) and ``quantize --depth 50
--target torchscript-fx``. Each is loaded as the runtime loads it (``resnet_opt.runtime.load``, 2 threads). In every
round both are timed back to back (alternating which goes first) and the round's ratio pt2 / FX is kept: the ratio's
median over the rounds is the figure, its range the spread (a VM's drift between rounds moves both alike).

Then, at batch 1, each artifact runs a few calls in a child process with ``ONEDNN_VERBOSE=1``: the oneDNN primitives'
own time per call (convolutions, the classifier's matmul), so the rest of the wall time is what runs outside oneDNN
(the graph's other kernels and the call itself). Where Linux ``perf`` is installed, each artifact also runs for a few
seconds in a child process, warmed up, while ``perf record`` samples it (attached after the warm-up, so loading is
not in the sample): the CPU time per call split by library (oneDNN's JIT kernels, the OpenMP runtime, malloc/free,
ATen), and the time in oneDNN primitive-descriptor creation, which a path that caches its primitives never pays.

    python benchmarks/pt2_vs_fx.py [--work DIR] [--rounds 9] [--tag TAG] [--perf-seconds 5]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from resnet_opt.bench.timing import paired_verdict, verdict_word  # noqa: E402
from common import build_with_cli, command, cpu_line, median_ms, results_name, write_results  # noqa: E402

THREADS = 2
WARMUP_S = 1.5  # every timing here starts after this much warm-up: an artifact's first calls run slow (FX's first
# 0.8 s 13-16 % above its steady state on the Zen 5 VM; the .pt2's 24-43 % until 081aefe, a full garbage collection)
ARTIFACTS = {"pt2": ["quantize", "--depth", "50", "--target", "torch"],
             "fx": ["quantize", "--depth", "50", "--target", "torchscript-fx"]}
CONV_CALLS = 53  # convolutions in a ResNet-50 call (the stem, 3 in each of 16 blocks, 4 downsample), in both artifacts
LABELS = {"pt2": "PT2E INT8 .pt2 (quantize --target torch)", "fx": "FX INT8 TorchScript (--target torchscript-fx)"}


def _warm(m, x, calls: int, seconds: float) -> None:
    """``calls`` calls of ``m`` on ``x``, then more until ``seconds`` have passed since the first."""
    t0 = time.perf_counter()
    for _ in range(calls):
        m.logits(x)
    while time.perf_counter() - t0 < seconds:
        m.logits(x)


def _warm_child(folder: str, warmup: int, marker: str, seconds: float = 0.0):
    """(child) load ``folder`` with THREADS threads, run ``warmup`` batch-1 calls and more until ``seconds`` have
    passed, print ``marker``: (model, input)."""
    import torch

    from resnet_opt.runtime import load

    torch.set_num_threads(THREADS)
    m = load(folder)
    x = torch.randn(1, 3, 224, 224)
    _warm(m, x, warmup, seconds)
    print(marker, flush=True)
    return m, x


def onednn_child(folder: str, calls: int) -> None:
    """(child) warm up, print a marker, run ``calls`` batch-1 calls: ONEDNN_VERBOSE lines follow the marker."""
    m, x = _warm_child(folder, 5, "=====MARK")
    for _ in range(calls):
        m.logits(x)


def onednn_ms(folder: Path, calls: int = 20) -> dict[str, float]:
    """oneDNN primitive time per call at batch 1, by primitive kind (from a child's ONEDNN_VERBOSE output)."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    r = subprocess.run([sys.executable, __file__, "--onednn-child", str(folder), "--calls", str(calls)],
                       capture_output=True, text=True, env=env)
    after = r.stdout.split("=====MARK", 1)[-1]
    by: dict[str, float] = collections.defaultdict(float)
    for line in after.splitlines():
        f = line.strip().split(",")
        if not line.startswith("onednn_verbose") or "exec" not in f:
            continue
        try:
            by[f[f.index("exec") + 2]] += float(f[-1]) / calls
        except (ValueError, IndexError):
            continue
    return dict(by)


def steady_child(folder: str, seconds: float) -> None:
    """(child) load, warm up, say READY, then run batch-1 calls for ``seconds`` and print the ms per call."""
    m, x = _warm_child(folder, 20, "READY", seconds=WARMUP_S)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        m.logits(x)
        n += 1
    print(f"MS {(time.perf_counter() - t0) / n * 1e3:.4f}", flush=True)


def op_child(rounds: int) -> None:
    """(child) the per-call cost of one INT8 convolution operator, PT2E's ``onednn::qconv_pointwise`` (what the
    ``.pt2`` calls) against FX's ``quantized::conv2d_relu`` (packed weights that cache the primitive), same weights,
    same u8 input, on a 1x1 64->64 convolution over 7x7 so that the arithmetic is negligible; paired rounds, JSON out."""
    import json
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=UserWarning)  # quantized tensor creation is deprecated (FX's path)
    torch.set_num_threads(THREADS)
    torch.backends.quantized.engine = "onednn"
    torch.manual_seed(0)
    c, hw, xs = 64, 7, 0.05
    w, b = torch.randn(c, c, 1, 1), torch.randn(c)
    ws = (w.abs().amax((1, 2, 3)) / 127).float()
    qx = torch.quantize_per_tensor(torch.rand(1, c, hw, hw) * 5, xs, 0, torch.quint8).contiguous(
        memory_format=torch.channels_last)
    packed = torch.ops.quantized.conv2d_prepack(
        torch.quantize_per_channel(w, ws.double(), torch.zeros(c, dtype=torch.long), 0, torch.qint8), b,
        [1, 1], [0, 0], [1, 1], 1)
    w8 = torch.clamp(torch.round(w / ws[:, None, None, None]), -128, 127).to(torch.int8)
    pw = torch.ops.onednn.qconv_prepack(w8, ws, xs, 0, [1, 1], [0, 0], [1, 1], 1, [1, c, hw, hw])
    u8, xs_t, zp_t, wzp = qx.int_repr(), torch.tensor(xs), torch.tensor(0), torch.zeros(c, dtype=torch.long)
    ops = {"fx": lambda: torch.ops.quantized.conv2d_relu(qx, packed, 0.1, 0),
           "pt2": lambda: torch.ops.onednn.qconv_pointwise.tensor(u8, xs_t, zp_t, pw, ws, wzp, b, [1, 1], [0, 0],
                                                                  [1, 1], 1, 0.1, 0, None, "relu", [None], "")}
    same = bool(torch.equal(ops["fx"]().int_repr(), ops["pt2"]()))

    def us(fn, n: int = 2000) -> float:
        for _ in range(200):
            fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1e6

    per: dict[str, list[float]] = {"fx": [], "pt2": []}
    for r in range(rounds):
        for n in (("pt2", "fx") if r % 2 else ("fx", "pt2")):
            per[n].append(us(ops[n]))
    diffs = [p - f for p, f in zip(per["pt2"], per["fx"])]
    print(json.dumps({"same_output": same, "fx_us": statistics.median(per["fx"]),
                      "pt2_us": statistics.median(per["pt2"]), "diff_us": statistics.median(diffs),
                      "diff_range_us": [min(diffs), max(diffs)], "rounds": rounds}), flush=True)


def op_overhead(rounds: int = 15) -> dict | None:
    """:func:`op_child` run in a child process; None where it failed."""
    import json

    r = subprocess.run([sys.executable, __file__, "--op-child", "--calls", str(rounds)], capture_output=True, text=True)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        print(f"op overhead child failed: {r.stderr[-500:]}", flush=True)
        return None


# perf's DSO names -> what runs there
DSO_GROUPS = (("[JIT]", "oneDNN JIT kernels"), ("libgomp", "OpenMP runtime (libgomp: fork/join, spin-waiting)"),
              ("libc.so", "libc (malloc/free, memcpy)"), ("libtorch_cpu", "libtorch_cpu (ATen kernels, oneDNN set-up)"),
              ("libpython", "Python"), ("wrapper.so", "AOTInductor model code"))
PD_CREATION = re.compile(r"conv_desc_init|primitive_desc_create|primitive_desc_iterator")
MALLOC = re.compile(r"malloc|_int_free|cfree|memalign|consolidate|unlink_chunk")


def _perf_rows(data: str, sort: str) -> tuple[list[tuple[float, str]], float]:
    """(share %, name) rows of ``perf report --sort sort`` and the sampled CPU time in ms (cpu-clock counts ns)."""
    r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", sort, "-g", "none"],
                       capture_output=True, text=True)
    ns = re.search(r"Event count \(approx\.\): (\d+)", r.stdout)
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.*\S)", line)
        if m and not line.startswith("#"):
            rows.append((float(m.group(1)), m.group(2)))
    return rows, (int(ns.group(1)) / 1e6 if ns else 0.0)


def perf_split(folder: Path, seconds: float) -> dict | None:
    """CPU ms per batch-1 call by library, from ``perf record`` attached to a warmed-up child; None without perf."""
    if shutil.which("perf") is None or seconds <= 0:
        return None
    child = subprocess.Popen([sys.executable, __file__, "--steady-child", str(folder), "--calls", str(seconds + 2)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        while (line := child.stdout.readline()) and line.strip() != "READY":
            pass
        with tempfile.TemporaryDirectory() as tmp:
            data = str(Path(tmp) / "perf.data")
            rec = subprocess.run(["perf", "record", "-F", "1999", "-p", str(child.pid), "-o", data, "--", "sleep",
                                  str(seconds)], capture_output=True, text=True)
            if rec.returncode != 0:
                return None
            out, _ = child.communicate(timeout=60)
            call_ms = float(re.search(r"MS ([\d.]+)", out).group(1))
            by_dso, cpu_ms = _perf_rows(data, "dso")  # by library: the by-symbol rows of the JIT code add up higher
            by_sym, _ = _perf_rows(data, "dso,sym")
    finally:
        if child.poll() is None:
            child.kill()
    per_call = cpu_ms / (seconds * 1e3 / call_ms)  # sampled CPU ms (both threads) per call
    groups: dict[str, float] = collections.defaultdict(float)
    for share, name in by_dso:
        label = next((g for key, g in DSO_GROUPS if key in name), "other")
        groups[label] += share
    pd = sum(sh for sh, name in by_sym if PD_CREATION.search(name))
    mal = sum(sh for sh, name in by_sym if "libc" in name and MALLOC.search(name))
    return {"call_ms": call_ms, "cpu_ms_per_call": per_call,
            "groups_ms": {g: per_call * sh / 100 for g, sh in sorted(groups.items(), key=lambda kv: -kv[1])},
            "pd_creation_ms": per_call * pd / 100, "malloc_ms": per_call * mal / 100}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/resnet-opt-pt2-fx"))
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--runs", type=int, default=60, help="timed calls per artifact and round at batch 1 (batch 8: /5)")
    ap.add_argument("--tag", default=None, help="results file suffix (auto: this CPU's tag)")
    ap.add_argument("--warmup-s", type=float, default=WARMUP_S, help="seconds of warm-up calls per artifact and batch size")
    ap.add_argument("--perf-seconds", type=float, default=5.0,
                    help="seconds of perf sampling per artifact (0: skip; skipped anyway without perf)")
    ap.add_argument("--onednn-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--steady-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--op-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--calls", type=float, default=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.onednn_child:
        onednn_child(a.onednn_child, int(a.calls))
        return
    if a.steady_child:
        steady_child(a.steady_child, a.calls)
        return
    if a.op_child:
        op_child(int(a.calls))
        return
    a.work.mkdir(parents=True, exist_ok=True)
    folders = build_with_cli(a.work, list(ARTIFACTS.items()))
    import torch

    from resnet_opt.core.env import cpu_info
    from resnet_opt.runtime import load

    torch.set_num_threads(THREADS)
    models = {n: load(f, threads=THREADS) for n, f in folders.items()}
    rows = []
    t0 = time.perf_counter()
    for bs in (1, 8):
        x = torch.randn(bs, 3, 224, 224)
        runs = a.runs if bs == 1 else max(a.runs // 5, 5)
        for m in models.values():  # warmed up by time, not by call count (WARMUP_S)
            _warm(m, x, 0, a.warmup_s)
        ms: dict[str, list[float]] = {n: [] for n in models}
        ratios = []
        for r in range(a.rounds):
            for n in (("pt2", "fx") if r % 2 == 0 else ("fx", "pt2")):
                ms[n].append(median_ms(lambda m=models[n]: m.logits(x), runs, warmup=1))
            ratios.append(ms["pt2"][-1] / ms["fx"][-1])
        ratio = statistics.median(ratios)
        rows.append({"batch": bs, "pt2_ms": statistics.median(ms["pt2"]), "fx_ms": statistics.median(ms["fx"]),
                     "ratio": ratio, "ratio_range": [min(ratios), max(ratios)], "rounds_ms": ms,
                     "met": paired_verdict(ratios), "slower_rounds": sum(x > 1.0 for x in ratios)})
        print(f"batch {bs}: pt2/fx {ratio:.3f} ({min(ratios):.3f}-{max(ratios):.3f})", flush=True)
    secs = time.perf_counter() - t0
    dnn = {n: onednn_ms(f) for n, f in folders.items()}
    prof = {n: perf_split(f, a.perf_seconds) for n, f in folders.items()}
    op = op_overhead()
    cpu = cpu_info()
    md = ["# PT2E INT8 `.pt2` vs FX INT8 TorchScript, ResNet-50, paired", "", f"Command: `{command()}`", "",
          f"CPU: {cpu_line(cpu)}; torch {torch.__version__}, {THREADS} threads. Each artifact warmed up for "
          f"{a.warmup_s:g} s per batch size, then {a.rounds} rounds ({secs:.0f} s in all); in "
          f"each, both artifacts timed back to back ({a.runs} calls at batch 1, {max(a.runs // 5, 5)} at batch 8; "
          "alternating which goes first); figures are medians over the rounds, the ratio the median of the "
          "per-round ratios. *no slower*: yes where the median ratio is at most 1; no where the `.pt2` was slower "
          "in so many rounds that chance would do it less than 5 % of the time (sign test); otherwise a tie within "
          "the run's noise.", "",
          "| batch | .pt2 ms | FX TorchScript ms | .pt2 / FX (paired) | per-round range | rounds with the .pt2 "
          "slower | .pt2 no slower |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['batch']} | {r['pt2_ms']:.2f} | {r['fx_ms']:.2f} | {r['ratio']:.3f} | "
                  f"{r['ratio_range'][0]:.3f}-{r['ratio_range'][1]:.3f} | {r['slower_rounds']} of {a.rounds} | "
                  f"{verdict_word(r['met'])} |")
    b1 = rows[0]
    md += ["", "oneDNN's own time per batch-1 call (`ONEDNN_VERBOSE=1`, 20 calls in a child process; verbose logging "
           "slows the call a little, so read the split, not the sum against the wall time above). The `.pt2`'s "
           "convolutions include the 16 residual additions (oneDNN `sum` post-op); FX TorchScript runs them as "
           "separate `quantized::add` kernels, outside oneDNN:", "",
           "| artifact | oneDNN ms per call | by primitive |", "|---|---|---|"]
    for n, d in dnn.items():
        md.append(f"| {LABELS[n]} | {sum(d.values()):.3f} | "
                  + ", ".join(f"{k} {v:.3f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) + " |")
    gap = (b1["ratio"] - 1) * b1["fx_ms"]  # the paired ratio in ms (the medians' difference can differ in sign)
    reading = [f"Reading: at batch 1 the `.pt2` is {100 * (b1['ratio'] - 1):+.1f} % against FX TorchScript "
               f"({gap:+.3f} ms at FX's median); at batch 8 {100 * (rows[1]['ratio'] - 1):+.1f} %."]
    if all(prof.values()):
        groups = list(dict.fromkeys(g for p in prof.values() for g in p["groups_ms"]))
        md += ["", "Where the CPU time of a batch-1 call goes (`perf record -F 1999` attached to a child warmed up "
               f"for {WARMUP_S:g} s, for {a.perf_seconds:g} s per artifact; CPU ms per call summed over both threads, so a thread "
               "spin-waiting for the other counts too). The two samples are taken one after the other, so a VM's "
               "drift moves one against the other (compare the wall ms of the samples): read each column's split, "
               "not small differences between columns:", "",
               "| | " + " | ".join(LABELS[n] for n in prof) + " |", "|---|" + "---|" * len(prof)]
        md.append("| wall ms per call in the sample | " + " | ".join(f"{p['call_ms']:.2f}" for p in prof.values())
                  + " |")
        for g in groups:
            md.append(f"| {g} | " + " | ".join(f"{p['groups_ms'].get(g, 0.0):.3f}" for p in prof.values()) + " |")
        md.append("| of which: oneDNN primitive-descriptor creation | "
                  + " | ".join(f"{p['pd_creation_ms']:.3f}" for p in prof.values()) + " |")
        md.append("| of which: malloc/free | " + " | ".join(f"{p['malloc_ms']:.3f}" for p in prof.values()) + " |")
        pt, fx = prof["pt2"], prof["fx"]
        omp = "OpenMP runtime (libgomp: fork/join, spin-waiting)"
        d_omp = pt["groups_ms"].get(omp, 0) - fx["groups_ms"].get(omp, 0)
        d_mal, d_pd = pt["malloc_ms"] - fx["malloc_ms"], pt["pd_creation_ms"] - fx["pd_creation_ms"]
        reading.append(f"In the perf sample the `.pt2` spends {d_omp:+.3f} CPU ms a call in the OpenMP runtime, "
                       f"{d_mal:+.3f} ms in malloc/free and {d_pd:+.3f} ms creating oneDNN primitive descriptors "
                       "against FX TorchScript.")
        if d_pd > 0 and fx["pd_creation_ms"] < 0.25 * pt["pd_creation_ms"]:
            reading.append("Only the `.pt2` creates descriptors per call: PyTorch's PT2E convolution "
                           "(`onednn::qconv_pointwise`, which AOTInductor calls) builds the descriptor and the "
                           "memory objects on every call, where FX's packed weights cache the primitive for the "
                           "input shape" + (", and while one thread does that set-up the other spin-waits in the "
                                            "OpenMP runtime" if d_omp > 0 else "")
                           + ". That set-up is inside PyTorch's operator, not in the package we write.")
    if op:
        md += ["", "One convolution operator called alone (a child process, a 1x1 64->64 INT8 convolution over 7x7 at "
               "batch 1, where the arithmetic is negligible: what is left is the operator's cost per call; same "
               f"weights and input, outputs {'identical' if op['same_output'] else '**different**'}; "
               f"{op['rounds']} paired rounds of 2,000 calls):", "",
               "| operator | µs per call |", "|---|---|",
               f"| FX `quantized::conv2d_relu` (packed weights, cached primitive) | {op['fx_us']:.1f} |",
               f"| PT2E `onednn::qconv_pointwise` (what the `.pt2` calls) | {op['pt2_us']:.1f} |",
               f"| difference (median of the rounds' differences; range) | {op['diff_us']:+.1f} "
               f"({op['diff_range_us'][0]:+.1f} to {op['diff_range_us'][1]:+.1f}) |"]
        reading.append(f"Called alone, PyTorch's PT2E convolution operator costs {op['diff_us']:+.1f} µs a call "
                       f"against FX's; the ResNet-50 runs {CONV_CALLS} convolutions a call, so {CONV_CALLS} x that = "
                       f"{CONV_CALLS * op['diff_us'] / 1e3:+.3f} ms, against the batch-1 gap of {gap:+.3f} ms measured above.")
    md += ["", " ".join(reading)]
    write_results(results_name("pt2_vs_fx", a.tag), {"rows": rows, "onednn_ms_per_call": dnn, "perf": prof, "seconds": secs,
                                                      "rounds": a.rounds, "runs": a.runs, "op_overhead": op},
                  "\n".join(md))


if __name__ == "__main__":
    main()
