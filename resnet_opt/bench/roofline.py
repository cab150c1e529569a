"""The CPU's measured GEMM peaks (INT8 U8S8 / U8U8, FP32, and BF16 where the CPU has it) and how close each benchmark
row comes to them.

A *peak* is the throughput of onnxruntime's own CPU GEMM kernels (MLAS, the kernels behind ``QLinearConv`` /
``Conv``) on one large ``n × n × n`` product (fastest of several runs): ``MatMulInteger`` with U8 activations and S8 (or U8) weights, and FP32
``MatMul``. It is what every multiply-accumulate of a convolution could at best run at on this CPU with these
libraries; a model's *achieved* GMAC/s is ``MACs per image × images / latency``, and the ratio of the two says how
much of the CPU the artifact uses (onnxruntime INT8 rows against the U8S8 peak — QDQ artifacts use S8 weights —,
FP32 rows against the FP32 peak).

BF16: on CPUs with AVX512_BF16 or AMX-BF16 the BF16 peak is torch's BF16 ``matmul`` (oneDNN, the library behind
OpenVINO's and Inductor's BF16 convolutions) on the same ``n × n × n`` product; BF16 rows are judged against it, never
against the FP32 peak (a BF16 row runs faster than FP32 can, so "% of the FP32 peak" would read above 100 %). Where
no BF16 peak was measured, a BF16 row has no % figure, and the other rows are judged as usual.

The measurement takes about a second (``quick``: a fraction of it) and is cached as JSON keyed by CPU model, ISA
flags, thread count, onnxruntime version and the sizes measured, in ``$RESNET_OPT_CACHE`` (default
``~/.cache/resnet-opt``) / ``roofline.json``. ``gemm_peaks(refresh=True)`` measures again.

A shared VM's speed drifts (on our 2-core test VM, the same model ran 2x slower in one hour than in the next), so a
peak measured minutes before or after the rows says little about them. With ``BenchConfig.roofline_refresh`` the
harness measures the peaks once per timing round, interleaved with the rows (:func:`combine_peaks` takes the
best of the rounds and keeps each round's figures); a row and its peak then see the same machine.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from resnet_opt.core.errors import ConfigError

KINDS = ("u8s8", "u8u8", "fp32")
FULL_SIZES = (1024,)
QUICK_SIZES = (384,)
from resnet_opt.core.env import CACHE_ENV  # noqa: E402,F401 - re-exported
from resnet_opt.core.env import has_bf16  # noqa: E402 - re-exported (which CPUs get a BF16 peak)
CACHE_FILE = "roofline.json"
# which peak a row of a given precision is compared with (fp16 runs on the FP32 GEMM on CPUs without native FP16;
# bf16 has its own peak, measured where the CPU has BF16 instructions, else the row is not judged)
PEAK_FOR_PRECISION = {"int8": "u8s8", "fp32": "fp32", "fp16": "fp32", "bf16": "bf16"}


@dataclass
class GemmPeak:
    kind: str  # u8s8 | u8u8 | fp32
    n: int
    median_ms: float
    gmacs_per_s: float


@dataclass
class Peaks:
    """Measured peaks in GMAC/s (best over the sizes measured) and what they were measured with."""

    u8s8: float
    u8u8: float
    fp32: float
    threads: int
    key: str
    gemm: list[GemmPeak] = field(default_factory=list)
    measured: str = ""
    quick: bool = False
    cached: bool = False  # read from the cache rather than measured now
    cache_file: str | None = None
    other_cpu_share: float | None = None  # share of all cores other processes used just before measuring
    busy: bool = False  # measured while other work loaded the CPU: likely too low, never cached
    rounds: list[dict[str, float]] = field(default_factory=list)  # per-round peaks when measured within the run
    bf16: float | None = None  # torch (oneDNN) BF16 matmul, on CPUs with AVX512_BF16 / AMX-BF16; else None

    def for_precision(self, precision: str | None) -> tuple[str, float] | None:
        """(peak kind, GMAC/s) that a row of ``precision`` is compared with; None when no peak applies (a BF16 row
        on a machine where no BF16 peak was measured)."""
        kind = PEAK_FOR_PRECISION.get(str(precision or "").lower())
        v = getattr(self, kind, None) if kind else None
        return (kind, float(v)) if kind and v else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Peaks":
        d = dict(d)
        d["gemm"] = [GemmPeak(**g) for g in d.get("gemm") or []]
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def cache_dir() -> Path:
    from resnet_opt.core.env import cache_dir as _dir

    return Path(_dir())


def cache_key(threads: int) -> str:
    """CPU model + ISA flags + threads + onnxruntime version: a peak measured under another key does not apply."""
    from resnet_opt.core.env import machine_key

    return machine_key(threads)


def _session(model_bytes: bytes, threads: int):
    from resnet_opt.engine.onnx_session import ort_session

    return ort_session(model_bytes, threads=int(threads))


def gemm_model(kind: str, n: int) -> tuple[bytes, np.ndarray]:
    """An ONNX model of one ``n × n × n`` product of ``kind`` and its input."""
    from onnx import TensorProto, helper, numpy_helper

    if kind not in KINDS:
        raise ConfigError(f"unknown GEMM kind {kind!r}; valid: {', '.join(KINDS)}")
    rng = np.random.default_rng(0)
    if kind == "fp32":
        a = rng.random((n, n), dtype=np.float32)
        w = rng.random((n, n), dtype=np.float32)
        node, in_t, out_t = helper.make_node("MatMul", ["a", "w"], ["y"]), TensorProto.FLOAT, TensorProto.FLOAT
    else:
        a = rng.integers(0, 256, (n, n)).astype(np.uint8)
        w = rng.integers(-64, 64, (n, n)).astype(np.int8 if kind == "u8s8" else np.uint8)
        node, in_t, out_t = helper.make_node("MatMulInteger", ["a", "w"], ["y"]), TensorProto.UINT8, TensorProto.INT32
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("a", in_t, [n, n])],
                              [helper.make_tensor_value_info("y", out_t, [n, n])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString(), a


def measure_gemm(kind: str, n: int, threads: int, runs: int = 10, warmup: int = 3, stat: str = "min") -> GemmPeak:
    """GMAC/s of one ``n × n × n`` product through onnxruntime's CPU GEMM. ``stat``: ``min`` (default: a peak is
    the best the kernel does; robust to other work on a shared machine) or ``median`` of ``runs``."""
    from resnet_opt.bench.timing import timed_runs

    if n < 16 or runs < 1:
        raise ConfigError(f"GEMM size must be >= 16 and runs >= 1, got n={n}, runs={runs}")
    model, a = gemm_model(kind, n)
    sess = _session(model, threads)
    for _ in range(warmup):
        sess.run(None, {"a": a})
    if stat not in ("min", "median"):
        raise ConfigError(f"stat must be min or median, got {stat!r}")
    samples = timed_runs(lambda: sess.run(None, {"a": a}), runs)[0]
    ms = (min(samples) if stat == "min" else statistics.median(samples)) * 1e3
    return GemmPeak(kind=kind, n=n, median_ms=ms, gmacs_per_s=n ** 3 / (ms * 1e-3) / 1e9)


def measure_bf16_gemm(n: int, threads: int, runs: int = 10, warmup: int = 3) -> GemmPeak:
    """GMAC/s of one ``n × n × n`` BF16 product through torch's CPU ``matmul`` (oneDNN BF16 GEMM), fastest of
    ``runs``; torch's thread count is set to ``threads`` for the measurement and restored."""
    import torch

    from resnet_opt.bench.timing import timed_runs

    if n < 16 or runs < 1:
        raise ConfigError(f"GEMM size must be >= 16 and runs >= 1, got n={n}, runs={runs}")
    g = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, generator=g).to(torch.bfloat16)
    w = torch.rand(n, n, generator=g).to(torch.bfloat16)
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with torch.no_grad():
            for _ in range(warmup):
                torch.matmul(a, w)
            ms = min(timed_runs(lambda: torch.matmul(a, w), runs)[0]) * 1e3
    finally:
        torch.set_num_threads(before)
    return GemmPeak(kind="bf16", n=n, median_ms=ms, gmacs_per_s=n ** 3 / (ms * 1e-3) / 1e9)


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        d = json.loads(path.read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, data: dict[str, Any]) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
        return True
    except OSError:
        return False  # a read-only home is not an error: the peak is just measured again next time


