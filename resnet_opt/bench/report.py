"""Reports of a benchmark: report.md, results.json, results.csv and a PNG of accuracy (or agreement) vs latency.

Numbers stay numbers in the result objects; only this module formats them."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

from resnet_opt.bench.harness import OK, BenchResult, BenchRow
from resnet_opt.bench.timing import UNSTABLE_CV, UNSTABLE_P90_P50, LatencyStats
from resnet_opt.core.artifact import atomic_write_text, to_json
from resnet_opt.core.errors import OutputPathError

REPORT_MD = "report.md"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
PLOT_PNG = "accuracy_vs_latency.png"

CSV_FIELDS = [
    "variant", "backend", "status", "reason", "kind", "precision", "provider", "size_bytes", "top1", "top5",
    "eval_count", "agreement", "max_abs_diff", "max_rel_diff", "agreement_count", "load_ms", "first_ms",
    "first_batch", "batch_size",
    "batch_status", "iterations", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "std_ms",
    "throughput_ips", "device_p50_ms", "speedup_vs_baseline", "cv", "p90_over_p50", "unstable",
]


# ------------------------------------------------------------------ derived figures
def baseline_row(result: BenchResult) -> BenchRow | None:
    """The row every speed-up is measured against: the reference variant on its first working backend."""
    oks = result.ok_rows()
    if result.reference:
        for r in oks:
            if r.variant == result.reference and r.timings:
                return r
    return oks[0] if oks else None


def speedup(result: BenchResult, row: BenchRow, batch_size: int) -> float | None:
    base = baseline_row(result)
    if base is None:
        return None
    a, b = base.timing(batch_size), row.timing(batch_size)
    if a is None or b is None or b.p50_ms <= 0:
        return None
    return a.p50_ms / b.p50_ms


def quality_metric(result: BenchResult) -> str:
    """"top1" when the data was labelled, else "agreement" (top-1 agreement with the FP32 reference)."""
    return "top1" if result.labelled else "agreement"


def _variant_info(result: BenchResult, name: str) -> dict[str, Any]:
    for v in result.variants:
        if v.get("name") == name:
            return v
    return {}


def summary_rows(result: BenchResult) -> list[dict[str, Any]]:
    """One dict per working (variant, backend) pair: the comparison table users read (numbers, unformatted)."""
    bss = list(result.config.get("batch_sizes") or [])
    b0 = min(bss) if bss else 1
    out = []
    for r in result.ok_rows():
        info = _variant_info(result, r.variant)
        st0 = r.timing(b0)
        d: dict[str, Any] = {
            "variant": r.variant, "backend": r.backend, "precision": r.precision, "size_bytes": info.get("size_bytes"),
            "top1": r.top1, "top5": r.top5, "agreement": r.agreement, "max_abs_diff": r.max_abs_diff,
            "first_ms": r.first_ms, "batch": b0, "p50_ms": st0.p50_ms if st0 else None,
            "p99_ms": st0.p99_ms if st0 else None, "speedup": speedup(result, r, b0),
            "spread": st0.spread if st0 else None, "unstable_batches": [],
        }
        for bs in bss:
            st = r.timing(bs)
            d[f"ips@{bs}"] = st.throughput_ips if st else None
            if st is not None and st.unstable:
                d["unstable_batches"].append(bs)
        out.append(d)
    return out


def unstable_cells(result: BenchResult) -> list[tuple[BenchRow, LatencyStats]]:
    """Every (row, batch timing) whose spread says the measurement is not to be trusted."""
    return [(r, t.stats) for r in result.ok_rows() for t in r.timings if t.stats is not None and t.stats.unstable]


def unstable_warning(result: BenchResult, detail: bool = True) -> str | None:
    """What was unstable and what to do, or None when every cell was steady. ``detail``: name each cell with its
    figures (the report); otherwise only the worst figures (the console, where the cells are marked !)."""
    cells = unstable_cells(result)
    if not cells:
        return None
    advice = ("Other work probably shared the CPU; close it, pin --threads below the core count, or give more "
              "--iterations / --time-budget / --rounds and compare within one run.")
    if not detail:
        worst_spread = max((st.spread or 0) for _, st in cells)
        worst_cv = max((st.cv or 0) for _, st in cells)
        return (f"{len(cells)} timing cell(s) unstable (marked !): p90/p50 up to {worst_spread:.2f}, coefficient of "
                f"variation up to {100 * worst_cv:.0f} %. " + advice)
    names = ", ".join(f"{r.variant} on {r.backend} @{st.batch_size} (p90/p50 {st.spread or 0:.2f}, "
                      f"CV {100 * (st.cv or 0):.0f} %)" for r, st in cells[:6])
    more = f" and {len(cells) - 6} more" if len(cells) > 6 else ""
    return f"{len(cells)} timing cell(s) unstable: {names}{more}. " + advice


# ------------------------------------------------------------------ formatting helpers
def _f(v: Any, fmt: str = "{:.2f}", none: str = "—") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return none
    return fmt.format(v)


def _mb(n: Any) -> str:
    return _f(n / 1e6 if isinstance(n, (int, float)) else None, "{:.1f}")


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


def environment_lines(env: dict[str, Any]) -> list[str]:
    cpu = env.get("cpu") or {}
    flags = cpu.get("flags") or {}
    isa = ", ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16") if flags.get(f))
    gpu = env.get("gpu")
    v = env.get("versions") or {}
    th = env.get("threads") or {}
    lines = [
        f"- CPU: {cpu.get('model', '?')} ({cpu.get('cores', '?')} logical cores visible), ISA: {isa or 'none detected'}; "
        f"AVX-512 VNNI / AVX-VNNI: {'yes' if cpu.get('vnni') else 'no'}; AMX: {'yes' if cpu.get('amx') else 'no'}",
        f"- GPU: {gpu['name'] + ' (CUDA ' + str(gpu.get('cuda')) + ')' if gpu else 'none'}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        f"- Threads: torch {th.get('torch', '?')}, onnxruntime intra-op "
        f"{th.get('onnxruntime_intra_op') if th.get('onnxruntime_intra_op') is not None else 'default (all cores)'}",
        f"- Platform: {env.get('platform', '?')}",
    ]
    if not cpu.get("vnni") and not cpu.get("amx"):
        lines.append("- Note: this CPU has no VNNI or AMX, so INT8 kernels run without dot-product instructions; "
                     "INT8 speed-ups seen on VNNI/AMX CPUs will be smaller (or absent) here.")
    return lines


def _latency_detail(result: BenchResult, bss: list[int]) -> list[str]:
    """A latency table per batch size: every percentile, throughput, speed-up, spread and the unstable flag."""
    md: list[str] = []
    for bs in bss:
        det = []
        for r in result.ok_rows():
            st = r.timing(bs)
            if st is None:
                continue
            det.append([r.variant, r.backend, str(st.iterations), _f(st.p50_ms), _f(st.p90_ms), _f(st.p99_ms),
                        _f(st.mean_ms), _f(st.min_ms), _f(st.max_ms), _f(st.throughput_ips, "{:.1f}"),
                        _f(speedup(result, r, bs), "{:.2f}×"), _f(st.device_p50_ms), _f(st.spread),
                        _f(st.cv * 100 if st.cv is not None else None, "{:.0f}"), "yes" if st.unstable else ""])
        if det:
            md += ["", f"### Latency at batch {bs}", ""]
            md.append(_md_table(["variant", "backend", "runs", "p50 ms", "p90 ms", "p99 ms", "mean ms", "min ms",
                                 "max ms", "img/s", "× vs ref", "CUDA-event p50 ms", "p90/p50", "CV %",
                                 "unstable"], det))
    return md


def _problems(result: BenchResult) -> list[str]:
    """The section naming every unavailable backend, skipped or failed row and cell, and every row's notes."""
    unavailable = {b: why for b, why in (result.backends or {}).items() if why}
    problems = [r for r in result.rows if r.status != OK]
    cell_problems = [(r, t) for r in result.ok_rows() for t in r.timings if t.status != OK]
    notes = [(r, n) for r in result.rows for n in ([r.quality_note] if r.quality_note else []) + r.notes]
    if not (unavailable or problems or cell_problems or notes):
        return []
    md = ["", "## Skipped, failed and notes", ""]
    for b, why in unavailable.items():
        md.append(f"- backend **{b}** skipped: {why}")
    for r in problems:
        if r.backend in unavailable:
            continue
        md.append(f"- {r.variant} on {r.backend}: **{r.status}** — {r.reason}")
    for r, t in cell_problems:
        md.append(f"- {r.variant} on {r.backend} at batch {t.batch_size}: **{t.status}** — {t.reason}")
    for r, n in notes:
        md.append(f"- {r.variant} on {r.backend}: {n}")
    return md


