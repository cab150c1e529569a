"""Pre-flight check of a machine: which instruction sets, GPUs, runtimes and providers *really* work here, and
which precision and runtime to pick as a result (``resnet-opt doctor``).

"Usable" means tried, not listed: onnxruntime-gpu lists the CUDA and TensorRT providers on machines without a GPU,
so each provider is checked by running a tiny session on it (:func:`resnet_opt.bench.backends.unavailable_reason`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ISA_SHOWN = {
    "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512F", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX", "amx_int8": "AMX-INT8", "amx_bf16": "AMX-BF16",
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    cpu: dict[str, Any]
    isa: dict[str, bool]  # AVX2 / AVX-512 / VNNI / BF16 / AMX flags from /proc/cpuinfo
    gpu: dict[str, Any] | None
    backends: dict[str, str | None]  # bench backend -> None (usable) or why not
    onnxruntime_providers: list[str]  # what onnxruntime lists (not the same as usable)
    openvino: dict[str, Any]
    versions: dict[str, str | None]
    checks: list[Check] = field(default_factory=list)
    recommendation: dict[str, str] = field(default_factory=dict)  # precision, runtime, backend, why
    advice: list[str] = field(default_factory=list)
    peaks: dict[str, Any] | None = None  # GEMM peaks (bench/roofline.py) when asked for

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _isa(cpu: dict[str, Any]) -> dict[str, bool]:
    flags = cpu.get("flags") or {}
    return {label: bool(flags.get(flag)) for flag, label in ISA_SHOWN.items()}


def cpu_class(isa: dict[str, bool]) -> str:
    """:func:`resnet_opt.core.env.cpu_class` of the flags shown (``ISA_SHOWN`` labels -> ``/proc/cpuinfo`` flags)."""
    from resnet_opt.core.env import cpu_class as classify

    return classify({"flags": {flag: bool(isa.get(label)) for flag, label in ISA_SHOWN.items()}})


# the fastest CPU paths measured per CPU class, one entry per machine measured (ResNet-50, batch 1, 2 threads; the
# files hold the command and the ISA)
MEASURED_FASTEST = {
    "avx2": (("INT8 ONNX on OpenVINO 23.7 ms, on onnxruntime 25.4 ms, against torch eager FP32 73.8 ms; pruned 0.5 + "
              "INT8 7.1 ms (10.4x eager), on a 2-core AMD EPYC Zen 3 (AVX2 only)", "benchmarks/results/resnet50_cpu.md"),),
    "avx512-vnni": (
        ("INT8 ONNX on OpenVINO 5.75 ms, on onnxruntime 7.1 ms, against torch eager FP32 36 ms; pruned 0.5 + INT8 on "
         "OpenVINO 1.94 ms (15.7x eager), on a 2-core AMD EPYC Zen 4 (AVX-512 VNNI + BF16)",
         "benchmarks/results/resnet50_cpu-amd-epyc-2c-avx512vnni.md"),
        ("`quantize --target openvino` (NNCF) 5.2 ms and INT8 ONNX 5.4 ms on OpenVINO, INT8 ONNX on onnxruntime "
         "6.7 ms, against torch eager FP32 35.3 ms; pruned 0.5 + INT8 ONNX on OpenVINO 1.71 ms (20.6x eager), on a "
         "2-core AMD EPYC Zen 5 (AVX-512 VNNI + BF16)", "benchmarks/results/resnet50_cpu-amd-epyc-zen5-2c-avx512vnni.md"),
    ),
}


def measured_line(cls: str) -> str:
    """What was measured fastest on this CPU class, machine by machine, with the sources, or how to measure it here."""
    if cls in MEASURED_FASTEST:
        return "Measured on this CPU class: " + "; ".join(f"{what} ({src})" for what, src in MEASURED_FASTEST[cls]) + "."
    return ("No figures of ours for this CPU class yet: `python benchmarks/resnet50_cpu.py --tag auto` measures every "
            "path here and writes them beside the others.")


def advise(isa: dict[str, bool], gpu_ok: bool, trt_ok: bool, openvino_ok: bool) -> tuple[dict[str, str], list[str]]:
    """The recommendation (precision, runtime, bench backend, why) and the advice lines that follow from the facts."""
    cls = cpu_class(isa)
    bf16 = isa.get("AVX-512 BF16") or isa.get("AMX-BF16")
    advice: list[str] = []
    if gpu_ok:
        rec = {"precision": "fp16", "runtime": "onnxruntime TensorRT" if trt_ok else "onnxruntime CUDA / torch CUDA",
               "backend": "ort-tensorrt" if trt_ok else "ort-cuda",
               "why": "a usable GPU: FP16 (export onnx --fp16) on Tensor Cores; INT8 QDQ on the CUDA provider runs "
                      "its QLinearConv nodes on the CPU"}
        advice.append("GPU present: export ONNX FP16 and benchmark with --backends cuda,tensorrt.")
    elif cls in ("amx", "avx512-vnni", "avx-vnni"):
        rt = "OpenVINO" if openvino_ok else "onnxruntime"
        rec = {"precision": "int8", "runtime": rt, "backend": "openvino-cpu" if openvino_ok else "ort-cpu",
               "why": f"{'AMX' if cls == 'amx' else 'VNNI'} runs INT8 dot products natively: prune + INT8 QDQ ONNX"
                      f"{' on OpenVINO' if openvino_ok else ''} is the fastest CPU path measured on such CPUs"}
        advice.append("INT8: `resnet-opt quantize` (QDQ ONNX), after `prune` for the largest gain; compare runtimes "
                      "with `resnet-opt bench ARTIFACT --backends ort-cpu,openvino`."
                      + (" `quantize --target openvino` (NNCF, OpenVINO's own quantizer) runs as fast: on the Zen 5 the "
                         "two took turns as the fastest unpruned INT8 row, within 5 % of each other." if openvino_ok
                         else ""))
    elif cls in ("avx2", "avx512"):
        rt = "OpenVINO" if openvino_ok else "onnxruntime"
        rec = {"precision": "int8", "runtime": rt, "backend": "openvino-cpu" if openvino_ok else "ort-cpu",
               "why": "no VNNI/AMX: INT8 still beats FP32 (onnxruntime's AVX2 U8S8 GEMM is ~2x its FP32 peak) "
                      f"but far less than on VNNI/AMX CPUs; prune + INT8 QDQ ONNX on {rt}"}
        advice.append("No VNNI/AMX: expect INT8 about 3x torch eager FP32 (ResNet-50), not the 5-12x of VNNI/AMX CPUs; "
                      "pruning multiplies it. onnxruntime U8S8 uses reduce_range here (the quantize stage does).")
    else:
        rec = {"precision": "fp32", "runtime": "onnxruntime", "backend": "ort-cpu",
               "why": "no AVX2: INT8 kernels gain little; FP32 ONNX on onnxruntime"}
    if bf16:
        advice.append("BF16: this CPU has it; an FP32 model can run in BF16 with OpenVINO "
                      "(`resnet-opt export openvino --precision bf16`), validated against PyTorch like INT8.")
    else:
        advice.append("BF16: not on this CPU (needs AVX512_BF16 or AMX-BF16, e.g. AMD Zen 4+, Intel Sapphire Rapids+).")
    if not openvino_ok:
        advice.append("OpenVINO is not usable here: `pip install 'resnet-opt[openvino]'` adds the openvino-cpu "
                      "backend (it runs our INT8 QDQ ONNX, and BF16 on CPUs that have it).")
    advice.append("Pruning: `resnet-opt prune --round-to auto` picks channel multiples from kernel timings on this CPU.")
    if not gpu_ok:
        advice.append(measured_line(cls))
    return rec, advice


def diagnose(*, peaks: bool = False, threads: int | None = None) -> DoctorReport:
    """Inspect this machine (a few seconds: each GPU provider is tried with a tiny session). ``peaks``: also the
    GEMM peaks of the roofline, measured now (and cached for bench reports when the machine is idle)."""
    from resnet_opt.bench.backends import BACKENDS, unavailable_reason
    from resnet_opt.core.env import cpu_info, gpu_info, library_versions
    from resnet_opt.engine.openvino_session import cpu_capabilities, openvino_unavailable_reason, openvino_version

    cpu = cpu_info()
    isa = _isa(cpu)
    backends = {name: unavailable_reason(name) for name in BACKENDS}
    try:
        import onnxruntime as ort

        listed = list(ort.get_available_providers())
    except ImportError:
        listed = []
    ov_why = openvino_unavailable_reason()
    ov = {"usable": ov_why is None, "version": openvino_version(), "reason": ov_why,
          "cpu_capabilities": list(cpu_capabilities())}
    versions = dict(library_versions())
    versions["openvino"] = ov["version"]
    gpu = gpu_info()
    gpu_ok = gpu is not None and (backends.get("torch-cuda") is None or backends.get("ort-cuda") is None)
    rec, advice = advise(isa, gpu_ok, backends.get("ort-tensorrt") is None, ov_why is None)
    checks = [
        Check("CPU", True, f"{cpu['model']} ({cpu['cores']} logical cores), class {cpu_class(isa)}"),
        Check("INT8 dot products (VNNI/AMX)", bool(cpu.get("vnni") or cpu.get("amx")),
              "VNNI" + (" + AMX" if cpu.get("amx") else "") if cpu.get("vnni") or cpu.get("amx")
              else "none: INT8 runs on AVX2 multiply-add sequences"),
        Check("BF16 (AVX512_BF16/AMX-BF16)", bool(isa["AVX-512 BF16"] or isa["AMX-BF16"]),
              "yes" if isa["AVX-512 BF16"] or isa["AMX-BF16"] else "no"),
        Check("GPU (torch)", backends.get("torch-cuda") is None,
              f"{gpu['name']} (CUDA {gpu.get('cuda')})" if gpu else (backends.get("torch-cuda") or "none")),
    ]
    for name in ("ort-cpu", "ort-cuda", "ort-tensorrt", "openvino-cpu"):
        why = backends.get(name)
        checks.append(Check(f"backend {name}", why is None, "usable (a session ran on it)" if why is None else why))
    rep = DoctorReport(cpu=cpu, isa=isa, gpu=gpu, backends=backends, onnxruntime_providers=listed, openvino=ov,
                       versions=versions, checks=checks, recommendation=rec, advice=advice)
    if peaks:
        from resnet_opt.bench.roofline import gemm_peaks

        rep.peaks = gemm_peaks(threads, refresh=True).to_dict()  # asked for: measured now (and cached when idle)
    return rep


__all__ = ["Check", "DoctorReport", "diagnose", "advise", "cpu_class", "ISA_SHOWN"]