CACHE_VERSION = 3  # entries of older versions (no load record, no BF16 peak) are measured again
SUSPECT_ABOVE = 1.05  # a row this far above its peak means the peak (not the row) is wrong
BUSY_SHARE = 0.25  # other processes using more than this share of all cores before measuring: the machine is busy


def machine_load(window_s: float = 0.3) -> float | None:
    """The share (0..1) of all cores that OTHER processes used during ``window_s`` (Linux ``/proc/stat`` minus this
    process's own CPU time, so a benchmark's own earlier work does not count, unlike the load average); None where
    ``/proc`` is not available."""
    import time

    def total() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]
        return sum(vals), vals[3] + vals[4]  # all jiffies, idle + iowait

    def own() -> int:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, all threads

    try:
        (t0, i0), o0 = total(), own()
        time.sleep(window_s)
        (t1, i1), o1 = total(), own()
    except (OSError, ValueError, IndexError):
        return None
    dt = t1 - t0
    if dt <= 0:
        return None
    return max(0.0, min(1.0, ((dt - (i1 - i0)) - (o1 - o0)) / dt))


def gemm_peaks(threads: int | None = None, *, quick: bool = False, sizes: Iterable[int] | None = None,
               runs: int | None = None, cache: bool = True, refresh: bool = False) -> Peaks:
    """This CPU's U8S8, U8U8 and FP32 GEMM peaks (GMAC/s) for ``threads`` intra-op threads, cached.

    ``quick``: one small size and few runs (for tests); a cached full measurement is used for a quick request, never
    the other way round. ``sizes`` / ``runs`` override the defaults (and are part of the cache entry). A peak
    measured while the machine is busy (other processes using more than ``BUSY_SHARE`` of all cores, see
    :func:`machine_load`) is returned marked ``busy`` and never cached: a low peak measured under load would make every later report claim more than
    100 % of it."""
    threads = int(threads or os.cpu_count() or 1)
    if threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    sizes_t = tuple(int(s) for s in (sizes or (QUICK_SIZES if quick else FULL_SIZES)))
    if not sizes_t:
        raise ConfigError("give at least one GEMM size")
    runs = int(runs or (4 if quick else 10))
    key = cache_key(threads)
    path = cache_dir() / CACHE_FILE
    if cache and not refresh:
        entries = _read_cache(path).get(key) or {}
        for mode in (("full", "quick") if quick else ("full",)):
            e = entries.get(mode)
            if e and e.get("v") == CACHE_VERSION and (sizes is None or tuple(e.get("sizes") or ()) == sizes_t):
                p = Peaks.from_dict(e["peaks"])
                p.cached, p.cache_file = True, str(path)
                return p
    load = machine_load()
    busy = load is not None and load > BUSY_SHARE
    gemm = [measure_gemm(k, n, threads, runs) for n in sizes_t for k in KINDS]
    if has_bf16():
        gemm += [measure_bf16_gemm(n, threads, runs) for n in sizes_t]
    best = {k: max(g.gmacs_per_s for g in gemm if g.kind == k) for k in KINDS}
    bf = [g.gmacs_per_s for g in gemm if g.kind == "bf16"]
    peaks = Peaks(u8s8=best["u8s8"], u8u8=best["u8u8"], fp32=best["fp32"], threads=threads, key=key, gemm=gemm,
                  measured=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), quick=quick,
                  other_cpu_share=load, busy=busy, bf16=max(bf) if bf else None)
    if cache:
        _store(peaks, sizes_t)
    return peaks


