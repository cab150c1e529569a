"""The roofline: measured GEMM peaks (cached) and achieved GMAC/s per benchmark row."""

from __future__ import annotations

import json

import pytest

from resnet_opt.bench import roofline as R
from resnet_opt.core.errors import ConfigError


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(R.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(R, "machine_load", lambda: 0.0)  # an idle machine, whatever else the test run is doing
    return tmp_path


def test_gemm_peaks_measured_then_cached(cache):
    p = R.gemm_peaks(1, quick=True, sizes=[64], runs=2)
    assert not p.cached and p.u8s8 > 0 and p.u8u8 > 0 and p.fp32 > 0
    bf16 = {"bf16"} if R.has_bf16() else set()  # a BF16 peak where the CPU has BF16 instructions
    assert {g.kind for g in p.gemm} == set(R.KINDS) | bf16 and all(g.n == 64 for g in p.gemm)
    assert (p.bf16 is not None) == bool(bf16)
    assert p.u8s8 == max(g.gmacs_per_s for g in p.gemm if g.kind == "u8s8")
    data = json.loads((cache / R.CACHE_FILE).read_text())
    assert p.key in data and "threads=1" in p.key and "onnxruntime=" in p.key
    again = R.gemm_peaks(1, quick=True, sizes=[64], runs=2)
    assert again.cached and again.u8s8 == p.u8s8
    # another thread count is another key: measured, not taken from the cache
    other = R.gemm_peaks(2, quick=True, sizes=[64], runs=2)
    assert not other.cached and other.key != p.key
    fresh = R.gemm_peaks(1, quick=True, sizes=[64], runs=2, refresh=True)
    assert not fresh.cached


def test_quick_request_uses_a_cached_full_measurement_not_the_reverse(cache):
    R.gemm_peaks(1, quick=True, sizes=[48], runs=1)
    full = R.gemm_peaks(1, sizes=[48], runs=1)
    assert not full.cached and not full.quick  # a quick entry never stands in for a full one
    q = R.gemm_peaks(1, quick=True, sizes=[48], runs=1)
    assert q.cached and not q.quick


def test_peak_for_precision_and_achieved():
    p = R.Peaks(u8s8=200.0, u8u8=150.0, fp32=90.0, threads=2, key="k")
    assert p.for_precision("int8") == ("u8s8", 200.0)
    assert p.for_precision("FP32") == ("fp32", 90.0)
    assert p.for_precision("weird") is None
    # 4.1 GMACs in 20.5 ms at batch 1 -> 200 GMAC/s; batch 8 in 164 ms -> the same
    assert R.achieved_gmacs(4.1e9, 1, 20.5) == pytest.approx(200.0)
    assert R.achieved_gmacs(4.1e9, 8, 164.0) == pytest.approx(200.0)
    with pytest.raises(ConfigError):
        R.achieved_gmacs(1e9, 1, 0.0)
    with pytest.raises(ConfigError):
        R.gemm_model("int4", 64)


def test_bench_report_has_roofline_columns(cache, tmp_path):
    from resnet_opt.bench import BenchConfig, TimingConfig, run_benchmark, variant_from_depth
    from resnet_opt.bench.report import render_markdown
    from resnet_opt.resnet import ResNet, count_macs

    v = variant_from_depth(18, input_size=32, num_classes=10)
    cfg = BenchConfig(backends=["torch-cpu"], batch_sizes=[1, 2], threads=1, agreement_images=2,
                      timing=TimingConfig(warmup=0, iterations=2, time_budget_s=1.0), roofline_quick=True)
    res = run_benchmark([v], cfg)
    rf = res.extra["roofline"]
    assert rf["peaks"]["fp32"] > 0
    macs = count_macs(ResNet(18, num_classes=10), 32)
    assert rf["macs"][v.name] == macs
    rows = {r["batch_size"]: r for r in rf["rows"]}
    assert set(rows) == {1, 2}
    row = res.ok_rows()[0]
    for bs, r in rows.items():
        assert r["peak_kind"] == "fp32"
        assert r["gmacs_per_s"] == pytest.approx(macs * bs / (row.timing(bs).p50_ms * 1e-3) / 1e9)
        assert r["fraction_of_peak"] == pytest.approx(r["gmacs_per_s"] / rf["peaks"]["fp32"])
    md = render_markdown(res)
    assert "## Roofline" in md and "% of peak" in md and "fp32 |" in md


def test_variant_macs_from_a_pruned_model_folder(tmp_path):
    from resnet_opt.bench.variants import variant_from_path
    from resnet_opt.resnet import ResNet, count_macs, save_model

    m = ResNet(18, num_classes=10, widths={"layer1.0.conv1": 40, "layer2.1.conv1": 72})
    save_model(m, tmp_path / "m", input_size=32, preprocessing="digits")
    v = variant_from_path(tmp_path / "m")
    assert R.variant_macs(v) == count_macs(m, 32) < count_macs(ResNet(18, num_classes=10), 32)


def test_peaks_measured_on_a_busy_machine_are_never_cached(cache, monkeypatch):
    """A peak measured under load is too low: it is returned marked busy and not cached, so it cannot make later
    reports claim more than 100 % of it; an idle measurement is cached (with the load it was taken at)."""
    monkeypatch.setattr(R, "machine_load", lambda: 0.9)  # others use 90 % of the cores
    busy = R.gemm_peaks(1, quick=True, sizes=[48], runs=1)
    assert busy.busy and not busy.cached and not (cache / R.CACHE_FILE).exists()
    monkeypatch.setattr(R, "machine_load", lambda: 0.0)
    idle = R.gemm_peaks(1, quick=True, sizes=[48], runs=1)
    assert not idle.busy and json.loads((cache / R.CACHE_FILE).read_text())[idle.key]["quick"]["v"] == R.CACHE_VERSION
    assert R.gemm_peaks(1, quick=True, sizes=[48], runs=1).cached


def test_a_row_above_its_peak_marks_the_peaks_suspect(cache, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(R, "machine_load", lambda: 0.0)
    stats = SimpleNamespace(p50_ms=1.0)
    row = SimpleNamespace(variant="v", backend="ort-cpu", precision="int8",
                          timings=[SimpleNamespace(batch_size=1, stats=stats)])
    result = SimpleNamespace(extra={}, ok_rows=lambda: [row])
    variant = SimpleNamespace(name="v", macs=10 ** 12)  # 1 TMAC in 1 ms: far above any CPU's peak
    monkeypatch.setattr(R, "variant_macs", lambda v: v.macs)
    R.attach_roofline(result, [variant], 1, quick=True)
    rf = result.extra["roofline"]
    assert rf["suspect"] and "v on ort-cpu @1" in rf["suspect"][0]
    assert any("suspect" in line for line in R.roofline_markdown(result))


def test_machine_load_counts_other_processes_only():
    """This process spinning does not make the machine 'busy' (unlike the load average)."""
    import threading
    import time

    stop = time.perf_counter() + 0.5
    t = threading.Thread(target=lambda: [None for _ in iter(lambda: time.perf_counter() > stop, True)])
    t.start()
    share = R.machine_load(0.3)
    t.join()
    assert share is None or 0.0 <= share <= 1.0


def test_combine_peaks_takes_the_best_of_the_rounds_and_keeps_them(cache):
    mk = lambda u, busy=False: R.Peaks(u8s8=u, u8u8=u / 2, fp32=u / 4, threads=1, key="k", busy=busy,  # noqa: E731
                                       gemm=[R.GemmPeak("u8s8", 64, 1.0, u)])
    p = R.combine_peaks([mk(100.0), mk(300.0), mk(120.0)])
    assert (p.u8s8, p.u8u8, p.fp32) == (300.0, 150.0, 75.0)  # a slow round never makes a row look efficient
    assert [r["u8s8"] for r in p.rounds] == [100.0, 300.0, 120.0] and not p.busy
    assert "3 timing rounds" in R.when_measured(p.to_dict()) and "100–300" in R.when_measured(p.to_dict())
    assert R.Peaks.from_dict(p.to_dict()).rounds == p.rounds
    # one busy round: the combination is busy, and is not cached
    b = R.combine_peaks([mk(100.0), mk(50.0, busy=True)])
    assert b.busy and b.cache_file is None
    with pytest.raises(ConfigError):
        R.combine_peaks([])


def test_fresh_peaks_are_measured_in_every_timing_round_beside_the_rows(cache):
    """A shared VM's speed drifts: with roofline_refresh the peaks come from the same rounds as the rows."""
    from resnet_opt.bench import BenchConfig, TimingConfig, run_benchmark, variant_from_depth
    from resnet_opt.bench.report import render_markdown

    v = variant_from_depth(18, input_size=32, num_classes=10)
    cfg = BenchConfig(backends=["torch-cpu"], batch_sizes=[1, 2], threads=1, agreement_images=2,
                      timing=TimingConfig(warmup=0, iterations=2, time_budget_s=1.0, rounds=2),
                      roofline_quick=True, roofline_refresh=True)
    res = run_benchmark([v], cfg)
    peaks = res.extra["roofline"]["peaks"]
    assert len(peaks["rounds"]) == 4  # 2 batch sizes x 2 rounds
    assert peaks["u8s8"] == max(r["u8s8"] for r in peaks["rounds"])
    assert "measured in each of the 4 timing rounds" in render_markdown(res)


def test_block_timings_calls_the_peak_probe_once_per_round(cache):
    """The benchmark scripts measure the peaks beside their rows: a PeakProbe passed as each_round runs at the start
    of every round, before that round's blocks."""
    from resnet_opt.bench.timing import block_timings

    order: list[str] = []
    probe = R.PeakProbe(1, quick=True)

    def each_round():
        order.append("probe")
        probe()

    t = block_timings({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, runs=4, warmup=0, rounds=2,
                      pause_s=0.0, each_round=each_round)
    assert order == ["probe", "a", "a", "b", "b", "probe", "a", "a", "b", "b"]
    assert t["a"]["n"] == 4 and len(t["a"]["round_medians_ms"]) == 2
    peaks = probe.peaks()
    assert len(peaks.rounds) == 2 and peaks.u8s8 > 0
    share = R.share_of_peak(peaks.u8s8 * 1e9 * 1e-3, 1, 1.0, "int8", peaks)  # exactly the peak's MACs in 1 ms
    assert share["peak_kind"] == "u8s8" and share["fraction_of_peak"] == pytest.approx(1.0)
    assert R.share_of_peak(1e9, 1, 1.0, "weird", peaks)["fraction_of_peak"] is None
