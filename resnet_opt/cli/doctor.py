"""doctor command: what really works on this machine (ISA, GPU, runtimes, providers) and what to pick."""

from __future__ import annotations

import typer
from rich.table import Table

from resnet_opt.cli.app import app
from resnet_opt.cli.common import JsonOpt, ThreadsOpt, console, handle_errors
from resnet_opt.core.artifact import to_json


@app.command("doctor")
@handle_errors
def doctor_cmd(
    peaks: bool = typer.Option(False, "--peaks", help="Also measure the INT8/FP32 GEMM peaks (cached for bench reports "
                               "when the machine is idle)."),
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pre-flight check: CPU instruction sets (AVX2/AVX-512/VNNI/BF16/AMX), GPU, onnxruntime providers and OpenVINO
    that really run here (tried, not just listed), versions, and which precision and runtime to pick."""
    from resnet_opt.bench.doctor import diagnose

    rep = diagnose(peaks=peaks, threads=threads)
    if as_json:
        typer.echo(to_json(rep.to_dict()))
        return
    t = Table(title="resnet-opt doctor")
    for c in ("check", "ok", "detail"):
        t.add_column(c, overflow="fold")
    for c in rep.checks:
        t.add_row(c.name, "yes" if c.ok else "no", c.detail)
    t.add_row("ISA flags", "", ", ".join(k for k, on in rep.isa.items() if on) or "none")
    t.add_row("versions", "", ", ".join(f"{k} {v}" for k, v in rep.versions.items() if v))
    if rep.peaks:
        p = rep.peaks
        busy = (f"; measured while other processes used {100 * p['other_cpu_share']:.0f} % of the CPU: too low, "
                "not cached" if p.get("busy") else "")
        t.add_row("GEMM peaks", "", f"INT8 U8S8 {p['u8s8']:.0f}, U8U8 {p['u8u8']:.0f}, FP32 {p['fp32']:.0f} GMAC/s "
                                    f"({p['threads']} threads{busy})")
    console.print(t)
    r = rep.recommendation
    console.print(f"recommended: {r['precision'].upper()} on {r['runtime']} (bench backend {r['backend']}): {r['why']}")
    for a in rep.advice:
        console.print(f"- {a}")
