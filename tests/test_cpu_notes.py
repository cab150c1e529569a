"""Report texts written from the measurements: canned measurements of an AVX2-only, an AVX-512 VNNI and an AMX CPU,
and what each report, target and piece of advice says about them (issue 23)."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_opt.bench import cpu_notes as N
from resnet_opt.bench import doctor as D
from resnet_opt.bench import roofline as R

AVX2 = {"model": "AMD EPYC 7B13", "flags": {"avx2": True, "fma": True}}
VNNI = {"model": "AMD EPYC 9B14", "flags": {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx512_bf16": True}}
AMX = {"model": "Intel Xeon 8481C", "flags": {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx512_bf16": True,
                                               "amx_int8": True, "amx_bf16": True, "amx_tile": True}}
PEAKS = {"avx2": {"u8s8": 190.0, "fp32": 94.0, "bf16": None}, "vnni": {"u8s8": 859.0, "fp32": 215.0, "bf16": 420.0},
         "amx": {"u8s8": 2900.0, "fp32": 230.0, "bf16": 1500.0}}


def test_avx2_report_says_what_this_cpu_lacks_and_judges_no_vnni_target():
    text = " ".join(N.reading_notes(AVX2, PEAKS["avx2"]))
    assert "no INT8 dot-product instructions (VNNI or AMX)" in text and "AVX2 only" in text
    assert "2.0x the FP32 peak" in text and "no BF16 instructions" in text
    t = N.efficiency_targets(AVX2, 0.83, 0.63)
    assert [x["met"] for x in t] == [None, None] and all("needs such a CPU" in x["detail"] for x in t)
    assert "83 % here" in t[0]["detail"]


def test_vnni_report_never_says_the_cpu_lacks_vnni():
    text = " ".join(N.reading_notes(VNNI, PEAKS["vnni"]))
    assert "AVX-512 VNNI" in text and "natively" in text and "4.0x the FP32 peak" in text
    assert "no VNNI" not in text and "not measurable" not in text and "no INT8 dot-product" not in text
    assert "BF16 GEMM peak is 420 GMAC/s" in text
    t = N.efficiency_targets(VNNI, 0.83, 0.63)
    assert [x["met"] for x in t] == [False, False]
    need = " ".join(N.unmet_need(x, VNNI) for x in t)
    assert "no VNNI" not in need and "round-to auto" in need
    assert N.efficiency_targets(VNNI, 0.86, 0.76)[0]["met"] is True
    # another batch size's figures are quoted beside the batch-1 judgement and never change it
    t8 = N.efficiency_targets(VNNI, 0.77, 0.59, other=(8, 0.89, 0.76))
    assert [x["met"] for x in t8] == [False, False]
    assert "77 % of the U8S8 peak (batch 8, not judged: 89 %)" == t8[0]["detail"]
    assert t8[1]["other_batch"] == {"batch": 8, "fraction": 0.76}
    assert "other_batch" not in N.efficiency_targets(VNNI, 0.77, 0.59, other=(8, None, None))[0]
    twenty = {"target": "pruned 0.5 + INT8 on its best runtime >= 20x torch eager FP32 (batch 1)",
              "detail": "1.94 ms vs eager 36 ms = 18.6x", "bound_at_peak": 29.5}
    assert "kernel efficiency" in N.unmet_need(twenty, VNNI) and "no VNNI" not in N.unmet_need(twenty, VNNI)


def test_amx_report_names_amx():
    text = " ".join(N.reading_notes(AMX, PEAKS["amx"]))
    assert "AMX tiles" in text and "12.6x the FP32 peak" in text and "no VNNI" not in text
    assert [x["met"] for x in N.efficiency_targets(AMX, 0.9, 0.8)] == [True, True]


def test_twenty_x_out_of_reach_says_so_from_the_bound():
    t = {"target": "pruned 0.5 + INT8 on its best runtime >= 20x torch eager FP32 (batch 1)", "detail": "x",
         "bound_at_peak": 12.0}
    assert "no runtime reaches 20x here" in N.unmet_need(t, AVX2) and "no VNNI/AMX" in N.unmet_need(t, AVX2)
    assert "no VNNI/AMX" not in N.unmet_need(t, VNNI)


@pytest.mark.parametrize("cpu,cls", [(AVX2, "avx2"), (VNNI, "avx512-vnni"), (AMX, "amx")])
def test_doctor_names_the_path_measured_fastest_on_the_cpu_class(cpu, cls):
    isa = {label: bool(cpu["flags"].get(flag)) for flag, label in D.ISA_SHOWN.items()}
    rec, adv = D.advise(isa, gpu_ok=False, trt_ok=False, openvino_ok=True)
    assert D.cpu_class(isa) == cls and rec["backend"] == "openvino-cpu"
    line = [a for a in adv if a.startswith(("Measured on this CPU class", "No figures of ours"))]
    assert len(line) == 1
    if cls == "amx":
        assert "No figures of ours for this CPU class" in line[0]
    else:
        assert "OpenVINO" in line[0] and all(src in line[0] for _, src in D.MEASURED_FASTEST[cls])
        assert all((Path(__file__).resolve().parents[1] / src).is_file() for _, src in D.MEASURED_FASTEST[cls])


def test_bf16_rows_are_judged_against_a_bf16_peak_and_never_the_fp32_one():
    p = R.Peaks(u8s8=800.0, u8u8=700.0, fp32=200.0, threads=2, key="k", bf16=400.0)
    assert p.for_precision("bf16") == ("bf16", 400.0) and p.for_precision("fp32") == ("fp32", 200.0)
    no_bf16 = R.Peaks(u8s8=800.0, u8u8=700.0, fp32=200.0, threads=2, key="k")
    assert no_bf16.for_precision("bf16") is None  # not judged, rather than "161 % of the FP32 peak"
    assert R.share_of_peak(10 ** 9, 1, 1.0, "bf16", no_bf16)["fraction_of_peak"] is None


def test_a_suspect_row_does_not_void_the_other_peaks(monkeypatch, tmp_path):
    from types import SimpleNamespace

    monkeypatch.setenv("RESNET_OPT_CACHE", str(tmp_path))
    peaks = R.Peaks(u8s8=800.0, u8u8=700.0, fp32=200.0, threads=2, key="k", bf16=400.0)
    monkeypatch.setattr(R, "gemm_peaks", lambda *a, **k: peaks)
    monkeypatch.setattr(R, "variant_macs", lambda v: v.macs)
    mk = lambda name, prec, ms: SimpleNamespace(  # noqa: E731
        variant=name, backend="openvino-cpu", precision=prec,
        timings=[SimpleNamespace(batch_size=1, stats=SimpleNamespace(p50_ms=ms))])
    rows = [mk("bf16-row", "bf16", 1.0), mk("int8-row", "int8", 10.0)]
    result = SimpleNamespace(extra={}, ok_rows=lambda: rows)
    # 1 GMAC: the BF16 row at 1000 GMAC/s is above its 400 peak; the INT8 row at 100 GMAC/s is 12.5 % of U8S8
    R.attach_roofline(result, [SimpleNamespace(name="bf16-row", macs=10 ** 9), SimpleNamespace(name="int8-row",
                                                                                             macs=10 ** 9)], 2)
    rf = result.extra["roofline"]
    by = {r["variant"]: r for r in rf["rows"]}
    assert rf["suspect_kinds"] == ["bf16"] and by["bf16-row"]["suspect"] and not by["int8-row"]["suspect"]
    assert by["int8-row"]["fraction_of_peak"] == pytest.approx(0.125)
    md = "\n".join(R.roofline_markdown(result))
    assert "Suspect peak (bf16)" in md and "| 12 % u8s8 |" in md and "250 % bf16 (suspect)" in md