def _store(peaks: Peaks, sizes: tuple[int, ...]) -> None:
    """Cache ``peaks`` (never busy ones) under their key; a read-only cache folder is not an error."""
    if peaks.busy:
        return
    path = cache_dir() / CACHE_FILE
    data = _read_cache(path)
    data.setdefault(peaks.key, {})["quick" if peaks.quick else "full"] = {"v": CACHE_VERSION, "sizes": list(sizes),
                                                                         "peaks": peaks.to_dict()}
    if _write_cache(path, data):
        peaks.cache_file = str(path)


def combine_peaks(rounds: list[Peaks], *, cache: bool = True) -> Peaks:
    """One :class:`Peaks` from peaks measured in each timing round of a run: per kind the best of the rounds (a
    peak is the best the kernel does, as one probe takes the fastest of its runs; interference only slows a probe
    down, so a lower round is the machine having a slow moment, and taking it would overstate every row's share);
    ``rounds`` keeps each round's figures, ``busy`` is set when any round was busy (then nothing is cached)."""
    if not rounds:
        raise ConfigError("no peaks to combine")
    best = {k: max(float(getattr(p, k)) for p in rounds) for k in KINDS}
    bf = [float(p.bf16) for p in rounds if p.bf16]
    first = rounds[0]
    loads = [p.other_cpu_share for p in rounds if p.other_cpu_share is not None]
    peaks = Peaks(u8s8=best["u8s8"], u8u8=best["u8u8"], fp32=best["fp32"], threads=first.threads, key=first.key,
                  gemm=[g for p in rounds for g in p.gemm], measured=rounds[-1].measured, quick=first.quick,
                  other_cpu_share=max(loads) if loads else None, busy=any(p.busy for p in rounds),
                  rounds=[{k: float(getattr(p, k)) for k in KINDS} | {"bf16": p.bf16, "busy": p.busy,
                                                                        "measured": p.measured} for p in rounds],
                  bf16=max(bf) if bf else None)
    if cache:
        _store(peaks, tuple(sorted({g.n for g in first.gemm})))
    return peaks


