"""What every benchmark script shares: the import path, the exact command line, the CPU line (model, cores, ISA),
timing through :mod:`resnet_opt.bench.timing`, onnxruntime CPU sessions, and one way to write results
(``benchmarks/results/NAME.json`` + ``NAME.md``, both carrying the command and the environment).

Scripts import it as ``from common import ...`` (they run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from resnet_opt.bench.timing import block_timings  # noqa: E402
from resnet_opt.core.artifact import atomic_write_text, to_json  # noqa: E402
from resnet_opt.core.env import environment  # noqa: E402

__all__ = [
    "ROOT",
    "RESULTS",
    "command",
    "cpu_line",
    "results_name",
    "write_results",
    "write_study",
    "block_timings",
    "median_ms",
    "build_with_cli",
    "roofline_cells",
    "roofline_sentence",
    "ort_cpu_session",
    "torchvision_quantized",
    "environment",
]


def command(script: str | None = None, lock: bool = True) -> str:
    """The command that reproduces this run (under the CPU lock that keeps other measurements off the cores)."""
    script = script or str(Path(sys.argv[0]).resolve().relative_to(ROOT))
    prefix = "flock /tmp/resnet-opt-cpu.lock " if lock else ""
    return prefix + ".venv/bin/python " + " ".join(shlex.quote(a) for a in [script, *sys.argv[1:]])


def cpu_line(cpu: dict[str, Any]) -> str:
    """``model (N cores; avx2, ...)``: the ISA flags that decide INT8/BF16 speed are always named."""
    flags = cpu.get("flags") or {}
    isa = ", ".join(k for k, v in flags.items() if v) if isinstance(flags, dict) else ", ".join(flags)
    return f"{cpu.get('model', '?')} ({cpu.get('cores', '?')} cores; {isa or 'no AVX2/AVX-512/VNNI/AMX'})"


def results_name(name: str, tag: str | None = None) -> str:
    """``NAME`` or ``NAME-TAG``: results from another CPU sit beside the published ones. The tag comes from ``tag`` or
    the ``RESNET_OPT_RESULTS_TAG`` environment variable; ``auto`` means this CPU's tag (``amd-epyc-2c-avx2``)."""
    import os

    tag = tag if tag is not None else os.environ.get("RESNET_OPT_RESULTS_TAG") or None
    if tag == "auto":
        from resnet_opt.core.env import cpu_tag

        tag = cpu_tag()
    return f"{name}-{tag}" if tag else name


def write_results(name: str, data: dict[str, Any], markdown: str, *, echo: bool = True) -> Path:
    """Write ``results/NAME.json`` (``data`` plus command and environment unless present) and ``results/NAME.md``
    (``NAME-TAG.*`` with ``RESNET_OPT_RESULTS_TAG``, see :func:`results_name`)."""
    name = results_name(name)
    data.setdefault("command", command())
    data.setdefault("environment", environment())
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / f"{name}.json", to_json(data) + "\n")
    atomic_write_text(RESULTS / f"{name}.md", markdown if markdown.endswith("\n") else markdown + "\n")
    if echo:
        print(markdown)
    return RESULTS / f"{name}.md"


