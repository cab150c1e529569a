#!/usr/bin/env python
"""QAT INT8 ONNX vs PTQ INT8 ONNX of the same model on the same runtime, batch 1, interleaved in one process.

Issue 23: the QAT artifact must be no slower than the PTQ one. Rows, all on onnxruntime's CPU provider (and on
OpenVINO when installed), same threads:

* FP32 ONNX (the fused model's export, as the quantize stage makes it);
* PTQ INT8 ONNX: ``quantize_model`` (onnxruntime ``quantize_static``, the project's default settings);
* QAT INT8 ONNX: ``qat_model`` for a trained model folder (``--model``), or for ``--depth N`` (random weights,
  synthetic images: latency only) the same QAT graph built without fine-tuning (``prepare_qat`` -> a few fake-quant
  forward passes on synthetic images -> ``convert_qat`` -> ``export_qat_onnx``): the graph and its layout are those
  ``qat`` writes; only the values of the learned scales differ;
* the QAT graph as it was before issue 23 (the x86 Inductor quantizer's conv + add fusion annotation, exported
  without the QDQ rewrites), from the same converted model: latency only, to show what changed.

Timing: ``--rounds`` rounds; in each, every row runs ``--runs`` times back to back (after warm-up) and its median is
taken; rows are interleaved round by round, so a busy machine slows them all alike. Reported: the median over rounds
of each row, and the median over rounds of the per-round ratio QAT / PTQ.

    .venv/bin/python benchmarks/qat_speed.py --model runs/digits-r18                # digits ResNet-18 (trained)
    .venv/bin/python benchmarks/qat_speed.py --model runs/digits-r18 --depth 50     # + ResNet-50, 224 px, random
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import command, cpu_line, ort_cpu_session, results_name, write_results  # noqa: E402
from resnet_opt.core.env import cpu_info, library_versions  # noqa: E402
from resnet_opt.resnet import ModelSpec  # noqa: E402


def op_counts(path: Path) -> dict[str, int]:
    import onnx

    return dict(sorted(collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node).items()))


def ort_fused_ops(path: Path, threads: int, work: Path) -> dict[str, int]:
    """The op types onnxruntime runs after its graph optimizations (QLinearConv, QLinearAdd, FusedConv, ...)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    opt = work / f"{path.parent.name}-{path.stem}.ort-optimized.onnx"
    so.optimized_model_filepath = str(opt)
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    counts = op_counts(opt)
    opt.unlink(missing_ok=True)
    return counts


def old_layout_qat(model: torch.nn.Module, size: int, out: Path, calib: list[torch.Tensor]) -> Path:
    """The QAT graph as ``qat`` wrote it before issue 23: x86 Inductor annotation (conv + add fused, the conv's
    output left in float), dynamo export, no rewrite. Latency only."""
    import contextlib
    import io
    import warnings

    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import X86InductorQuantizer

    import resnet_opt.optimize.qat as Q

    scheme = Q.QatScheme()
    new_q = Q._quantizer(scheme)
    old = X86InductorQuantizer().set_global(new_q.global_config)
    orig = Q._quantizer
    Q._quantizer = lambda _s: old
    try:
        prepared = Q.prepare_qat(model, size, scheme)
    finally:
        Q._quantizer = orig
    with torch.no_grad():
        for x in calib:
            prepared(x)
    converted = Q.convert_qat(prepared)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(converted, (torch.randn(2, 3, size, size),), str(out), dynamo=True, input_names=["input"],
                          output_names=["logits"], dynamic_shapes=({0: batch},), opset_version=20,
                          external_data=False, verbose=False)
    return out


def random_qat(model: torch.nn.Module, size: int, out: Path, calib: list[torch.Tensor]) -> Path:
    """The QAT graph of ``qat`` (this code's annotation and rewrites) without fine-tuning: the observers see
    ``calib`` in train mode, then convert and export. Latency only."""
    from resnet_opt.optimize.qat import QatScheme, convert_qat, export_qat_onnx, prepare_qat

    prepared = prepare_qat(model, size, QatScheme())
    with torch.no_grad():
        for x in calib:
            prepared(x)
    export_qat_onnx(convert_qat(prepared), out, input_size=size, opset=20)
    return out


