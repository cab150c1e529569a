"""What a report says about the CPU it ran on, written from the measured ISA and figures, never from a CPU class
assumed: the "reading these numbers" paragraph, the targets that apply to this CPU class, and what an unmet target
needs. ``benchmarks/resnet50_cpu.py`` and ``doctor`` use it; tests/test_cpu_notes.py checks each text with canned
measurements of an AVX2-only, an AVX-512 VNNI and an AMX CPU.

Inputs are plain dicts: ``cpu`` as :func:`resnet_opt.core.env.cpu_info` returns it (``model``, ``flags``), ``peaks``
as :meth:`resnet_opt.bench.roofline.Peaks.to_dict` (``u8s8``, ``fp32``, ``bf16`` GMAC/s).
"""

from __future__ import annotations

from typing import Any

from resnet_opt.core.env import cpu_class, cpu_isa_label, has_bf16

__all__ = ["int8_class", "reading_notes", "efficiency_targets", "unmet_need", "EFFICIENCY"]

# the share of the INT8 (U8S8) GEMM peak an INT8 ResNet-50 should reach on CPUs with INT8 dot products (issue 23):
# unpruned, and pruned 0.5 (smaller, odd channel counts use the kernels less well)
EFFICIENCY = {"unpruned": 0.85, "pruned": 0.75}


def int8_class(cpu: dict[str, Any]) -> str:
    """``dot`` (VNNI or AMX: INT8 dot-product instructions) or ``plain`` (AVX2 / AVX-512 without VNNI)."""
    return "dot" if cpu_class(cpu) in ("amx", "avx512-vnni", "avx-vnni") else "plain"


def _ratio(peaks: dict[str, Any] | None) -> float | None:
    if not peaks or not peaks.get("u8s8") or not peaks.get("fp32"):
        return None
    return float(peaks["u8s8"]) / float(peaks["fp32"])


def reading_notes(cpu: dict[str, Any], peaks: dict[str, Any] | None) -> list[str]:
    """The "Reading these numbers" paragraph for this CPU: its instruction sets in words and what its measured peaks
    say about INT8 (and BF16) against FP32."""
    label = cpu_isa_label(cpu)
    model = cpu.get("model") or "this CPU"
    r = _ratio(peaks)
    measured = (f" Measured here: the INT8 (U8S8) GEMM peak is {peaks['u8s8']:.0f} GMAC/s, {r:.1f}x the FP32 peak "
                f"({peaks['fp32']:.0f} GMAC/s)" if r else "")
    cls = cpu_class(cpu)
    if int8_class(cpu) == "plain":
        text = (f"This CPU ({model}: {label}) has no INT8 dot-product instructions (VNNI or AMX): INT8 convolutions "
                "multiply and add in separate steps, so INT8 gains over FP32 are far smaller than on VNNI/AMX CPUs, "
                "and onnxruntime's U8S8 path uses 7-bit activations (`reduce_range`) to avoid saturation."
                + measured + (". " if measured else " ")
                + "The INT8 efficiency targets (share of the U8S8 peak) are for VNNI/AMX CPUs and are not judged here.")
    else:
        kind = "AMX tiles (and AVX-512 VNNI)" if cls == "amx" else (
            "AVX-512 VNNI" if cls == "avx512-vnni" else "AVX-VNNI")
        text = (f"This CPU ({model}: {label}) runs INT8 dot products natively with {kind}, so INT8 convolutions can "
                "run several times faster than FP32." + measured + ".")
    if has_bf16(cpu):
        bf = peaks.get("bf16") if peaks else None
        text += (" It has BF16 instructions" + (f": the BF16 GEMM peak is {bf:.0f} GMAC/s"
                                                 + (f", {bf / peaks['fp32']:.1f}x FP32" if peaks.get("fp32") else "")
                                                 if bf else "") + "; BF16 rows are judged against that peak.")
    else:
        text += " It has no BF16 instructions: BF16 rows (if any) run emulated and are not judged against a peak."
    return [text]