def render_markdown(result: BenchResult, plot_name: str | None = PLOT_PNG) -> str:
    metric = quality_metric(result)
    bss = list(result.config.get("batch_sizes") or [])
    timing = result.config.get("timing") or {}
    base = baseline_row(result)
    md: list[str] = [f"# {result.title}", ""]
    md.append(f"Created {result.created}; the benchmark step itself took {result.seconds:.1f} s.")
    if result.command:
        md += ["", "Command:", "", "```", result.command, "```"]
    md += ["", "## Environment", ""] + environment_lines(result.environment)
    md += ["", "## Method", ""]
    md.append(f"- Latency: {timing.get('warmup')} warm-up runs, then up to {timing.get('iterations')} timed runs per "
              f"batch size (time budget {timing.get('time_budget_s')} s per cell, at least {timing.get('min_iterations')} "
              f"runs, {timing.get('rounds')} interleaved round(s)); every run is host in → host out and synchronised "
              "(CUDA timings include the copies; torch-on-CUDA rows also give the CUDA-event time of the run). "
              "Inputs: N(0,1) tensors. Throughput (img/s) is batch size / p50, so one slow outlier does not drag "
              f"it down; a cell is flagged unstable (!) when p90/p50 > {UNSTABLE_P90_P50:g} or the coefficient of "
              f"variation (std/mean) > {UNSTABLE_CV:.0%}.")
    md.append("- First inference: the first run on a freshly loaded session or module (lazy initialisation, "
              "autotuning). onnxruntime GPU sessions run one probe inference while loading (to check which provider "
              "really runs the nodes), so a TensorRT engine build shows in the load time (results.json `load_ms`).")
    if metric == "top1":
        md.append(f"- Accuracy: top-1 / top-5 on {result.data} (validation split"
                  f"{', ' + str(result.config.get('eval_limit')) + ' images' if result.config.get('eval_limit') else ''}).")
    else:
        md.append("- No labelled data: quality is top-1 agreement with the FP32 reference "
                  f"({result.reference or 'none'}) on synthetic inputs"
                  + (f" ({result.data})" if result.data else "") + ".")
    if result.reference:
        md.append(f"- Reference (agreement and speed-up baseline): **{result.reference}**"
                  + (f" on {base.backend}" if base is not None and base.variant == result.reference else "") + ".")

    if result.extra.get("preamble_md"):
        md += ["", str(result.extra["preamble_md"]).rstrip()]

    # comparison table
    md += ["", "## Comparison", ""]
    b0 = min(bss) if bss else 1
    headers = ["variant", "backend", "precision", "size MB"]
    headers += ["top-1 %", "top-5 %"] if metric == "top1" else []
    headers += ["agree %", "max |Δ|", f"p50 ms @{b0}", f"p90/p50 @{b0}", f"× vs ref @{b0}"]
    headers += [f"img/s @{bs}" for bs in bss]
    headers += ["first ms"]
    rows = []
    for s in summary_rows(result):
        row = [s["variant"], s["backend"], s["precision"] or "", _mb(s["size_bytes"])]
        if metric == "top1":
            row += [_f(s["top1"]), _f(s["top5"])]
        flag = " !" if b0 in s["unstable_batches"] else ""
        row += [_f(s["agreement"]), _f(s["max_abs_diff"], "{:.3g}"), _f(s["p50_ms"]) + flag, _f(s["spread"]),
                _f(s["speedup"], "{:.2f}×")]
        row += [_f(s[f"ips@{bs}"], "{:.1f}") + (" !" if bs in s["unstable_batches"] and bs != b0 else "")
                for bs in bss]
        row += [_f(s["first_ms"], "{:.1f}")]
        rows.append(row)
    md.append(_md_table(headers, rows) if rows else "_No variant ran on any selected backend._")
    warn = unstable_warning(result)
    if warn:
        md += ["", f"> **Warning:** {warn}"]

    md += _latency_detail(result, bss)
    md += _problems(result)
    from resnet_opt.bench.roofline import roofline_markdown

    md += roofline_markdown(result)
    if plot_name:
        md += ["", "## Accuracy vs latency" if metric == "top1" else "## Agreement vs latency", "",
               f"![{metric} vs latency]({plot_name})"]
    return "\n".join(md) + "\n"