class PeakProbe:
    """Peaks measured beside a benchmark's rows: call the probe at the start of every timing round (it measures
    the GEMM peaks then, cache off); :meth:`peaks` combines the rounds (:func:`combine_peaks`). Used by the bench
    harness (``roofline_refresh``) and, through ``bench.timing.block_timings(each_round=...)``, by the scripts in
    ``benchmarks/``."""

    def __init__(self, threads: int | None = None, *, quick: bool = False) -> None:
        self.threads, self.quick = threads, quick
        self.measured: list[Peaks] = []

    def __call__(self) -> None:
        self.measured.append(gemm_peaks(self.threads, quick=self.quick, cache=False))

    def peaks(self) -> Peaks:
        return combine_peaks(self.measured)


# ------------------------------------------------------------------ per-row figures
def achieved_gmacs(macs_per_image: int | float, batch_size: int, latency_ms: float) -> float:
    """GMAC/s of a run: MACs per image × images / time."""
    if latency_ms <= 0:
        raise ConfigError(f"latency must be positive, got {latency_ms}")
    return float(macs_per_image) * batch_size / (latency_ms * 1e-3) / 1e9


def share_of_peak(macs_per_image: int | float | None, batch_size: int, latency_ms: float, precision: str | None,
                  peaks: Peaks) -> dict[str, Any]:
    """Achieved GMAC/s of one timing and its fraction of the peak for ``precision`` (``gmacs_per_s`` and
    ``fraction_of_peak`` are None without MACs; ``peak_kind`` and the fraction are None when no peak applies)."""
    g = achieved_gmacs(macs_per_image, batch_size, latency_ms) if macs_per_image else None
    peak = peaks.for_precision(precision)
    return {"gmacs_per_s": g, "peak_kind": peak[0] if peak else None, "peak_gmacs_per_s": peak[1] if peak else None,
            "fraction_of_peak": g / peak[1] if g is not None and peak and peak[1] > 0 else None}


