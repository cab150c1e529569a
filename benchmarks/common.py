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

__all__ = ["ROOT", "RESULTS", "command", "cpu_line", "write_results", "block_timings", "median_ms", "ort_cpu_session",
           "environment"]


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


def write_results(name: str, data: dict[str, Any], markdown: str, *, echo: bool = True) -> Path:
    """Write ``results/NAME.json`` (``data`` plus command and environment unless present) and ``results/NAME.md``."""
    data.setdefault("command", command())
    data.setdefault("environment", environment())
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / f"{name}.json", to_json(data) + "\n")
    atomic_write_text(RESULTS / f"{name}.md", markdown if markdown.endswith("\n") else markdown + "\n")
    if echo:
        print(markdown)
    return RESULTS / f"{name}.md"


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
    so.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                   "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[level]
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