def render_csv(result: BenchResult) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in result.rows:
        info = _variant_info(result, r.variant)
        base = {"variant": r.variant, "backend": r.backend, "status": r.status, "reason": r.reason or "",
                "kind": r.kind, "precision": r.precision, "provider": r.provider, "size_bytes": info.get("size_bytes"),
                "top1": r.top1, "top5": r.top5, "eval_count": r.eval_count, "agreement": r.agreement,
                "max_abs_diff": r.max_abs_diff, "max_rel_diff": r.max_rel_diff,
                "agreement_count": r.agreement_count, "load_ms": r.load_ms,
                "first_ms": r.first_ms, "first_batch": r.first_batch}
        if not r.timings:
            w.writerow(base)
            continue
        for t in r.timings:
            d = dict(base, batch_size=t.batch_size, batch_status=t.status)
            if t.reason:
                d["reason"] = t.reason
            if t.stats is not None:
                s = t.stats
                d.update(iterations=s.iterations, mean_ms=s.mean_ms, p50_ms=s.p50_ms, p90_ms=s.p90_ms, p99_ms=s.p99_ms,
                         min_ms=s.min_ms, max_ms=s.max_ms, std_ms=s.std_ms, throughput_ips=s.throughput_ips,
                         device_p50_ms=s.device_p50_ms, speedup_vs_baseline=speedup(result, r, t.batch_size),
                         cv=s.cv, p90_over_p50=s.spread, unstable=s.unstable)
            w.writerow(d)
    return buf.getvalue()