def variant_macs(variant: Any) -> int | None:
    """MACs per image of a benchmark variant at its input size: given on the variant (``macs``), else counted on the
    ResNet its manifest / config describes (depth, classes, per-conv widths) or on its in-memory model."""
    import torch

    given = getattr(variant, "macs", None)
    if given:
        return int(given)
    from resnet_opt.resnet import ResNet, count_macs

    size = int(variant.input_size)
    model = None
    try:
        if getattr(variant, "model", None) is not None:
            model = variant.model
        elif variant.path:
            arch = _arch_of(Path(variant.path))
            if arch and arch.get("depth"):
                model = ResNet(int(arch["depth"]), num_classes=int(arch.get("num_classes") or 1000),
                               widths=arch.get("widths") or None, stem=arch.get("stem") or "imagenet")
        elif getattr(variant, "depth", None):
            model = ResNet(int(variant.depth), num_classes=int(variant.num_classes or 1000))
        if model is None:
            return None
        with torch.no_grad():
            macs = count_macs(model, size)
        return int(macs) if macs > 0 else None
    except Exception:  # noqa: BLE001 - a model the counter cannot trace (quantized modules) just has no figure
        return None


def _arch_of(folder: Path) -> dict[str, Any] | None:
    cfg = folder / "config.json"
    man = folder / "manifest.json"
    for f in (cfg, man):
        if f.is_file():
            try:
                d = json.loads(f.read_text())
            except ValueError:
                continue
            if f is cfg:
                return {"depth": d.get("depth"), "num_classes": d.get("num_classes"), "widths": d.get("widths")}
            arch = d.get("architecture")
            if isinstance(arch, dict):
                return arch
    return None


def roofline_rows(result: Any, macs: dict[str, int | None], peaks: Peaks) -> list[dict[str, Any]]:
    """Per working (variant, backend, batch size): achieved GMAC/s and the fraction of the relevant peak."""
    out = []
    for r in result.ok_rows():
        m = macs.get(r.variant)
        for t in r.timings:
            if t.stats is None:
                continue
            out.append({"variant": r.variant, "backend": r.backend, "batch_size": t.batch_size, "precision": r.precision,
                        "macs_per_image": m, **share_of_peak(m, t.batch_size, t.stats.p50_ms, r.precision, peaks)})
    return out


def attach_roofline(result: Any, variants: list[Any], threads: int | None, *, quick: bool = False,
                    refresh: bool = False, measured: list[Peaks] | None = None) -> None:
    """Measure (or read the cached; ``refresh``: measure again; ``measured``: peaks measured in the run's timing
    rounds, combined by :func:`combine_peaks`) peaks and store them with the per-row figures in
    ``result.extra['roofline']``. A row above its peak means that peak is wrong for it (measured on a busy machine,
    or a GEMM size that does not reach it): the row is marked ``suspect`` and ``suspect_kinds`` names the peak kinds
    concerned; rows judged against another peak keep their figures (``suspect`` lists every such row; a busy
    measurement makes every kind suspect). Never raises: a failure is recorded as ``{"error": ...}``."""
    try:
        peaks = combine_peaks(measured) if measured else gemm_peaks(threads, quick=quick, refresh=refresh)
        macs = {v.name: variant_macs(v) for v in variants}
        rows = roofline_rows(result, macs, peaks)
        over = [r for r in rows if r.get("fraction_of_peak") is not None and r["fraction_of_peak"] > SUSPECT_ABOVE]
        kinds = sorted({r["peak_kind"] for r in over})
        if peaks.busy:
            kinds = sorted(set(KINDS) | ({"bf16"} if peaks.bf16 else set()))
        for r in rows:
            r["suspect"] = r.get("peak_kind") in kinds
        result.extra["roofline"] = {
            "peaks": peaks.to_dict(), "macs": macs, "rows": rows, "suspect_kinds": kinds,
            "suspect": [f"{r['variant']} on {r['backend']} @{r['batch_size']}: {100 * r['fraction_of_peak']:.0f} % "
                        f"of the {r['peak_kind']} peak" for r in over]
                       + (["peaks measured on a busy machine"] if peaks.busy else [])}
    except Exception as e:  # noqa: BLE001 - the roofline is an addition to a report, not a reason to lose it
        result.extra["roofline"] = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"}


