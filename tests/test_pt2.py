"""PT2 artifacts: ``export pt2`` (torch.export + AOTInductor) and the PT2E INT8 ``quantize --target torch``.

AOTInductor compiles take about a minute each for ResNet-18 at 32 px on 2 cores, so the whole module compiles
exactly two packages, once (the session fixture ``pt2_artifacts``): FP32 through ``export pt2`` and INT8 through
``quantize --target torch``, both through the CLI with DeprecationWarning / FutureWarning turned into errors and the
deprecated TorchScript / torch.ao.quantization entry points patched to raise. Every other test reuses them.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from helpers import one_line_error
from conftest import deprecated_entry_points as _deprecated_entry_points
from resnet_opt.cli import app
from resnet_opt.pipeline.evaluate import EvalConfig

pytest.importorskip("torchao", reason="the PT2E INT8 target needs torchao")

runner = CliRunner()
EVAL = 120  # val images for the INT8 stage's own accuracy figures
MANIFEST_KEYS = {"kind", "file", "precision", "stage", "source", "architecture", "input", "output", "preprocessing",
                 "class_names", "validation", "file_sha256", "file_size", "versions", "cpu", "compile"}


@pytest.fixture(scope="module")
def digits_val():
    from resnet_opt.data import build_loader

    xs, ys = zip(*build_loader("digits", "val", batch_size=120, limit=120))
    return torch.cat(xs), torch.cat(ys)


def _ok(res) -> None:
    assert res.exit_code == 0, (res.output, res.exception)


# ------------------------------------------------------------------------------------------------ export + manifest
def test_export_pt2_cli_writes_a_validated_package(pt2_artifacts):
    _ok(pt2_artifacts.fp32_result)
    out = pt2_artifacts.fp32_result.output
    assert "pt2 fp32 resnet18" in out and "compiled for cpu" in out
    a = pt2_artifacts.fp32
    assert sorted(p.name for p in a.iterdir()) == ["manifest.json", "model.pt2"]
    m = json.loads((a / "manifest.json").read_text())
    assert MANIFEST_KEYS <= set(m)
    assert (m["kind"], m["file"], m["precision"], m["stage"]) == ("pt2", "model.pt2", "fp32", "export")
    assert m["input"] == {"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float32"}
    assert m["output"]["shape"] == [-1, 10] and m["architecture"]["num_classes"] == 10
    v = m["validation"]
    # a model per default batch size (1, 8), each checked at its size and the 16 images through the chunking
    assert v["passed"] and v["real_images"] and v["batch_sizes"] == [1, 8, 16] and v["top1_agreement"] == 100.0
    assert v["max_abs_diff"] <= v["allowed_abs_diff"]
    c = m["compile"]
    assert c["device"] == "cpu" and c["compile_seconds"] > 0 and c["inductor_configs"]["freezing"] is True
    assert c["vec_isa"] and c["march"] == "native"
    assert m["export"]["dynamic_batch"] is False and m["export"]["batch_sizes"] == [1, 8] == c["batch_sizes"]
    assert m["export"]["package_models"] == {"batch1": 1, "batch8": 8} == c["models"]
    from resnet_opt.core.artifact import sha256_file

    assert m["file_sha256"] == sha256_file(a / "model.pt2") and m["file_size"] == (a / "model.pt2").stat().st_size


def test_default_paths_emit_no_deprecation_and_skip_torchscript(pt2_artifacts, tmp_path):
    """export pt2 and quantize --target torch ran with DeprecationWarning/FutureWarning as errors and the deprecated
    TorchScript / torch.ao.quantization entry points patched to raise (fixture); loading and running them too."""
    _ok(pt2_artifacts.fp32_result)
    _ok(pt2_artifacts.int8_result)
    assert pt2_artifacts.called == []
    assert not [w for w in pt2_artifacts.caught if w[0] in ("DeprecationWarning", "FutureWarning")]
    from resnet_opt.runtime import load

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.filterwarnings("error", category=DeprecationWarning)
        warnings.filterwarnings("error", category=FutureWarning)
        for mod, name in _deprecated_entry_points():
            mp.setattr(mod, name, lambda *a, **k: (_ for _ in ()).throw(AssertionError("deprecated API called")))
        for a in (pt2_artifacts.fp32, pt2_artifacts.int8):
            assert load(a).logits(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


# ------------------------------------------------------------------------------------------------ runtime / eval / predict / bench
def test_runtime_load_matches_the_source_model(pt2_artifacts, trained_digits_model, digits_val):
    from resnet_opt.runtime import load

    x, _ = digits_val
    p = load(pt2_artifacts.fp32)
    assert p.kind == "pt2" and p.provider == "cpu" and p.load_ms > 0 and p.describe()["load_ms"] == p.load_ms
    with torch.no_grad():
        ref = trained_digits_model.eval()(x)
    for bs in (1, 7, 120):  # the batch dimension is dynamic: any size
        out = torch.cat([p.logits(x[i:i + bs]) for i in range(0, len(x), bs)])
        assert torch.equal(out.argmax(1), ref.argmax(1)), bs
        assert (out - ref).abs().max() < 1e-3


def test_first_load_in_a_process_leaves_no_full_collection_for_the_calls(pt2_artifacts):
    """Importing torch's package loader leaves ~150k new Python objects; left alone, their first full collection
    (190 ms for ResNet-50 on the Zen 5 VM) stalled one call ~45 calls after the load. The runtime collects them at
    import time, so a fresh process's first calls see no generation-2 collection."""
    import subprocess
    import sys

    code = (
        "import gc, json, sys, torch\n"
        "from resnet_opt.runtime import load\n"
        "m = load(sys.argv[1])\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: seen.append(info['generation']) if phase == 'start' else None)\n"
        "x = torch.rand(1, 3, m.input_size, m.input_size)\n"
        "for _ in range(300):\n"
        "    m.logits(x)\n"
        "print(json.dumps(seen))\n")
    r = subprocess.run([sys.executable, "-c", code, str(pt2_artifacts.int8)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    generations = json.loads(r.stdout.strip().splitlines()[-1])
    assert 2 not in generations, generations


def test_eval_and_predict_cli_agree_with_the_source_model(pt2_artifacts, trained_digits_dir, tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    from resnet_opt.data import digits_split_indices
    from resnet_opt.pipeline.evaluate import evaluate_path
    from resnet_opt.runtime import load

    src, art = evaluate_path(EvalConfig(trained_digits_dir, "digits")), evaluate_path(
        EvalConfig(pt2_artifacts.fp32, "digits")
    )
    assert art.kind == "pt2" and art.count == src.count == 360 and art.top1 == src.top1
    r = runner.invoke(app, ["eval", "--model", str(pt2_artifacts.fp32), "--data", "digits", "--json", "--limit", "64"])
    _ok(r)
    assert json.loads(r.output)["kind"] == "pt2"

    d = load_digits()
    _, va = digits_split_indices(32)
    paths = []
    for i in va[:4]:
        paths.append(tmp_path / f"d{i}.png")
        Image.fromarray(np.clip(d.images[i] * 255 / 16, 0, 255).round().astype(np.uint8), mode="L").save(paths[-1])
    r = runner.invoke(app, ["predict", str(pt2_artifacts.fp32), *map(str, paths), "--json"])
    _ok(r)
    res = json.loads(r.output)
    assert res["kind"] == "pt2" and res["load_ms"] > 0
    want = [p.top1 for p in load(trained_digits_dir).predict([str(p) for p in paths])]
    assert [p["indices"][0] for p in res["predictions"]] == want


def test_bench_has_a_pt2_row_with_load_time(pt2_artifacts, trained_digits_dir):
    from resnet_opt.bench import BenchConfig, TimingConfig, run_benchmark
    from resnet_opt.bench.variants import variant_from_path

    vs = [variant_from_path(trained_digits_dir, name="eager"), variant_from_path(pt2_artifacts.fp32, name="pt2"),
          variant_from_path(pt2_artifacts.int8, name="pt2-int8")]
    assert vs[1].kind == "pt2" and vs[1].cpu_only and vs[2].precision == "int8"
    res = run_benchmark(vs, BenchConfig(backends=["cpu", "cuda"], batch_sizes=[1, 4], data="digits", eval_limit=64,
                                        timing=TimingConfig(warmup=1, iterations=3, time_budget_s=2.0)))
    rows = {(r.variant, r.backend): r for r in res.rows}
    fp = rows[("pt2", "pt2-cpu")]
    assert fp.status == "ok" and fp.load_ms > 0 and fp.timing(1) and fp.timing(4)
    assert fp.top1 == rows[("eager", "torch-cpu")].top1 and fp.agreement == 100.0
    assert rows[("pt2-int8", "pt2-cpu")].status == "ok" and rows[("pt2-int8", "pt2-cpu")].agreement >= 95.0
    assert rows[("pt2", "pt2-cuda")].status == "skipped"  # a CPU package, or no GPU: skipped with a reason


# ------------------------------------------------------------------------------------------------ PT2E INT8
def test_pt2e_int8_package_accuracy_close_to_fp32(pt2_artifacts, digits_val):
    _ok(pt2_artifacts.int8_result)
    m = json.loads(pt2_artifacts.int8_result.output)
    assert (m["kind"], m["file"], m["precision"], m["stage"]) == ("pt2", "model.pt2", "int8", "quantize")
    assert MANIFEST_KEYS <= set(m)
    q, v = m["quantization"], m["validation"]
    assert q["target"] == "torch" and "X86InductorQuantizer" in q["quantizer"] and q["torchao"]
    assert q["calibration"]["split"] == "train" and q["calibration"]["images"] == 64
    assert v["eval"]["split"] == "val" and v["eval"]["images"] == EVAL
    assert v["int8_top1"] >= v["fp32_top1"] - 2.0, v  # 120 images: 1 image = 0.83 points
    assert v["top1_agreement"] >= 95.0
    assert q["pt2e_reference"]["top1_agreement"] >= 97.0  # the compiled package vs the PT2E graph it came from
    assert m["compile"]["compile_seconds"] > 0 and m["compile"]["load_ms"] > 0
    from resnet_opt.pipeline.evaluate import evaluate_path

    assert (
        abs(
            evaluate_path(EvalConfig(pt2_artifacts.int8, "digits")).top1
            - evaluate_path(EvalConfig(pt2_artifacts.fp32, "digits")).top1
        )
        <= 2.0
    )


# ------------------------------------------------------------------------------------------------ bad input
def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(folder: Path, fn) -> None:
    """Edit manifest.json as raw JSON (what a user or a broken tool could do)."""
    f = folder / "manifest.json"
    m = json.loads(f.read_text())
    fn(m)
    f.write_text(json.dumps(m))


def _set_file_hash(m: dict, name: str, sha: str, size: int) -> None:
    m["file_sha256"], m["file_size"] = sha, size
    for e in m.get("files") or []:
        if e.get("path") == name:
            e["sha256"], e["size"] = sha, size


def test_corrupted_package_gives_one_error_line(pt2_artifacts, tmp_path):
    a = _copy(pt2_artifacts.fp32, tmp_path / "trunc")
    f = a / "model.pt2"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
    one_line_error(runner.invoke(app, ["eval", "--model", str(a)]), "modified or truncated")
    # a corrupt file whose manifest matches it (no sha256 guard): the loader's own failure, still one line
    from resnet_opt.core.artifact import sha256_file

    _edit_manifest(a, lambda m: _set_file_hash(m, "model.pt2", sha256_file(f), f.stat().st_size))
    line = one_line_error(runner.invoke(app, ["eval", "--model", str(a)]), "not a loadable .pt2 package")
    assert "model.pt2" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_cuda_is_refused_cleanly_without_a_gpu(pt2_artifacts, tmp_path):
    from resnet_opt.core.errors import BackendUnavailableError
    from resnet_opt.runtime import load

    one_line_error(runner.invoke(app, ["export", "pt2", "--depth", "18", "--input-size", "32", "--device", "cuda",
                                       "--out", str(tmp_path / "x")]), "GPU")
    assert not (tmp_path / "x").exists()
    with pytest.raises(BackendUnavailableError, match="compiled for cpu"):
        load(pt2_artifacts.fp32, provider="cuda")
    a = _copy(pt2_artifacts.fp32, tmp_path / "cuda-pkg")
    _edit_manifest(a, lambda m: m["compile"].update(device="cuda"))
    with pytest.raises(BackendUnavailableError, match="compiled for cuda"):
        load(a)
    with pytest.raises(BackendUnavailableError, match="no GPU"):
        load(a, provider="auto")


def test_package_from_a_cpu_with_more_instruction_sets_is_refused(pt2_artifacts, tmp_path):
    from resnet_opt.core.env import cpu_info
    from resnet_opt.core.errors import BackendUnavailableError
    from resnet_opt.runtime import load

    lacking = [f for f, v in cpu_info()["flags"].items() if not v]
    if not lacking:
        pytest.skip("this CPU has every instruction set we track")
    a = _copy(pt2_artifacts.fp32, tmp_path / "avx512")
    _edit_manifest(a, lambda m: m["cpu"]["flags"].update({lacking[0]: True}))
    with pytest.raises(BackendUnavailableError, match=lacking[0]):
        load(a)


@pytest.mark.parametrize("args,msg", [
    (["--device", "tpu"], "Invalid value for '--device'"),
    (["--input-size", "4"], "at least 8"),
])
def test_export_pt2_bad_options(tmp_path, args, msg):
    one_line_error(runner.invoke(app, ["export", "pt2", "--depth", "18", "--out", str(tmp_path / "o")] + args), msg)
    assert not (tmp_path / "o").exists()


def test_quantize_torch_target_rejects_onnx_only_options():
    from resnet_opt.core.errors import ConfigError
    from resnet_opt.pipeline.quantize import QuantizeConfig

    with pytest.raises(ConfigError, match="PT2E"):
        QuantizeConfig(target="torch", method="entropy").validate()
    with pytest.raises(ConfigError, match="per-channel"):
        QuantizeConfig(target="torch", per_channel=False).validate()
    QuantizeConfig(target="torchscript-fx").validate()


def test_pipeline_config_pt2_switches(tmp_path):
    from resnet_opt.core.errors import ConfigError
    from resnet_opt.pipeline.pipeline import PipelineConfig

    cfg = PipelineConfig(out=tmp_path)
    assert cfg.pt2 and cfg.torch_int8 and cfg.torch_int8_target == "torch"  # the .pt2 stages are on by default
    with pytest.raises(ConfigError, match="torchscript-fx"):
        PipelineConfig(out=tmp_path, torch_int8_target="tflite").validate()


def test_static_batch_package_runs_other_batch_sizes_in_chunks(tmp_path):
    """`export pt2 --batch 1`: a package compiled for one batch size (benchmarks/results/pt2_cpu.md); the manifest
    records the compiled size and the runtime runs any batch in chunks of it."""
    from typer.testing import CliRunner

    from resnet_opt.cli import app
    from resnet_opt.runtime import load

    out = tmp_path / "s1"
    r = CliRunner().invoke(app, ["export", "pt2", "--depth", "18", "--num-classes", "10", "--input-size", "16",
                                 "--batch", "1", "--count", "3", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["input"]["shape"] == [-1, 3, 16, 16] and m["export"]["dynamic_batch"] is False
    assert m["export"]["batch_sizes"] == [1] == m["compile"]["batch_sizes"]
    assert m["validation"]["batch_sizes"] == [1, 3] and m["validation"]["passed"]
    pred = load(out)
    assert pred.batch_sizes == (1,) and pred.static_batch is None
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    together = pred.logits(x)
    one_by_one = torch.cat([pred.logits(x[i:i + 1]) for i in range(3)])
    assert together.shape == (3, 10) and torch.allclose(together, one_by_one)
    # AOTInductor's own default loader must not find a model that would answer 1 row for a batch of 3
    with pytest.raises(Exception, match="Available models:\nbatch1"):
        torch._inductor.aoti_load_package(str(out / "model.pt2"))
    bad = CliRunner().invoke(app, ["export", "pt2", "--depth", "18", "--batch", "0", "--out", str(tmp_path / "b")])
    assert bad.exit_code != 0 and "--batch" in bad.stderr and not (tmp_path / "b").exists()


def test_bad_batch_option_is_refused_before_work(tmp_path):
    from typer.testing import CliRunner

    from resnet_opt.cli import app

    for bad, says in (("x", "--batch takes batch sizes"), ("1,0", "--batch sizes must be"), ("", "--batch takes")):
        r = CliRunner().invoke(app, ["export", "pt2", "--depth", "18", "--batch", bad, "--out", str(tmp_path / "b")])
        assert r.exit_code != 0 and says in r.stderr and not (tmp_path / "b").exists(), (bad, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")


# ------------------------------------------------------------------------------------------------ multi-batch packages
from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), sizes=st.lists(st.integers(1, 64), min_size=1, max_size=4))
def test_plan_chunks_covers_the_batch_exactly(n, sizes):
    from resnet_opt.export.pt2_export import plan_chunks

    plan = plan_chunks(n, sizes)
    pos = 0
    for start, count, size in plan:
        assert start == pos and 1 <= count <= size and size in sizes
        pos += count
    assert pos == n
    assert sum(1 for _, c, s in plan if c < s) <= 1  # at most one padded chunk (the last)
    if n in sizes:
        assert plan == [(0, n, n)]


def test_plan_chunks_pads_a_large_remainder_and_splits_a_small_one():
    from resnet_opt.export.pt2_export import plan_chunks

    assert plan_chunks(7, (1, 8)) == [(0, 7, 8)]  # one padded batch-8 call beats seven batch-1 calls
    assert plan_chunks(3, (1, 8)) == [(0, 1, 1), (1, 1, 1), (2, 1, 1)]
    assert plan_chunks(20, (1, 8)) == [(0, 8, 8), (8, 8, 8), (16, 1, 1), (17, 1, 1), (18, 1, 1), (19, 1, 1)]
    assert plan_chunks(5, (8,)) == [(0, 5, 8)]


class _Fake:
    """A static model that answers ONE row whatever it is fed (what AOTInductor does for a batch it was not
    compiled for), or the right number of rows."""

    def __init__(self, batch: int, honest: bool = True):
        self.batch, self.honest, self.seen = batch, honest, []

    def __call__(self, x):
        self.seen.append(int(x.shape[0]))
        rows = x.shape[0] if self.honest else 1
        return [x.flatten(1)[:rows, :4] * self.batch]


def test_package_dispatch_uses_each_size_and_checks_the_answer_shape():
    from resnet_opt.core.errors import ExportError
    from resnet_opt.export.pt2_export import Pt2Package

    m1, m8 = _Fake(1), _Fake(8)
    pkg = Pt2Package({1: m1, 8: m8})
    x = torch.arange(11 * 3 * 2 * 2, dtype=torch.float32).reshape(11, 3, 2, 2)
    y = pkg(x)
    assert y.shape == (11, 4) and m8.seen == [8] and m1.seen == [1, 1, 1]
    assert torch.equal(y[:8], x.flatten(1)[:8, :4] * 8) and torch.equal(y[8:], x.flatten(1)[8:, :4])
    assert pkg(x[:8]).shape == (8, 4) and pkg(x[:6]).shape == (6, 4) and m8.seen[-1] == 8  # 6 ran padded to 8
    liar = Pt2Package({8: _Fake(8, honest=False)}, name="liar.pt2")
    with pytest.raises(ExportError, match="answered 1 rows for a batch of 8"):
        liar(x[:8])
    with pytest.raises(ExportError, match="mixes"):
        Pt2Package({None: m1, 8: m8})


def test_runtime_refuses_a_manifest_whose_batch_sizes_disagree_with_the_package(pt2_artifacts, tmp_path):
    import shutil

    from resnet_opt.core.errors import ArtifactError
    from resnet_opt.core.manifest import Manifest, write_manifest
    from resnet_opt.runtime import load

    art = tmp_path / "a"
    shutil.copytree(pt2_artifacts.fp32, art)
    m = json.loads((art / "manifest.json").read_text())
    m["compile"]["batch_sizes"] = [1, 4]
    write_manifest(art, Manifest.from_dict(m))
    with pytest.raises(ArtifactError, match=r"batch sizes \[1, 4\]"):
        load(art)


def test_int8_package_is_multi_batch_and_validated_at_each_size(pt2_artifacts):
    m = json.loads((pt2_artifacts.int8 / "manifest.json").read_text())
    assert m["compile"]["batch_sizes"] == [1, 8] and m["compile"]["models"] == {"batch1": 1, "batch8": 8}
    from resnet_opt.runtime import load

    pred = load(pt2_artifacts.int8)
    assert pred.batch_sizes == (1, 8)
    x = torch.randn(10, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    y = pred.logits(x)
    assert y.shape == (10, 10)
    # the batch-8 and batch-1 models are compiled separately: the same images, the same answers
    assert torch.equal(y.argmax(1)[:2], pred.logits(x[:2]).argmax(1))


def test_triton_python_backend_batches_at_the_package_sizes(pt2_artifacts, tmp_path):
    """`export triton --backend python` of a multi-batch .pt2: the dynamic batcher prefers the compiled sizes."""
    from resnet_opt.cli import app

    out = tmp_path / "repo"
    r = CliRunner().invoke(app, ["export", "triton", "--model", str(pt2_artifacts.int8), "--backend", "python", "--out",
                                 str(out), "--name", "r18"])
    assert r.exit_code == 0, r.output
    cfg = (out / "r18" / "config.pbtxt").read_text()
    assert "preferred_batch_size: [ 1, 8 ]" in cfg.replace("[1, 8]", "[ 1, 8 ]"), cfg