def write_study(results_dir: Path, name: str, data: dict[str, Any], md: list[str], rows: list[dict[str, Any]],
                cells: Callable[[dict[str, Any]], list[str]]) -> int:
    """A training study's tail: one table row per variant (``cells(row)`` after the variant's name; a failed one says
    so in the last column), the wall-time line, ``results_dir/NAME.json`` + ``NAME.md``, the markdown printed;
    returns the exit status (1 when a row failed)."""
    width = md[-1].count("|") - 2  # the columns after the variant's, from the table's separator line
    for r in rows:
        row = [f"failed: {r['error']}"] if r.get("error") else cells(r)
        md.append("| " + " | ".join([r["variant"], *["—"] * (width - len(row)), *row]) + " |")
    md = [*md, f"\nTotal wall time {data['wall_s'] / 60:.1f} min."]
    results_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results_dir / f"{name}.json", to_json(data) + "\n")
    atomic_write_text(results_dir / f"{name}.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if any(r.get("error") for r in rows) else 0


def roofline_sentence(peaks: dict[str, Any]) -> str:
    """The report line naming the CPU's GEMM peaks and how they were measured (``Peaks.to_dict()``)."""
    from resnet_opt.bench.roofline import when_measured

    return (f"Roofline: onnxruntime GEMM peaks on this CPU ({peaks['threads']} threads, {when_measured(peaks)}; "
            f"`resnet_opt.bench.roofline`): INT8 U8S8 **{peaks['u8s8']:.0f}**, FP32 **{peaks['fp32']:.0f}**"
            + (f", BF16 **{peaks['bf16']:.0f}** (torch/oneDNN)" if peaks.get("bf16") else "") + " GMAC/s. "
            "Achieved = MACs per image x batch / median; INT8 rows against U8S8, FP32 rows against FP32, BF16 rows "
            + ("against BF16." if peaks.get("bf16") else "not judged (no BF16 peak on this CPU)."))


def roofline_cells(macs: int | float | None, batch: int, ms: float | None, precision: str,
                   peaks: dict[str, Any] | None) -> list[str]:
    """``[GMAC/s, % of peak]`` table cells of one timing (dashes where a figure is missing)."""
    from resnet_opt.bench.roofline import Peaks, share_of_peak

    if not macs or not ms or not peaks:
        return ["—", "—"]
    s = share_of_peak(macs, batch, ms, precision, Peaks.from_dict(peaks))
    frac = s["fraction_of_peak"]
    cell = "—" if frac is None else f"{100 * frac:.0f} % {s['peak_kind']}"
    if frac is not None and frac > 1.05:  # a row cannot beat the CPU's peak: the peak was measured too low
        cell += " (above the peak: suspect)"
    return [f"{s['gmacs_per_s']:.0f}", cell]


def build_with_cli(work: Path, jobs: list[tuple[str, list[str]]]) -> dict[str, Path]:
    """Each ``(name, resnet-opt arguments)`` job built into ``work/name`` through the CLI (``--out`` added) unless
    that folder already holds an artifact or a model folder; exits naming the failed command. Returns name -> folder."""
    import subprocess

    cli = str(ROOT / ".venv" / "bin" / "resnet-opt")
    for name, args in jobs:
        out = work / name
        if (out / "manifest.json").exists() or (out / "config.json").exists():
            continue
        print(f"building {name}: resnet-opt {' '.join(args)} ...", flush=True)
        r = subprocess.run([cli, *args, "--out", str(out)], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"failed: resnet-opt {' '.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return {name: work / name for name, _ in jobs}


def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 3) -> float:
    return block_timings({"fn": fn}, runs=runs, warmup=warmup, pause_s=0.0)["fn"]["median_ms"]


def ort_cpu_session(path: str | Path | bytes, threads: int, level: str = "all", profile: bool = False):
    """An onnxruntime CPU session with ``threads`` intra-op threads and the given graph optimization level."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.enable_profiling = profile
    if profile:  # the profile JSON goes to the temp folder, not the working directory
        import tempfile

        so.profile_file_prefix = str(Path(tempfile.gettempdir()) / "resnet_opt_ort_profile")
    so.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                   "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[level]
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def torchvision_quantized(state_dict: dict[str, Any], calib: list[Any]) -> Any:
    """torchvision's quantizable resnet50 with our weights: fuse, prepare, calibrate, convert (x86 backend)."""
    import torch
    import torch.ao.quantization as tq
    from torchvision.models.quantization import resnet50 as qresnet50

    torch.backends.quantized.engine = "x86"
    m = qresnet50(weights=None, quantize=False).eval()
    missing, unexpected = m.load_state_dict(state_dict, strict=False)
    if [k for k in missing if not k.endswith("num_batches_tracked")] or unexpected:
        raise RuntimeError(f"state dict mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}")
    m.fuse_model(is_qat=False)
    m.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(m, inplace=True)
    with torch.inference_mode():
        for x in calib:
            m(x)
    tq.convert(m, inplace=True)
    return m.eval()