def when_measured(p: dict[str, Any]) -> str:
    """How the peaks in a report were measured, for its text: in the run's rounds (with their range), fresh, or
    read from the cache."""
    rounds = p.get("rounds") or []
    if rounds:
        lo, hi = min(r["u8s8"] for r in rounds), max(r["u8s8"] for r in rounds)
        return (f"measured in each of the {len(rounds)} timing rounds, interleaved with the rows, best of the rounds;"
                f" U8S8 {lo:.0f}–{hi:.0f} GMAC/s across them")
    return ("cached " if p.get("cached") else "measured ") + str(p.get("measured"))


def roofline_markdown(result: Any) -> list[str]:
    """The report's "Roofline" section (empty when the result has none)."""
    rf = (getattr(result, "extra", None) or {}).get("roofline")
    if not rf:
        return []
    if rf.get("error"):
        return ["", "## Roofline", "", f"_Peaks could not be measured: {rf['error']}_"]
    p = rf["peaks"]
    md = ["", "## Roofline", "",
          f"Peaks of onnxruntime's CPU GEMM on this machine ({p['threads']} threads; {when_measured(p)}"
          f"{', quick' if p.get('quick') else ''}): INT8 U8S8 **{p['u8s8']:.0f}**, U8U8 {p['u8u8']:.0f}, "
          f"FP32 **{p['fp32']:.0f}**"
          + (f", BF16 **{p['bf16']:.0f}**" if p.get("bf16") else "") + " GMAC/s. Achieved = MACs per image × batch / "
          "p50; INT8 rows against the U8S8 peak, FP32/FP16 rows against the FP32 peak, BF16 rows against the BF16 "
          "peak" + ("" if p.get("bf16") else " (not measured: this CPU has no BF16 instructions, so BF16 rows have "
                    "no % figure)") + ".", ""]
    if rf.get("suspect"):
        kinds = rf.get("suspect_kinds") or []
        md += [f"**Suspect peak{'s' if len(kinds) != 1 else ''} ({', '.join(kinds) or 'all'}); do not read those "
               f"rows' % as efficiency**: {'; '.join(rf['suspect'][:4])}{' …' if len(rf['suspect']) > 4 else ''} (a row "
               "cannot beat the CPU's peak: the peak was measured while the machine was busy, or too small a GEMM). "
               "Rows judged against the other peaks are unaffected. Measure again on an idle machine: "
               "`resnet-opt doctor --peaks`.", ""]
    md.append("| variant | backend | batch | GMACs/img | GMAC/s | % of peak |")
    md.append("|---|---|---|---|---|---|")
    for r in rf.get("rows") or []:
        m = r.get("macs_per_image")
        md.append(f"| {r['variant']} | {r['backend']} | {r['batch_size']} | {m / 1e9:.3f} | " if m else
                  f"| {r['variant']} | {r['backend']} | {r['batch_size']} | — | ")
        md[-1] += (f"{r['gmacs_per_s']:.1f} | " if r.get("gmacs_per_s") is not None else "— | ")
        md[-1] += f"{share_cell(r)} |"
    return md


def share_cell(row: dict[str, Any]) -> str:
    """A roofline row's share of its peak as a report's table writes it ("77 % u8s8", "(suspect)" where the peak is
    suspect, — without a figure)."""
    if row.get("fraction_of_peak") is None:
        return "—"
    return f"{100 * row['fraction_of_peak']:.0f} % {row['peak_kind']}{' (suspect)' if row.get('suspect') else ''}"


__all__ = [
    "GemmPeak",
    "Peaks",
    "gemm_peaks",
    "combine_peaks",
    "PeakProbe",
    "share_of_peak",
    "when_measured",
    "machine_load",
    "CACHE_VERSION",
    "BUSY_SHARE",
    "measure_gemm",
    "measure_bf16_gemm",
    "has_bf16",
    "SUSPECT_ABOVE",
    "gemm_model",
    "cache_dir",
    "cache_key",
    "achieved_gmacs",
    "variant_macs",
    "roofline_rows",
    "attach_roofline",
    "roofline_markdown",
    "share_cell",
]