PRECISION_COLORS = {"fp32": "tab:blue", "fp16": "tab:green", "bf16": "tab:purple", "int8": "tab:red"}
BACKEND_MARKERS = {"torch": "o", "torchscript": "s", "ort": "D", "pt2": "^", "openvino": "v"}
BACKEND_NAMES = {"ort": "onnxruntime"}
POINT_LABEL_GID = "point-label"


def _place_labels(fig: Any, ax: Any, pts: list[tuple[float, float, str]]) -> None:
    """Label each point where its text overlaps no other label and no marker, in display space.

    Greedy, in order of latency: the first free spot right or left of the point, then further up or down with a
    leader line to the point. A spot inside the axes comes first, one elsewhere in the figure next; only when
    every spot collides does a label take the one with the least overlap."""
    renderer = fig.canvas.get_renderer()
    frame, whole = ax.get_window_extent(renderer), fig.bbox
    r = 4 * fig.dpi / 72.0  # the marker's half-size (s=60: about 7.7 points across), in pixels
    markers = []
    for x, y, _ in pts:
        px, py = ax.transData.transform((x, y))
        markers.append((px - r, py - r, px + r, py + r))
    candidates = [(6, 3, "left"), (-6, 3, "right"), (6, -12, "left"), (-6, -12, "right")]
    for k in range(1, 2 * len(pts) + 3):
        for dy in (3 + 11 * k, -12 - 11 * k):
            candidates += [(12, dy, "left"), (-12, dy, "right")]

    def overlap(a: tuple, b: tuple) -> float:
        w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else 0.0

    def within(b: tuple, box: Any) -> bool:
        return b[0] >= box.x0 and b[1] >= box.y0 and b[2] <= box.x1 and b[3] <= box.y1

    placed: list[tuple] = []
    for x, y, label in sorted(pts, key=lambda p: (p[0], -p[1])):
        probe = ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 3), fontsize=7, va="bottom")
        best, best_cost = candidates[0], None
        for dx, dy, ha in candidates:
            probe.set_position((dx, dy))
            probe.set_ha(ha)
            e = probe.get_window_extent(renderer)
            b = (e.x0 - 1, e.y0 - 1, e.x1 + 1, e.y1 + 1)
            where = 0 if within(b, frame) else (1 if within(b, whole) else 2)
            cost = (sum(overlap(b, o) for o in placed + markers), where)
            if best_cost is None or cost < best_cost:
                best, best_cost, box = (dx, dy, ha), cost, b
            if cost == (0, 0):
                break
        probe.remove()
        dx, dy, ha = best
        far = abs(dy) > 12  # moved away from its point: a leader line says which point it names
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7, va="bottom", ha=ha,
                    gid=POINT_LABEL_GID, annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.45", "shrinkA": 0, "shrinkB": 3}
                    if far else None)
        placed.append(box)


