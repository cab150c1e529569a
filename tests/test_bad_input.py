"""Bad input through the CLI, in-process: a table of hostile or nonsensical command lines.

Every case must: exit non-zero, print exactly one stderr line and that line starts with ``error:``, print no
traceback, and leave nothing new behind (neither in the output location nor beside the shared fixtures). Nearly all
cases fail in a config's ``validate()`` before any model work, so the whole table runs in seconds.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from resnet_opt.cli import app
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.export import ExportConfig

runner = CliRunner()

MARKER = "pwned.txt"  # a pickle that would create this file if it were ever executed


class _Evil:
    """Unpickling this calls ``open(path, "w")``: a stand-in for arbitrary code in a hostile .pt file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _model_folder(path: Path, num_classes: int = 10, size: int = 32) -> Path:
    from resnet_opt.data import digits_preprocessing
    from resnet_opt.resnet import ResNet, save_model

    torch.manual_seed(0)
    save_model(ResNet(18, num_classes=num_classes), path, input_size=size,
               preprocessing=digits_preprocessing(size).to_dict(),
               class_names=[str(i) for i in range(num_classes)], extra={"data": f"digits:{size}"})
    return path


def _edit_config(src: Path, dst: Path, **changes) -> Path:
    import shutil

    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, str]:
    """Small shared fixtures: model folders (good and malformed), an ONNX artifact, hostile files, images."""
    from PIL import Image

    root = tmp_path_factory.mktemp("badinput")
    f: dict[str, Path] = {"ROOT": root}
    f["MODEL"] = _model_folder(root / "model")
    f["MODEL5"] = _model_folder(root / "model5", num_classes=5)
    f["BADDEPTH"] = _edit_config(f["MODEL"], root / "bad-depth", depth="abc")
    f["NEGSIZE"] = _edit_config(f["MODEL"], root / "neg-size", input_size=-5)
    f["ZEROSTD"] = _edit_config(f["MODEL"], root / "zero-std", preprocessing={"std": [0, 0, 0]})
    f["BADINTERP"] = _edit_config(f["MODEL"], root / "bad-interp", preprocessing={"interpolation": "lanczos9"})
    f["BADCLASSES"] = _edit_config(f["MODEL"], root / "bad-classes", num_classes="ten")
    f["NOWEIGHTS"] = _edit_config(f["MODEL"], root / "no-weights")
    (f["NOWEIGHTS"] / "model.safetensors").unlink()

    from resnet_opt.pipeline.export import export_artifact

    f["ONNX"] = root / "onnx"
    export_artifact(ExportConfig("onnx", out=f["ONNX"], count=2, source=ModelSpec(model_dir=f["MODEL"])))
    f["BADMANIFEST"] = root / "bad-manifest"
    f["BADMANIFEST"].mkdir()
    (f["BADMANIFEST"] / "manifest.json").write_text("{not json")
    f["ESCAPE"] = root / "escape"
    f["ESCAPE"].mkdir()
    m = json.loads((f["ONNX"] / "manifest.json").read_text())
    m["file"] = "../onnx/model.onnx"
    for entry in m.get("files") or []:
        entry["path"] = "../onnx/model.onnx"
    (f["ESCAPE"] / "manifest.json").write_text(json.dumps(m))

    # hostile pickles: a weights file and a training state whose unpickling would run code
    marker = str(root / MARKER)
    f["EVILPT"] = root / "evil.pt"
    torch.save({"conv1.weight": torch.zeros(1), "x": _Evil(marker)}, f["EVILPT"])
    f["EVILRUN"] = _model_folder(root / "evil-run")
    torch.save({"epoch": 1, "model": _Evil(marker)}, f["EVILRUN"] / "train_state.pt")
    f["RUN5"] = _model_folder(root / "run5")
    torch.save({"epoch": 5, "model": {}, "optimizer": {}, "scheduler": {}, "rng": torch.get_rng_state()},
               f["RUN5"] / "train_state.pt")
    f["BADSTATE"] = _model_folder(root / "bad-state")
    torch.save([1, 2, 3], f["BADSTATE"] / "train_state.pt")
    f["RAWPICKLE"] = root / "raw.pth"
    f["RAWPICKLE"].write_bytes(pickle.dumps(_Evil(marker)))
    f["W"] = root / "w.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), f["W"])

    # images: good, corrupt, truncated, empty, a decompression bomb, a folder
    f["IMG"] = root / "img.png"
    Image.new("L", (8, 8), 128).save(f["IMG"])
    f["CORRUPT"] = root / "corrupt.png"
    f["CORRUPT"].write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    f["TRUNC"] = root / "trunc.png"
    Image.effect_noise((64, 64), 50).save(f["TRUNC"])
    f["TRUNC"].write_bytes(f["TRUNC"].read_bytes()[:200])
    f["EMPTYIMG"] = root / "empty.png"
    f["EMPTYIMG"].write_bytes(b"")
    f["BOMB"] = root / "bomb.png"
    Image.new("1", (10000, 9500)).save(f["BOMB"])  # 95 M pixels, a few KB on disk
    f["BADIMGS"] = root / "bad-images"
    for cls in ("a", "b"):
        (f["BADIMGS"] / cls).mkdir(parents=True)
        (f["BADIMGS"] / cls / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    f["FILE"] = root / "a-file.txt"
    f["FILE"].write_text("a file where a folder is expected\n")
    f["FOREIGN"] = root / "users-folder"
    f["FOREIGN"].mkdir()
    (f["FOREIGN"] / "notes.txt").write_text("my notes: not a resnet-opt artifact\n")
    return {k: str(v) for k, v in f.items()}


def _needs_no_gpu():
    return pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: --device cuda is valid")


# (id, command line with {PLACEHOLDERS}, a word the error line must contain)
CASES: list[tuple[str, str, str]] = [
    # ---- models
    ("models-size-0", "models --input-size 0", "--input-size"),
    ("models-size-neg", "models --input-size -5", "--input-size"),
    ("models-size-huge", "models --input-size 100000", "--input-size"),
    ("models-classes-0", "models --num-classes 0", "--num-classes"),
    ("models-size-text", "models --input-size abc", "--input-size"),
    ("models-unknown-option", "models --bogus", "--bogus"),
    # ---- train
    ("train-lr-nan", "train --out {OUT} --lr nan", "--lr"),
    ("train-lr-inf", "train --out {OUT} --lr inf", "--lr"),
    ("train-lr-neg", "train --out {OUT} --lr -1", "--lr"),
    ("train-lr-zero", "train --out {OUT} --lr 0", "--lr"),
    ("train-wd-nan", "train --out {OUT} --weight-decay nan", "--weight-decay"),
    ("train-wd-neg", "train --out {OUT} --weight-decay -0.1", "--weight-decay"),
    ("train-warmup-nan", "train --out {OUT} --warmup-epochs nan", "--warmup-epochs"),
    ("train-warmup-neg", "train --out {OUT} --warmup-epochs -1", "--warmup-epochs"),
    ("train-warmup-over", "train --out {OUT} --epochs 2 --warmup-epochs 100", "--warmup-epochs"),
    ("train-smoothing-1", "train --out {OUT} --label-smoothing 1.0", "--label-smoothing"),
    ("train-smoothing-nan", "train --out {OUT} --label-smoothing nan", "--label-smoothing"),
    ("train-epochs-0", "train --out {OUT} --epochs 0", "--epochs"),
    ("train-epochs-neg", "train --out {OUT} --epochs -3", "--epochs"),
    ("train-epochs-text", "train --out {OUT} --epochs abc", "--epochs"),
    ("train-batch-0", "train --out {OUT} --batch-size 0", "--batch-size"),
    ("train-batch-huge", "train --out {OUT} --batch-size 10000000", "--batch-size"),
    ("train-optimizer", "train --out {OUT} --optimizer adam", "optimizer"),
    ("train-device-tpu", "train --out {OUT} --device tpu", "--device"),
    ("train-device-cuda", "train --out {OUT} --device cuda", "CUDA"),
    ("train-threads-huge", "train --out {OUT} --threads 100000", "--threads"),
    ("train-threads-0", "train --out {OUT} --threads 0", "--threads"),
    ("train-threads-neg", "train --out {OUT} --threads -1", "--threads"),
    ("train-seed-neg", "train --out {OUT} --seed -1", "--seed"),
    ("train-limit-0", "train --out {OUT} --limit 0", "--limit"),
    ("train-depth-19", "train --out {OUT} --depth 19", "depth"),
    ("train-depth-text", "train --out {OUT} --depth abc", "depth"),
    ("train-data-unknown", "train --out {OUT} --data nope", "data spec"),
    ("train-data-size-text", "train --out {OUT} --data digits:abc", "size"),
    ("train-data-size-small", "train --out {OUT} --data digits:4", "range"),
    ("train-data-missing-folder", "train --out {OUT} --data imagefolder:/nonexistent/x", "does not exist"),
    ("train-data-synthetic", "train --out {OUT} --data synthetic", "labels"),
    ("train-preset", "train --out {OUT} --preset v9", "preset"),
    ("train-weights-missing", "train --out {OUT} --weights /nonexistent/w.pth", "does not exist"),
    ("train-out-file", "train --out {FILE}", "not a folder"),
    ("train-out-under-file", "train --out {FILE}/run", "not a folder"),
    ("train-out-proc", "train --out /proc/resnet-opt-run", "does not accept new folders"),  # root: no EACCES there
    ("qat-out-proc", "qat --model {MODEL} --out /proc/resnet-opt-qat", "does not accept new folders"),
    ("train-out-dot", "train --out .", "current"),
    ("train-out-foreign", "train --out {FOREIGN}", "not empty"),
    ("train-out-existing-run", "train --out {MODEL}", "--overwrite"),
    ("train-overwrite-foreign", "train --out {FOREIGN} --overwrite", "did not write"),
    ("train-resume-nothing", "train --out {OUT} --resume", "nothing to resume"),
    ("train-resume-overwrite", "train --out {EVILRUN} --resume --overwrite", "not both"),
    ("train-resume-evil-pickle", "train --out {EVILRUN} --resume --epochs 2", "cannot resume"),
    ("train-resume-fewer-epochs", "train --out {RUN5} --resume --epochs 2", "5 epochs"),
    ("train-resume-not-a-state", "train --out {BADSTATE} --resume", "not a resnet-opt training state"),
    ("train-corrupt-image", "train --out {OUT} --data imagefolder:{BADIMGS} --epochs 1 --batch-size 2", "broken.jpg"),
    ("train-no-out", "train", "--out"),
    # ---- eval
    ("eval-missing", "eval --model {ROOT}/nope", "does not exist"),
    ("eval-file", "eval --model {FILE}", "file"),
    ("eval-size-mismatch", "eval --model {MODEL} --data digits:64", "32 px"),
    ("eval-onnx-size-mismatch", "eval --model {ONNX} --data digits:64", "32 px"),
    ("eval-imagefolder-classes", "eval --model {MODEL} --data imagefolder:{BADIMGS}", "classes"),
    ("eval-synthetic", "eval --model {MODEL} --data synthetic", "labels"),
    ("eval-split", "eval --model {MODEL} --split test", "split"),
    ("eval-batch-0", "eval --model {MODEL} --batch-size 0", "--batch-size"),
    ("eval-limit-0", "eval --model {MODEL} --limit 0", "--limit"),
    ("eval-provider", "eval --model {MODEL} --provider tpu", "provider"),
    ("eval-threads-huge", "eval --model {MODEL} --threads 100000", "--threads"),
    ("eval-no-weights", "eval --model {NOWEIGHTS}", "model.safetensors"),
    ("eval-config-depth-text", "eval --model {BADDEPTH}", "depth"),
    ("eval-config-neg-size", "eval --model {NEGSIZE}", "input_size"),
    ("eval-config-zero-std", "eval --model {ZEROSTD}", "std"),
    ("eval-config-interp", "eval --model {BADINTERP}", "interpolation"),
    ("eval-config-classes-text", "eval --model {BADCLASSES}", "num_classes"),
    ("eval-manifest-not-json", "eval --model {BADMANIFEST}", "JSON"),
    ("eval-manifest-escape", "eval --model {ESCAPE}", "outside the artifact folder"),
    ("eval-class-mismatch", "eval --model {MODEL5}", "classes"),
    # ---- predict
    ("predict-missing-artifact", "predict {ROOT}/nope {IMG}", "does not exist"),
    ("predict-missing-image", "predict {MODEL} {ROOT}/nope.png", "does not exist"),
    ("predict-corrupt-image", "predict {MODEL} {CORRUPT}", "corrupt.png"),
    ("predict-truncated-image", "predict {MODEL} {TRUNC}", "trunc.png"),
    ("predict-empty-image", "predict {MODEL} {EMPTYIMG}", "empty.png"),
    ("predict-bomb", "predict {MODEL} {BOMB}", "pixels"),
    ("predict-folder-without-images", "predict {MODEL} {FOREIGN}", "no images"),
    ("predict-top-k-0", "predict {MODEL} {IMG} --top-k 0", "--top-k"),
    ("predict-threads-huge", "predict {MODEL} {IMG} --threads 3000", "--threads"),
    ("predict-provider", "predict {MODEL} {IMG} --provider tpu", "provider"),
    ("predict-no-images", "predict {MODEL}", "IMAGES"),
    # ---- export
    ("export-atol-nan", "export onnx --out {OUT} --depth 18 --atol nan", "--atol"),
    ("export-rtol-nan", "export onnx --out {OUT} --depth 18 --rtol nan", "--rtol"),
    ("export-atol-neg", "export onnx --out {OUT} --depth 18 --atol -1", "--atol"),
    ("export-atol-inf", "export onnx --out {OUT} --depth 18 --atol inf", "--atol"),
    ("export-agreement-101", "export onnx --out {OUT} --depth 18 --min-agreement 101", "agreement"),
    ("export-size-0", "export onnx --out {OUT} --depth 18 --input-size 0", "--input-size"),
    ("export-size-huge", "export onnx --out {OUT} --depth 18 --input-size 100000", "--input-size"),
    ("export-opset", "export onnx --out {OUT} --depth 18 --opset 5", "opset"),
    ("export-count-0", "export onnx --out {OUT} --depth 18 --count 0", "--count"),
    ("export-classes-0", "export onnx --out {OUT} --depth 18 --num-classes 0", "--num-classes"),
    ("export-out-dot", "export onnx --out . --depth 18", "current"),
    ("export-out-dotdot", "export onnx --out .. --depth 18", "folder"),
    ("export-out-foreign", "export onnx --out {FOREIGN} --depth 18", "not empty"),
    ("export-out-foreign-overwrite", "export onnx --out {FOREIGN} --depth 18 --overwrite", "did not write"),
    ("export-out-existing", "export onnx --out {ONNX} --depth 18", "--overwrite"),
    ("export-out-file", "export onnx --out {FILE} --depth 18", "not a folder"),
    ("export-classes-mismatch", "export onnx --out {OUT} --model {MODEL} --num-classes 7", "--num-classes"),
    ("export-model-and-weights", "export onnx --out {OUT} --model {MODEL} --weights {W}", "not both"),
    ("export-evil-weights", "export onnx --out {OUT} --weights {EVILPT}", "weights_only"),
    ("export-raw-pickle", "export onnx --out {OUT} --weights {RAWPICKLE}", "raw.pth"),
    ("export-provider", "export onnx --out {OUT} --depth 18 --provider tpu", "provider"),
    ("export-data-bad", "export onnx --out {OUT} --depth 18 --data digits:abc", "size"),
    ("export-config-depth-text", "export onnx --out {OUT} --model {BADDEPTH}", "depth"),
    ("export-ts-fp16", "export torchscript --out {OUT} --depth 18 --fp16", "FP16"),
    ("export-ts-optimize", "export torchscript --out {OUT} --depth 18 --optimize maybe", "--optimize"),
    ("export-ts-threads", "export torchscript --out {OUT} --depth 18 --threads 100000", "--threads"),
    ("export-unknown-format", "export tflite --out {OUT}", "tflite"),
    # ---- fuse
    ("fuse-classes-0", "fuse --out {OUT} --depth 18 --num-classes 0", "--num-classes"),
    ("fuse-classes-mismatch", "fuse --out {OUT} --model {MODEL} --num-classes 7", "--num-classes"),
    ("fuse-out-foreign", "fuse --out {FOREIGN} --depth 18", "not empty"),
    ("fuse-out-foreign-overwrite", "fuse --out {FOREIGN} --depth 18 --overwrite", "did not write"),
    ("fuse-out-existing-model", "fuse --out {MODEL5} --depth 18", "--overwrite"),
    ("fuse-model-missing", "fuse --out {OUT} --model {ROOT}/nope", "does not exist"),
    ("fuse-evil-weights", "fuse --out {OUT} --weights {EVILPT}", "weights_only"),
    ("fuse-config-neg-size", "fuse --out {OUT} --model {NEGSIZE}", "input_size"),
    # ---- prune
    ("prune-size-0", "prune --out {OUT} --depth 18 --ratio 0.5 --input-size 0", "--input-size"),
    ("prune-ratio-0", "prune --out {OUT} --depth 18 --ratio 0", "--ratio"),
    ("prune-ratio-big", "prune --out {OUT} --depth 18 --ratio 1.5", "--ratio"),
    ("prune-ratio-nan", "prune --out {OUT} --depth 18 --ratio nan", "--ratio"),
    ("prune-no-ratio", "prune --out {OUT} --depth 18", "--ratio"),
    ("prune-ratio-and-macs", "prune --out {OUT} --depth 18 --ratio 0.5 --target-macs 1G", "--ratio"),
    ("prune-macs-text", "prune --out {OUT} --depth 18 --target-macs lots", "MACs"),
    ("prune-importance", "prune --out {OUT} --depth 18 --ratio 0.5 --importance random", "importance"),
    ("prune-round-to-0", "prune --out {OUT} --depth 18 --ratio 0.5 --round-to 0", "--round-to"),
    ("prune-steps-0", "prune --out {OUT} --depth 18 --ratio 0.5 --iterative-steps 0", "--iterative-steps"),
    ("prune-finetune-no-data", "prune --out {OUT} --depth 18 --ratio 0.5 --finetune-epochs 1", "--data"),
    ("prune-distill-no-finetune", "prune --out {OUT} --depth 18 --ratio 0.5 --distill", "--distill"),
    ("prune-lr-nan", "prune --out {OUT} --depth 18 --ratio 0.5 --finetune-epochs 1 --data digits --lr nan", "--lr"),
    ("prune-batch-0", "prune --out {OUT} --depth 18 --ratio 0.5 --batch-size 0", "--batch-size"),
    ("prune-latency-0", "prune --out {OUT} --depth 18 --ratio 0.5 --latency-runs 0", "--latency-runs"),
    ("prune-device", "prune --out {OUT} --depth 18 --ratio 0.5 --device tpu", "--device"),
    ("prune-data-size", "prune --out {OUT} --model {MODEL} --ratio 0.5 --data digits:64", "32 px"),
    ("prune-out-file", "prune --out {FILE} --depth 18 --ratio 0.5", "not a folder"),
    ("prune-taylor-no-data", "prune --out {OUT} --depth 18 --ratio 0.5 --importance taylor", "--data"),
    # ---- quantize
    ("quantize-data-size", "quantize --out {OUT} --model {MODEL} --data digits:64", "32 px"),
    ("quantize-imagefolder-size", "quantize --out {OUT} --model {MODEL} --data imagefolder:{BADIMGS}", "224 px"),
    ("quantize-synthetic-size", "quantize --out {OUT} --model {MODEL} --data synthetic:224", "32 px"),
    ("quantize-calib-0", "quantize --out {OUT} --depth 18 --calib-size 0", "--calib-size"),
    ("quantize-target", "quantize --out {OUT} --depth 18 --target tpu", "target"),
    ("quantize-method", "quantize --out {OUT} --depth 18 --method magic", "method"),
    ("quantize-drop-nan", "quantize --out {OUT} --depth 18 --max-accuracy-drop nan", "--max-accuracy-drop"),
    ("quantize-agreement-nan", "quantize --out {OUT} --depth 18 --min-agreement nan", "--min-agreement"),
    ("quantize-latency-0", "quantize --out {OUT} --depth 18 --latency-runs 0", "--latency-runs"),
    ("quantize-threads-huge", "quantize --out {OUT} --depth 18 --threads 100000", "--threads"),
    ("quantize-reduce-range", "quantize --out {OUT} --depth 18 --reduce-range maybe", "--reduce-range"),
    ("quantize-activation", "quantize --out {OUT} --depth 18 --activation-type int4", "activation"),
    ("quantize-out-foreign", "quantize --out {FOREIGN} --model {MODEL}", "not empty"),
    ("quantize-out-file", "quantize --out {FILE} --model {MODEL}", "not a folder"),
    ("quantize-model-and-weights", "quantize --out {OUT} --model {MODEL} --weights {W}", "not both"),
    ("quantize-class-mismatch", "quantize --out {OUT} --model {MODEL5} --data digits", "classes"),
    ("quantize-latency-text", "quantize --out {OUT} --depth 18 --latency-runs x", "--latency-runs"),
    # ---- bench
    ("bench-budget-nan", "bench --report {OUT} --depth 18 --time-budget nan", "--time-budget"),
    ("bench-budget-0", "bench --report {OUT} --depth 18 --time-budget 0", "--time-budget"),
    ("bench-batch-0", "bench --report {OUT} --depth 18 --batch-sizes 0", "batch size"),
    ("bench-batch-text", "bench --report {OUT} --depth 18 --batch-sizes a,b", "batch size"),
    ("bench-threads-huge", "bench --report {OUT} --depth 18 --threads 100000", "--threads"),
    ("bench-iterations-0", "bench --report {OUT} --depth 18 --iterations 0", "iterations"),
    ("bench-warmup-neg", "bench --report {OUT} --depth 18 --warmup -1", "warm-up"),
    ("bench-size-0", "bench --report {OUT} --depth 18 --input-size 0", "--input-size"),
    ("bench-classes-0", "bench --report {OUT} --depth 18 --num-classes 0", "--num-classes"),
    ("bench-backend", "bench --report {OUT} --depth 18 --backends tpu", "tpu"),
    ("bench-report-file", "bench --report {FILE} --depth 18", "not a folder"),
    ("bench-nothing", "bench --report {OUT}", "nothing to benchmark"),
    ("bench-missing-artifact", "bench --report {OUT} {ROOT}/nope", "nope"),
    # ---- pipeline
    ("pipeline-prune-big", "pipeline --out {OUT} --prune 1.5", "--prune"),
    ("pipeline-budget-nan", "pipeline --out {OUT} --time-budget nan", "--time-budget"),
    ("pipeline-epochs-neg", "pipeline --out {OUT} --epochs -1", "--epochs"),
    ("pipeline-threads-huge", "pipeline --out {OUT} --threads 100000", "--threads"),
    ("pipeline-calib-0", "pipeline --out {OUT} --calib-size 0", "--calib-size"),
    ("pipeline-synthetic", "pipeline --out {OUT} --data synthetic", "labels"),
    ("pipeline-out-foreign", "pipeline --out {FOREIGN}", "not empty"),
    ("pipeline-out-file", "pipeline --out {FILE}", "not a folder"),
    ("pipeline-model-and-weights", "pipeline --out {OUT} --model {MODEL} --weights {W}", "not both"),
    ("pipeline-distill", "pipeline --out {OUT} --distill", "--distill"),
    ("pipeline-model-missing", "pipeline --out {OUT} --model {ROOT}/nope", "does not exist"),
    ("pipeline-model-is-onnx", "pipeline --out {OUT} --model {ONNX}", "not a model folder"),
    ("pipeline-out-proc", "pipeline --out /proc/resnet-opt-x", "/proc"),
    # ---- usage errors and --debug placement
    ("usage-unknown-command", "nosuchcommand", "nosuchcommand"),
    ("usage-unknown-option", "train --out {OUT} --bogus", "--bogus"),
    ("usage-missing-argument", "export onnx --depth 18", "--out"),
]


def _snapshot(*roots: Path) -> set[str]:
    out: set[str] = set()
    for r in roots:
        for dirpath, dirnames, filenames in os.walk(r):
            for n in dirnames + filenames:
                out.add(os.path.join(dirpath, n))
    return out


@pytest.mark.parametrize("case_id,cmd,needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line(case_id, cmd, needle, fx, tmp_path, monkeypatch):
    if case_id == "train-device-cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    if case_id == "train-out-unwritable" and os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = cmd.format(OUT=str(tmp_path / "out"), **fx).split()
    before = _snapshot(tmp_path, Path(fx["ROOT"]))
    res = runner.invoke(app, args)
    err_lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code not in (0, None), res.output
    assert "Traceback" not in res.output, res.output
    assert len(err_lines) == 1 and err_lines[0].startswith("error: "), res.stderr
    assert needle.lower() in err_lines[0].lower(), err_lines[0]
    assert _snapshot(tmp_path, Path(fx["ROOT"])) == before, "something was left behind"
    assert not (Path(fx["ROOT"]) / MARKER).exists(), "a pickle was executed"


def test_table_is_large_enough():
    assert len({c[0] for c in CASES}) == len(CASES) >= 100


def test_unwritable_out_found_before_work(fx, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        for cmd in (["train", "--out", str(ro / "run")], ["fuse", "--out", str(ro / "f"), "--depth", "18"],
                    ["quantize", "--out", str(ro / "q"), "--depth", "18"]):
            res = runner.invoke(app, cmd)
            assert res.exit_code == 2 and res.stderr.strip().startswith("error: ") and "writable" in res.stderr
            assert not any(ro.iterdir())
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_accepted_anywhere(where):
    args = ["models", "--input-size", "0"]
    args = ["--debug"] + args if where == "before" else args + ["--debug"]
    res = runner.invoke(app, args)
    assert res.exit_code != 0
    from resnet_opt.core.errors import ConfigError

    assert isinstance(res.exception, ConfigError)  # --debug re-raises: the traceback is shown


def test_internal_error_is_distinct(monkeypatch):
    """A bug (not bad input) prints one ``internal error:`` line with the --debug hint and exits 70."""
    import resnet_opt.pipeline.info as info

    def boom(**_kw):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(info, "model_table", boom)
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 70
    lines = res.stderr.strip().splitlines()
    assert lines == ["internal error: ZeroDivisionError: a bug (rerun with --debug for the traceback)"]


def test_overwrite_replaces_own_artifact_only(fx, tmp_path):
    """--overwrite replaces a folder resnet-opt wrote; without it an existing artifact is refused."""
    out = tmp_path / "fused"
    ok = runner.invoke(app, ["fuse", "--out", str(out), "--model", fx["MODEL"]])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(app, ["fuse", "--out", str(out), "--model", fx["MODEL"]])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    first = (out / "config.json").stat().st_mtime_ns
    rep = runner.invoke(app, ["fuse", "--out", str(out), "--model", fx["MODEL"], "--overwrite"])
    assert rep.exit_code == 0, rep.output
    assert (out / "config.json").stat().st_mtime_ns >= first
    assert [p.name for p in tmp_path.iterdir()] == ["fused"]  # no temporary or .old folders left


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where the cuda backend is skipped")
def test_bench_nothing_measured_exits_non_zero(tmp_path):
    res = runner.invoke(app, ["bench", "--report", str(tmp_path / "r"), "--depth", "18", "--input-size", "32",
                              "--backends", "cuda", "--iterations", "1", "--warmup", "0"])
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: nothing was measured"), res.stderr
    assert not (tmp_path / "r").exists()  # no report folder left behind for a run that measured nothing


def test_safetensors_weights_follow_umask(tmp_path):
    import stat

    old = os.umask(0o022)
    try:
        f = _model_folder(tmp_path / "m") / "model.safetensors"
        assert stat.S_IMODE(f.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_skip_bad_images_is_opt_in_with_a_warning_and_a_count(tmp_path):
    """A corrupt image inside an image folder is an error naming the file; with --skip-bad-images (anywhere on the
    command line) it is skipped, with one warning line giving the count, and the readable images are used."""
    from PIL import Image

    from resnet_opt.resnet import ResNet, save_model

    root = tmp_path / "imgs"
    for i, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        Image.new("RGB", (40, 40), (200 * i, 50, 90)).save(root / cls / "good.png")
        (root / cls / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    model = tmp_path / "m2"
    torch.manual_seed(0)
    save_model(ResNet(18, num_classes=2), model, input_size=224, preprocessing="v1", class_names=["a", "b"])
    args = ["eval", "--model", str(model), "--data", f"imagefolder:{root}", "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code != 0 and "broken.jpg" in r.stderr and "Traceback" not in r.output
    r = runner.invoke(app, args + ["--skip-bad-images"])
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "skipped 2 unreadable image(s) of 4" in warn[0] and "broken.jpg" in warn[0], r.stderr
    assert json.loads(r.stdout)["count"] == 2
    assert "RESNET_OPT_SKIP_BAD_IMAGES" not in os.environ  # the flag held for that command only
    r = runner.invoke(app, args)
    assert r.exit_code != 0 and "broken.jpg" in r.stderr
