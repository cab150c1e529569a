"""Facts about the machine and libraries, recorded in manifests and reports."""

from __future__ import annotations

import functools
import importlib.metadata as md
import os
import platform
from typing import Any

_ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
              "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """CPU model name, core count and the instruction-set flags that matter for INT8 speed."""
    name = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name in ("", platform.machine(), platform.processor()):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    isa = {f: (f in flags) for f in _ISA_FLAGS}
    vnni = isa["avx512_vnni"] or isa["avx_vnni"]
    return {
        "model": name,
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "flags": isa,
        "vnni": vnni,
        "amx": isa["amx_int8"],
    }


def has_vnni() -> bool:
    return bool(cpu_info()["vnni"])


def has_bf16(cpu: dict[str, Any] | None = None) -> bool:
    """AVX512_BF16 or AMX-BF16 among the CPU's flags (``cpu``: a :func:`cpu_info` dict; default this CPU)."""
    f = (cpu or cpu_info()).get("flags") or {}
    return bool(f.get("avx512_bf16") or f.get("amx_bf16"))


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    ort = _version("onnxruntime-gpu") or _version("onnxruntime")
    return {
        "python": platform.python_version(),
        "resnet-opt": _version("resnet-opt"),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "onnx": _version("onnx"),
        "onnxruntime": ort,
        "torch-pruning": _version("torch-pruning") or _version("torch_pruning"),
        "torchao": _version("torchao"),
        "numpy": _version("numpy"),
    }


def gpu_info() -> dict[str, Any] | None:
    try:
        import torch

        if torch.cuda.is_available():
            return {"name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(), "cuda": torch.version.cuda}
    except Exception:  # noqa: BLE001 - a broken CUDA install just means "no GPU"
        return None
    return None


def environment() -> dict[str, Any]:
    return {"cpu": cpu_info(), "gpu": gpu_info(), "versions": library_versions(), "platform": platform.platform()}


def cpu_class(cpu: dict[str, Any] | None = None) -> str:
    """The one CPU classifier (``doctor``, bench reports and result tags use it): ``amx`` | ``avx512-vnni`` |
    ``avx-vnni`` | ``avx512`` | ``avx2`` | ``baseline``, i.e. which INT8 dot-product instructions there are, which
    decides INT8 speed more than anything else."""
    f = (cpu or cpu_info()).get("flags") or {}
    if f.get("amx_int8"):
        return "amx"
    if f.get("avx512_vnni"):
        return "avx512-vnni"
    if f.get("avx_vnni"):
        return "avx-vnni"
    if f.get("avx512f"):
        return "avx512"
    return "avx2" if f.get("avx2") else "baseline"


def cpu_isa_label(cpu: dict[str, Any] | None = None) -> str:
    """The instruction sets that decide INT8/FP32 speed, in words: "AVX2 only", "AVX-512 VNNI", "AVX-512 VNNI + AMX"
    (the words for :func:`cpu_class`)."""
    c = cpu or cpu_info()
    f, cls = c.get("flags") or {}, cpu_class(c)
    if cls == "amx":
        return "AVX-512 VNNI + AMX" if f.get("avx512_vnni") else "AMX"
    if cls == "avx-vnni":
        return "AVX-512 + AVX-VNNI" if f.get("avx512f") else "AVX2 + AVX-VNNI"
    return {"avx512-vnni": "AVX-512 VNNI", "avx512": "AVX-512 (no VNNI)", "avx2": "AVX2 only"}.get(cls, "no AVX2")


def cpu_tag(cpu: dict[str, Any] | None = None) -> str:
    """A file-name-safe tag for this CPU, e.g. ``amd-epyc-2c-avx2`` or ``intel-xeon-2c-avx512vnni-amx``, so benchmark
    results from several CPUs can sit side by side (``benchmarks/*.py --tag auto``)."""
    import re

    c = cpu or cpu_info()
    model = re.sub(r"\((r|tm)\)|cpu|processor|@.*$", " ", str(c.get("model", "cpu")).lower())
    words = [w for w in re.split(r"[^a-z0-9]+", model) if w][:3] or ["cpu"]
    isa = {"AVX-512 VNNI + AMX": "avx512vnni-amx", "AMX": "amx", "AVX-512 VNNI": "avx512vnni",
           "AVX-512 (no VNNI)": "avx512", "AVX-512 + AVX-VNNI": "avx512-avxvnni", "AVX2 + AVX-VNNI": "avx2-avxvnni",
           "AVX2 only": "avx2"}.get(cpu_isa_label(c), "noavx2")
    return "-".join(words + [f"{c.get('cores', '?')}c", isa])
CACHE_ENV = "RESNET_OPT_CACHE"


def cache_dir() -> "os.PathLike[str]":
    """Folder for measured, machine-specific results (GEMM peaks, kernel timings): ``$RESNET_OPT_CACHE``, else
    ``~/.cache/resnet-opt``."""
    from pathlib import Path

    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "resnet-opt"


def machine_key(threads: int) -> str:
    """CPU model + ISA flags + threads + onnxruntime version: a measurement taken under another key does not apply."""
    cpu = cpu_info()
    isa = "+".join(f for f, on in sorted(cpu["flags"].items()) if on) or "none"
    return f"{cpu['model']}|{isa}|threads={threads}|onnxruntime={library_versions().get('onnxruntime')}"