def plot_figure(result: BenchResult) -> Any:
    """The figure of :func:`plot`: quality (top-1, or agreement) against p50 latency at the smallest batch size.

    Labels never overlap one another (placed in display space, with leader lines where moved); the legend lists
    only the precisions and runtimes that have a point, and sits outside the axes."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    metric = quality_metric(result)
    bss = list(result.config.get("batch_sizes") or [1])
    b0 = min(bss)
    pts = []
    untrained = {v.get("name") for v in result.variants if v.get("trained") is False}
    for r in result.ok_rows():
        st = r.timing(b0)
        q = r.top1 if metric == "top1" else r.agreement
        if metric == "top1" and r.variant in untrained:
            continue  # accuracy of a random-init model is noise: keep it off the accuracy plot
        if st is not None and q is not None:
            pts.append((st.p50_ms, q, f"{r.variant} ({r.backend})", (r.precision or "").lower(),
                        r.backend.split("-")[0]))
    fig, ax = plt.subplots(figsize=(10, 6), dpi=110)
    for x, y, _, prec, fam in pts:
        ax.scatter([x], [y], s=60, color=PRECISION_COLORS.get(prec, "tab:gray"), edgecolor="black", zorder=3,
                   marker=BACKEND_MARKERS.get(fam, "o"))
    if pts:
        xs = [p[0] for p in pts]
        if max(xs) / max(min(xs), 1e-9) > 20:
            ax.set_xscale("log")
            from matplotlib.ticker import FuncFormatter

            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            # label 2× and 5× minor ticks only: all of them overlap on short log ranges
            ax.xaxis.set_minor_formatter(FuncFormatter(
                lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        ys = [p[1] for p in pts]
        lo, hi = min(ys), max(ys)
        pad = max(0.5, (hi - lo) * 0.15)
        ax.set_ylim(lo - pad, min(100.5, hi + pad) if hi <= 100 else hi + pad)
        lo_x, hi_x = ax.get_xlim()  # room on the right for the last point's label
        if ax.get_xscale() == "log":
            ax.set_xlim(lo_x, hi_x * (hi_x / lo_x) ** 0.12)
        else:
            ax.set_xlim(lo_x, hi_x + (hi_x - lo_x) * 0.12)
    else:
        ax.text(0.5, 0.5, "no variant has both a latency and a quality figure", ha="center", va="center",
                transform=ax.transAxes)
    # the legend: only what has a point (a precision with no point is no entry)
    precs = list(dict.fromkeys(p[3] for p in pts))
    fams = list(dict.fromkeys(p[4] for p in pts))
    for prec in [p for p in PRECISION_COLORS if p in precs] + [p for p in precs if p not in PRECISION_COLORS]:
        ax.scatter([], [], color=PRECISION_COLORS.get(prec, "tab:gray"), label=(prec or "unknown").upper(),
                   edgecolor="black")
    for fam in [f for f in BACKEND_MARKERS if f in fams] + [f for f in fams if f not in BACKEND_MARKERS]:
        ax.scatter([], [], color="white", marker=BACKEND_MARKERS.get(fam, "o"), label=BACKEND_NAMES.get(fam, fam),
                   edgecolor="black")
    if pts:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0.0)
    ax.set_xlabel(f"p50 latency at batch {b0} (ms, lower is better)")
    ax.set_ylabel("top-1 accuracy (%)" if metric == "top1" else f"top-1 agreement with {result.reference} (%)")
    cpu = (result.environment.get("cpu") or {}).get("model", "")
    ax.set_title(f"{result.title}\n{cpu}", fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()  # before the labels: placing them needs the final axes
    _place_labels(fig, ax, [(x, y, label) for x, y, label, _, _ in pts])
    return fig


def plot(result: BenchResult, path: str | os.PathLike) -> Path | None:
    """Scatter of quality (top-1, or agreement) against p50 latency at the smallest batch size, as a PNG."""
    import matplotlib.pyplot as plt

    fig = plot_figure(result)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_report(result: BenchResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write report.md, results.json, results.csv and the plot into ``out_dir``; return their paths."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create report folder {out}: {e.strerror or e}") from e
    if not os.access(out, os.W_OK):
        raise OutputPathError(f"report folder {out} is not writable")
    paths = {"json": out / RESULTS_JSON, "csv": out / RESULTS_CSV, "plot": out / PLOT_PNG, "markdown": out / REPORT_MD}
    atomic_write_text(paths["json"], to_json(result) + "\n")
    atomic_write_text(paths["csv"], render_csv(result))
    plot(result, paths["plot"])
    atomic_write_text(paths["markdown"], render_markdown(result, PLOT_PNG))
    return paths

