"""resnet-opt doctor: ISA, usable providers (tried, not listed), OpenVINO, advice; table and --json."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from resnet_opt.bench import doctor as D
from resnet_opt.cli import app

runner = CliRunner()


def test_diagnose_reports_facts_and_a_recommendation():
    from resnet_opt.core.env import cpu_info

    rep = D.diagnose()
    flags = cpu_info()["flags"]
    assert rep.isa["AVX2"] == flags["avx2"] and rep.isa["AVX-512 VNNI"] == flags["avx512_vnni"]
    assert rep.isa["AMX-INT8"] == flags["amx_int8"] and rep.isa["AVX-512 BF16"] == flags["avx512_bf16"]
    assert rep.backends["ort-cpu"] is None and rep.backends["torch-cpu"] is None
    # listed is not usable: onnxruntime-gpu lists CUDA without a GPU, and then the backend carries a reason
    import torch

    if "CUDAExecutionProvider" in rep.onnxruntime_providers and not torch.cuda.is_available():
        assert rep.backends["ort-cuda"]
    assert rep.openvino["usable"] == (rep.backends["openvino-cpu"] is None)
    assert rep.recommendation["precision"] in ("int8", "fp16", "fp32") and rep.advice
    if not torch.cuda.is_available() and flags["avx2"]:
        assert rep.recommendation["precision"] == "int8"


def test_advice_follows_the_cpu_class():
    base = {k: False for k in D.ISA_SHOWN.values()}
    avx2 = dict(base, AVX2=True)
    rec, adv = D.advise(avx2, gpu_ok=False, trt_ok=False, openvino_ok=False)
    assert rec["backend"] == "ort-cpu" and any("No VNNI" in a for a in adv)
    assert any("BF16: not on this CPU" in a for a in adv) and any("pip install" in a for a in adv)
    amx = dict(avx2, **{"AVX-512F": True, "AVX-512 VNNI": True, "AMX-INT8": True, "AMX-BF16": True})
    rec, adv = D.advise(amx, gpu_ok=False, trt_ok=False, openvino_ok=True)
    assert D.cpu_class(amx) == "amx" and rec == {**rec, "precision": "int8", "backend": "openvino-cpu"}
    assert any("--precision bf16" in a for a in adv)
    rec, _ = D.advise(avx2, gpu_ok=True, trt_ok=True, openvino_ok=False)
    assert rec["precision"] == "fp16" and rec["backend"] == "ort-tensorrt"
    assert D.cpu_class(base) == "baseline"


def test_cli_doctor_table_and_json():
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output
    assert "recommended:" in r.output and "backend ort-cpu" in r.output and "ISA flags" in r.output
    r = runner.invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert {"cpu", "isa", "backends", "openvino", "recommendation", "advice", "versions"} <= set(d)
    assert d["backends"]["ort-cpu"] is None