def efficiency_targets(cpu: dict[str, Any], unpruned: float | None, pruned: float | None,
                       batch: int = 1, *, other: tuple[int, float | None, float | None] | None = None
                       ) -> list[dict[str, Any]]:
    """The share-of-peak targets for this CPU class, judged on the measured fractions (``None``: no figure):
    ``{target, met (True/False/None), detail, fraction}``. On CPUs without INT8 dot products they are reported with
    the figure measured and ``met=None`` (not this CPU class's target). ``other``: (batch size, unpruned, pruned)
    fractions at another batch size, quoted beside the judged ones, never judged."""
    out = []
    others = (None, None) if other is None else other[1:]
    for (name, frac), other_frac in zip((("unpruned", unpruned), ("pruned", pruned)), others):
        goal = EFFICIENCY[name]
        what = "INT8" if name == "unpruned" else "pruned 0.5 + INT8"
        target = f"{what} >= {100 * goal:.0f} % of the INT8 (U8S8) peak on a VNNI/AMX CPU (batch {batch})"
        if frac is None:
            out.append({"target": target, "met": None, "detail": "no roofline figure (or a suspect peak)",
                        "fraction": None})
        elif int8_class(cpu) == "plain":
            out.append({"target": target, "met": None, "fraction": frac,
                        "detail": f"{100 * frac:.0f} % here; this CPU ({cpu_isa_label(cpu)}) has no VNNI/AMX, so the "
                                  "target needs such a CPU (`--tag auto` there adds its figures beside these)"})
        else:
            out.append({"target": target, "met": frac >= goal, "fraction": frac,
                        "detail": f"{100 * frac:.0f} % of the U8S8 peak"})
        if other is not None and other_frac is not None:
            out[-1]["detail"] += f" (batch {other[0]}, not judged: {100 * other_frac:.0f} %)"
            out[-1]["other_batch"] = {"batch": other[0], "fraction": other_frac}
    return out


def unmet_need(target: dict[str, Any], cpu: dict[str, Any]) -> str:
    """One line on what an unmet target needs, from its measured figures and this CPU's class."""
    t = target.get("target", "")
    plain = int8_class(cpu) == "plain"
    if "peer" in t:
        return (f"- *{t}*: {target.get('detail', '')}. The peer's kernels are within reach (OpenVINO and onnxruntime "
                "both run our QDQ file; NNCF quantizes for OpenVINO): compare `resnet-opt quantize --target openvino` "
                "and the INT8 ONNX artifact on `openvino-cpu` on this CPU.")
    if "20x" in t:
        b = target.get("bound_at_peak")
        if b is not None and b < 20:
            return (f"- *{t}*: even at 100 % of this CPU's measured U8S8 peak the pruned model would be {b:.1f}x "
                    "eager: no runtime reaches 20x here" + (" (no VNNI/AMX; a CPU with INT8 dot products has a "
                                                          "much higher INT8 peak)" if plain else "")
                    + "; prune further (fewer MACs) to get there.")
        return (f"- *{t}*: {target.get('detail', '')}; at the peak it would be {b:.1f}x, so the gap is kernel "
                "efficiency: channel counts the INT8 kernels use well (`prune --round-to auto`), static shapes on "
                "OpenVINO, threads." if b is not None else f"- *{t}*: {target.get('detail', '')}.")
    if "% of the INT8" in t:
        return (f"- *{t}*: {target.get('detail', '')}; the rest of the peak is lost to small or odd channel counts "
                "and per-layer overheads at batch 1 (`prune --round-to auto` picks channel multiples from measured "
                "kernel speed on this CPU); `benchmarks/ov_layer_profile.py` measures, layer group by layer group, "
                "where it goes on this CPU.")
    return f"- *{t}*: {target.get('detail', '')}."