def build(args: argparse.Namespace, work: Path, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Per model: {name, size, files: {row: path}, notes}."""
    from resnet_opt.export import export_onnx
    from resnet_opt.optimize import fuse_bn
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model
    from resnet_opt.resnet import ResNet, load_model, read_config

    models = []
    if args.model:
        d = Path(args.model)
        size = int(read_config(d)["input_size"])
        m = load_model(d).eval()
        files: dict[str, Path] = {"fp32": work / "r18-fp32.onnx"}
        if not files["fp32"].is_file():
            export_onnx(fuse_bn(m), files["fp32"], input_size=size)
        from resnet_opt.core.manifest import read_manifest
        from resnet_opt.pipeline.qat import QatConfig, qat_model

        if not (work / "r18-ptq" / "manifest.json").is_file():  # --work: what an earlier run built is reused
            t0 = time.perf_counter()
            quantize_model(QuantizeConfig(out=work / "r18-ptq", source=ModelSpec(model_dir=d), latency_runs=3,
                                          threads=args.threads))
            log(f"PTQ of {d} in {time.perf_counter() - t0:.0f}s")
        files["ptq"] = work / "r18-ptq" / "model_int8.onnx"
        if not (work / "r18-qat" / "manifest.json").is_file():
            t0 = time.perf_counter()
            qat_model(model_dir=d, out=work / "r18-qat", config=QatConfig(epochs=args.qat_epochs, latency_runs=3,
                                                                          threads=args.threads))
            log(f"QAT of {d} in {time.perf_counter() - t0:.0f}s")
        files["qat"] = work / "r18-qat" / "model_int8.onnx"
        calib = [x for x in torch.randn(4, 8, 3, size, size)]
        files["qat_before"] = work / "r18-qat-before.onnx"
        if not files["qat_before"].is_file():
            old_layout_qat(load_model(d).eval(), size, files["qat_before"], calib)
        pv, qv = read_manifest(work / "r18-ptq")["validation"], read_manifest(work / "r18-qat")["validation"]
        models.append({"name": f"ResNet-18 digits ({d}, trained), {size} px", "size": size, "files": files,
                       "accuracy": {"ptq_int8_top1": pv["int8_top1"], "qat_int8_top1": qv["int8_top1"],
                                    "fp32_top1": pv["fp32_top1"],
                                    "qat_epochs": read_manifest(work / "r18-qat")["quantization"]["schedule"]["epochs"]}})
    if args.depth:
        size = args.size
        torch.manual_seed(0)
        m = ResNet(args.depth, num_classes=1000).eval()
        r = f"r{args.depth}-{size}"
        files = {"fp32": work / f"{r}-fp32.onnx", "ptq": work / f"{r}-ptq" / "model_int8.onnx",
                 "qat": work / f"{r}-qat.onnx", "qat_before": work / f"{r}-qat-before.onnx"}
        if not files["fp32"].is_file():
            export_onnx(fuse_bn(m), files["fp32"], input_size=size)
        if not files["ptq"].is_file():
            t0 = time.perf_counter()
            torch.manual_seed(0)  # quantize_model builds ResNet(depth) itself: same seed -> same weights
            quantize_model(QuantizeConfig(out=work / f"{r}-ptq", source=ModelSpec(depth=args.depth),
                                          data=f"synthetic:{size}", calib_size=32, latency_runs=3,
                                          threads=args.threads))
            log(f"PTQ of ResNet-{args.depth} in {time.perf_counter() - t0:.0f}s")
        from resnet_opt.data import build_loader

        calib = [x for x, _ in build_loader(f"synthetic:{size}", "calib", batch_size=8, limit=32)]
        if not files["qat"].is_file():
            t0 = time.perf_counter()
            random_qat(_clone(m).train(), size, files["qat"], calib)
            log(f"QAT graph of ResNet-{args.depth} in {time.perf_counter() - t0:.0f}s")
        if not files["qat_before"].is_file():
            old_layout_qat(_clone(m).train(), size, files["qat_before"], calib)
        models.append({"name": f"ResNet-{args.depth}, {size} px, random weights (latency only; QAT graph without "
                               "fine-tuning)", "size": size, "files": files})
    return models


def _clone(m: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(m)


def measure(models: list[dict[str, Any]], args: argparse.Namespace, work: Path) -> None:
    from resnet_opt.bench.timing import time_call

    runtimes: dict[str, Callable[[Path], Callable[[np.ndarray], Any]]] = {
        "onnxruntime": lambda p: (lambda s: (lambda x: s.run(None, {"input": x})))(ort_cpu_session(p, args.threads))}
    try:
        from resnet_opt.engine.openvino_session import OpenVINOSession, openvino_unavailable_reason

        if not openvino_unavailable_reason() and not args.no_openvino:
            runtimes["openvino"] = lambda p: OpenVINOSession(p, threads=args.threads).run_numpy
    except ImportError:
        pass
    for mdl in models:
        x = np.random.default_rng(1).standard_normal((1, 3, mdl["size"], mdl["size"])).astype(np.float32)
        mdl["graph_ops"] = {k: op_counts(p) for k, p in mdl["files"].items()}
        mdl["onnxruntime_ops"] = {k: ort_fused_ops(p, args.threads, work) for k, p in mdl["files"].items()}
        mdl["timing"] = {}
        for rt, make in runtimes.items():
            fns = {k: make(p) for k, p in mdl["files"].items()}
            for fn in fns.values():
                for _ in range(args.warmup):
                    fn(x)
            per_round: dict[str, list[float]] = {k: [] for k in fns}
            for rnd in range(args.rounds):  # the order flips every round: no row always runs right after another
                for k, fn in (list(fns.items()) if rnd % 2 == 0 else list(fns.items())[::-1]):
                    per_round[k].append(statistics.median(time_call(lambda: fn(x)) for _ in range(args.runs)) * 1e3)
            ratios = [q / p for q, p in zip(per_round["qat"], per_round["ptq"])]
            mdl["timing"][rt] = {"p50_ms": {k: statistics.median(v) for k, v in per_round.items()},
                                 "per_round_ms": per_round, "qat_over_ptq": statistics.median(ratios),
                                 "qat_over_ptq_per_round": ratios}


def verdict_text(ratios: list[float]) -> str:
    """QAT against PTQ from the per-round ratios: no slower (median at most 1), slower (slower in so many rounds that
    chance would do it less than 5 % of the time: a sign test), or a tie within the run's noise."""
    from resnet_opt.bench.timing import paired_verdict

    r, n, slower = statistics.median(ratios), len(ratios), sum(x > 1.0 for x in ratios)
    v = paired_verdict(ratios)
    if v:
        return "no slower than PTQ"
    what = f"{100 * (r - 1):.0f} % slower than PTQ in the median, slower in {slower} of {n} rounds"
    return what if v is False else (f"a tie within the run's noise ({what}, which chance alone does in more than "
                                    "5 % of runs)")


def render(models: list[dict[str, Any]], args: argparse.Namespace, cmd: str, cpu: dict[str, Any]) -> str:
    labels = {"fp32": "FP32 ONNX", "ptq": "PTQ INT8 ONNX (`quantize`)", "qat": "QAT INT8 ONNX (`qat`, this code)",
              "qat_before": "QAT INT8 ONNX as before issue 23 (latency only)"}
    md = ["# QAT INT8 ONNX vs PTQ INT8 ONNX, same model, same runtime, batch 1", "",
          f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, one process, {args.threads} threads, "
          f"{args.rounds} interleaved rounds of {args.runs} runs per row (median per round, then the median over "
          "rounds). Command:", "", "```", cmd, "```", "",
          f"- CPU: {cpu_line(cpu)}; VNNI: {'yes' if cpu.get('vnni') else 'no'}, AMX: {'yes' if cpu.get('amx') else 'no'}",
          "- Versions: " + ", ".join(f"{k} {v}" for k, v in library_versions().items() if v),
          f"- Load average (1 min): {args.load[0]:.1f} before measuring, {args.load[1]:.1f} after. The measurement's "
          f"own {args.threads} threads count in it, and so do the models built just before it; "
          + (f"above {args.threads + 1} other work shared the cores and absolute milliseconds are inflated"
             if max(args.load) > args.threads + 1 else f"nothing above {args.threads + 1} was seen, so no other "
             "work needs to be assumed")
          + ". Rows are interleaved round by round so they share any load alike, and the QAT / PTQ ratio is taken "
          "per round.", ""]
    for mdl in models:
        md += [f"## {mdl['name']}", ""]
        rts = list(mdl["timing"])
        md += ["| row | " + " | ".join(f"{rt} p50 ms" for rt in rts) + " |", "|---|" + "---|" * len(rts)]
        for k in mdl["files"]:
            md.append(f"| {labels[k]} | " + " | ".join(f"{mdl['timing'][rt]['p50_ms'][k]:.3f}" for rt in rts) + " |")
        md.append("")
        for rt in rts:
            t = mdl["timing"][rt]
            r = t["qat_over_ptq"]
            md.append(f"- {rt}: QAT / PTQ = **{r:.2f}** (median of the per-round ratios "
                      f"{', '.join(f'{v:.2f}' for v in t['qat_over_ptq_per_round'])}): QAT is "
                      + verdict_text(t["qat_over_ptq_per_round"])
                      + f"; QAT INT8 vs FP32 ONNX {t['p50_ms']['fp32'] / t['p50_ms']['qat']:.2f}x; "
                        f"before issue 23: {t['p50_ms']['qat_before'] / t['p50_ms']['ptq']:.2f}x PTQ")
        acc = mdl.get("accuracy")
        if acc:
            md.append(f"- Accuracy (val split, 360 images): FP32 {acc['fp32_top1']:.2f} %, PTQ INT8 "
                      f"{acc['ptq_int8_top1']:.2f} %, QAT INT8 {acc['qat_int8_top1']:.2f} % "
                      f"({acc['qat_epochs']} QAT epochs)")
        md += ["", "Graph op types (the file) and what onnxruntime runs after its graph optimizations:", "",
               "| row | ONNX file | onnxruntime kernels |", "|---|---|---|"]
        for k in mdl["files"]:
            fmt = lambda d: ", ".join(f"{o} {n}" for o, n in d.items())  # noqa: E731
            md.append(f"| {labels[k]} | {fmt(mdl['graph_ops'][k])} | {fmt(mdl['onnxruntime_ops'][k])} |")
        md.append("")
    md += ["Why the QAT graph was slow: the x86 Inductor quantizer annotates `conv -> add -> relu` as one fused "
           "pattern (a oneDNN convolution with a sum post-op), so the second convolution of every residual block kept "
           "a float output and the Add ran in float; onnxruntime has no such kernel and ran those convolutions in FP32 "
           "(`FusedConv`) between layout transposes. The ONNX target's quantizer now places QDQ as `quantize_static` "
           "does (every Conv output and each Add quantized); the exported graph is rewritten into the PTQ layout "
           "(ReLU folded into the following QuantizeLinear: exact, the zero point is 0 in uint8; int32 biases; "
           "GlobalAveragePool / Flatten). onnxruntime folds such ReLUs itself when it loads a graph, so the ReLU "
           "nodes alone were not the cost."]
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a trained model folder (digits ResNet-18): PTQ and QAT of it")
    ap.add_argument("--depth", type=int, help="also a random-init ResNet of this depth (latency only)")
    ap.add_argument("--size", type=int, default=224, help="input size of the --depth model")
    ap.add_argument("--qat-epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-openvino", action="store_true")
    ap.add_argument("--tag", default=None, help="results file suffix (auto: this CPU's tag), beside other CPUs' files")
    ap.add_argument("--work", help="keep the built models in this folder and reuse them on the next run "
                                   "(measure again without rebuilding)")
    args = ap.parse_args(argv)
    if not args.model and not args.depth:
        ap.error("give --model and/or --depth")
    torch.set_num_threads(args.threads)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    cmd = command(lock=False)
    import contextlib
    import os

    with (contextlib.nullcontext(args.work) if args.work else tempfile.TemporaryDirectory(prefix="qat-speed-")) as d:
        Path(d).mkdir(parents=True, exist_ok=True)
        models = build(args, Path(d), log)
        log("measuring ...")
        load_before = os.getloadavg()[0]
        measure(models, args, Path(d))
        args.load = (load_before, os.getloadavg()[0])
    md = render(models, args, cmd, cpu_info())
    data = {"command": cmd, "args": vars(args),
            "models": [{k: (v if k != "files" else {r: p.name for r, p in v.items()}) for k, v in m.items()}
                       for m in models]}
    write_results(results_name("qat_speed", args.tag), data, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
