#!/usr/bin/env python
"""PT2E (torchao) against torch.ao FX for the PyTorch INT8 target: the check behind moving the default to PT2E.

torch 2.14 no longer ships PT2E (``torch.ao.quantization.quantize_pt2e`` is gone); it lives in torchao, a resnet-opt
dependency since issue 12. This script records, on ResNet-50 at 224 px, batch 1, 2 threads:

* whether PT2E annotation (``X86InductorQuantizer``) works on torchvision's resnet50 and on resnet-opt's ResNet-50;
* PT2E latency without and with ``torch.compile`` (Inductor, ``freezing=True``) and the compile time, against torch
  eager FP32 and resnet-opt's FX -> traced + frozen TorchScript INT8, in the same process.

    flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/quantize_pt2e_check.py

The shipped artifact (``quantize --target torch``) compiles the PT2E graph ahead of time into a ``.pt2`` package; its
timings against TorchScript are in benchmarks/results/pt2_cpu.md.
"""

from __future__ import annotations

import time
import warnings

import torch
from common import command, cpu_line, median_ms, write_results

from resnet_opt.core.env import cpu_info, library_versions

warnings.filterwarnings("ignore")


def med_ms(fn, runs=20, warmup=3) -> float:
    with torch.no_grad():
        return median_ms(fn, runs=runs, warmup=warmup)


def pt2e(model, calib):
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq

    x = calib[0]
    gm = torch.export.export(model, (x,)).module()
    q = xiq.X86InductorQuantizer()
    q.set_global(xiq.get_default_x86_inductor_quantization_config())
    p = prepare_pt2e(gm, q)
    with torch.no_grad():
        for c in calib:
            p(c)
    return convert_pt2e(p)


def main() -> None:
    import importlib.metadata as md

    torch.set_num_threads(2)
    try:
        torchao_version = md.version("torchao")
    except md.PackageNotFoundError:
        raise SystemExit("torchao is not importable: see the docstring")
    import torchvision

    from resnet_opt.optimize import fuse_bn
    from resnet_opt.optimize.quantize_torch import quantize_torch, to_torchscript
    from resnet_opt.resnet import ResNet

    torch.manual_seed(0)
    ours = ResNet(50).eval()
    tv = torchvision.models.resnet50(weights=None).eval()
    g = torch.Generator().manual_seed(0)
    calib = [torch.randn(1, 3, 224, 224, generator=g) for _ in range(8)]
    x = torch.randn(1, 3, 224, 224, generator=g)
    res: dict = {"torchao": torchao_version, "annotation": {}, "latency_ms": {}}
    for name, m in (("torchvision resnet50", tv), ("resnet-opt ResNet-50", ours)):
        try:
            pt2e(m, calib[:1])
            res["annotation"][name] = "ok"
        except Exception as e:  # noqa: BLE001
            res["annotation"][name] = f"failed: {type(e).__name__}: {str(e).strip().splitlines()[0]}"
    q = pt2e(ours, calib)
    res["latency_ms"]["torch eager FP32"] = med_ms(lambda: ours(x))
    res["latency_ms"]["PT2E converted, no compile"] = med_ms(lambda: q(x), runs=5)
    import torch._inductor.config as ic

    ic.freezing = True
    t0 = time.perf_counter()
    qc = torch.compile(q)
    with torch.no_grad():
        qc(x)
    res["compile_s_inductor_freezing"] = time.perf_counter() - t0
    res["latency_ms"]["PT2E + torch.compile (Inductor, freezing)"] = med_ms(lambda: qc(x))
    fx = to_torchscript(quantize_torch(fuse_bn(ours), [torch.cat(calib)], method="histogram"))
    res["latency_ms"]["resnet-opt FX INT8, traced + frozen TorchScript"] = med_ms(lambda: fx(x))
    res.update(cpu=cpu_info(), versions=library_versions(), command=command())
    lines = ["# PT2E vs FX for the PyTorch INT8 target", "", "Command:", "", "```", res["command"], "```", "",
             f"CPU: {cpu_line(res['cpu'])}; torch {res['versions']['torch']}, torchao {torchao_version}; "
             "2 threads; ResNet-50 224 px batch 1, random weights; median of 20 runs (5 for the uncompiled PT2E row).", "",
             "## PT2E annotation (X86InductorQuantizer)", ""]
    lines += [f"- {k}: {v}" for k, v in res["annotation"].items()]
    lines += ["", "## Latency", "", "| path | ms |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in res["latency_ms"].items()]
    lines += ["", f"torch.compile time (Inductor, freezing): {res['compile_s_inductor_freezing']:.1f} s, paid in every "
              "new process; `quantize --target torch` pays it once at export instead (an AOTInductor `.pt2` package, "
              "see pt2_cpu.md).", ""]
    write_results("quantize_pt2e_check", res, "\n".join(lines))


if __name__ == "__main__":
    main()
