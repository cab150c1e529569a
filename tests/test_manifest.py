"""The typed manifest: round trips, version and field errors, the published JSON Schema, the opener's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_opt.core.errors import ArtifactError
from resnet_opt.core.manifest import (
    KINDS, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, ManifestError, manifest_json_schema, open_artifact, read_manifest,
    write_manifest, CompileSection, ExportSection,
)

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "manifest.schema.json"


def _onnx_folder(tmp_path: Path, **extra) -> Path:
    f = tmp_path / "a"
    f.mkdir()
    (f / "model.onnx").write_bytes(b"not really onnx, but bytes to hash")
    write_manifest(f, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model.onnx", "precision": "fp32",
                       "input": {"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float32"},
                       "output": {"name": "logits", "shape": [-1, 10], "dtype": "float32"},
                       "preprocessing": {"resize": 32, "crop": 32}, "export": {"opset": 17}, **extra}))
    return f


def test_published_schema_matches_the_dataclass():
    assert json.loads(SCHEMA.read_text()) == manifest_json_schema(), \
        "docs/manifest.schema.json is stale: regenerate it with manifest_json_schema()"
    assert set(manifest_json_schema()["properties"]["kind"]["enum"]) == set(KINDS)


def test_write_fills_hashes_and_round_trips(tmp_path):
    f = _onnx_folder(tmp_path)
    data = json.loads((f / "manifest.json").read_text())
    assert data["format_version"] == MANIFEST_VERSION and data["files"][0]["sha256"] == data["file_sha256"]
    assert data["files"][0]["size"] == (f / "model.onnx").stat().st_size and data["export"] == {"opset": 17}
    m = Manifest.from_dict(data)
    assert m.to_dict() == data and m.input_size == 32 and m.num_classes == 10 and m.file == "model.onnx"
    assert read_manifest(f) == data


def test_version_one_manifests_still_open(tmp_path):
    f = tmp_path / "v1"
    f.mkdir()
    (f / "model.ts").write_bytes(b"x" * 10)
    (f / "manifest.json").write_text(json.dumps({"format": "resnet-opt-artifact", "format_version": 1,
                                                 "kind": "torchscript", "file": "model.ts", "precision": "int8"}))
    art = open_artifact(f)
    assert art.kind == "torchscript" and art.model_file == f / "model.ts" and art.manifest.precision == "int8"


@pytest.mark.parametrize("field,value,needle", [
    ("format_version", 99, "format_version"),
    ("kind", "tensorrt-plan", "unknown artifact kind"),
    ("precision", "int3", "precision"),
    ("input", {"shape": [1, 3, 0, 32]}, "input"),
    ("input", {"shape": "big"}, "input"),
    ("class_names", [1, 2], "class_names"),
    ("class_names", ["a", "b"], "class_names"),  # 2 names for 10 classes
    ("preprocessing", {"crop": -3}, "preprocessing.crop"),
    ("preprocessing", {"std": [0, 1, 1]}, "preprocessing.std"),
    ("file", "../../etc/passwd", "outside"),
    ("architecture", [], "architecture"),
])
def test_bad_fields_are_named(tmp_path, field, value, needle):
    f = _onnx_folder(tmp_path)
    data = json.loads((f / "manifest.json").read_text())
    data[field] = value
    if field == "file":
        data.pop("files")
    (f / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        open_artifact(f)


def test_opener_checks_every_file(tmp_path):
    f = _onnx_folder(tmp_path)
    (f / "model.onnx").write_bytes(b"not really onnx, but bytes to hasH")  # same size, other content
    with pytest.raises(ArtifactError, match="sha256"):
        open_artifact(f)
    assert open_artifact(f, verify=False).kind == "onnx"
    (f / "model.onnx").write_bytes(b"short")
    with pytest.raises(ArtifactError, match="bytes"):
        open_artifact(f)


def test_opener_refuses_symlinks_out_of_the_folder(tmp_path):
    f = _onnx_folder(tmp_path)
    outside = tmp_path / "outside.onnx"
    outside.write_bytes((f / "model.onnx").read_bytes())
    (f / "model.onnx").unlink()
    (f / "model.onnx").symlink_to(outside)
    with pytest.raises(ArtifactError, match="outside the artifact folder"):
        open_artifact(f)


def test_not_an_artifact(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        open_artifact(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArtifactError, match="is a file"):
        open_artifact(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="not a resnet-opt artifact"):
        open_artifact(tmp_path / "empty")


def test_legacy_file_hash_that_disagrees_with_files_is_refused():
    """The top-level file_sha256 / file_size (kept for readers of version-1 manifests) are checked against files[0]."""
    from resnet_opt.core.manifest import Manifest, ManifestError

    good = {"format": "resnet-opt-artifact", "format_version": 2, "kind": "onnx", "file": "model.onnx",
            "files": [{"path": "model.onnx", "sha256": "a" * 64, "size": 10, "role": "model"}],
            "file_sha256": "a" * 64, "file_size": 10}
    assert Manifest.from_dict(good, where="m").files[0].sha256 == "a" * 64
    for key, bad in (("file_sha256", "b" * 64), ("file_size", 11)):
        with pytest.raises(ManifestError, match=f"field '{key}'.*disagrees with files\\[0\\]"):
            Manifest.from_dict({**good, key: bad}, where="m")


# ------------------------------------------------------------------------------------------------ typed constructors
def _arch():
    from resnet_opt.core.manifest import Architecture

    return Architecture(depth=18, num_classes=10, widths={}, fused=True, stem="imagenet")


def _pre():
    from resnet_opt.core.preprocessing import digits_preprocessing

    return digits_preprocessing(32)


def _source():
    from resnet_opt.core.manifest import Source

    return Source(kind="model_dir", path="runs/r18", sha256="0" * 64, architecture="resnet18", num_classes=10,
                  trained=True)


def _constructed() -> dict[str, Manifest]:
    from resnet_opt.core.manifest import FileEntry, Source, TensorSpec

    names = [str(i) for i in range(10)]
    export = Manifest.for_export(kind="onnx", file="model.onnx", precision="fp32", source=_source(),
                                 architecture=_arch(), input_shape=[-1, 3, 32, 32], output_shape=[-1, 10],
                                 preprocessing=_pre(), class_names=names,
                                 validation={"passed": True, "max_abs_diff": 1e-6, "atol": 1e-4},
                                 sections={"export": {"opset": 17}})
    quant = Manifest.for_quantized(kind="onnx", file="model_int8.onnx", stage="quantize", source=_source(),
                                   architecture=_arch(), input_size=32, preprocessing=_pre(), class_names=names,
                                   validation={"top1_agreement": 99.0, "fp32_top1": 98.0, "int8_top1": 97.5},
                                   measurements={"size_bytes": {"fp32": 4, "int8": 1}, "load_ms": 3.0},
                                   sections={"quantization": {"method": "minmax"}, "seconds": 1.5})
    qat = Manifest.for_quantized(kind="torchscript", file="model_int8.ts", stage="qat", source=_source(),
                                 architecture=_arch(), input_size=32, preprocessing=_pre(), class_names=None,
                                 validation={"int8_top1": 97.0}, measurements={"latency_ms": {"int8": 0.3}})
    folder = Manifest.for_model_folder(stage="prune", source=_source(), architecture=_arch(), input_size=32,
                                       preprocessing=_pre(), class_names=names,
                                       validation={"reload_identical": True},
                                       measurements={"before": {"macs": 2}, "after": {"macs": 1}},
                                       sections={"pruning": {"ratio": 0.5}})
    repo = Manifest.for_triton_repo(files=[FileEntry("m/1/model.onnx"), FileEntry("m/config.pbtxt", role="config")],
                                    precision="fp32", source=Source(artifact="/a", kind="onnx", file="model.onnx"),
                                    architecture=_arch(), input=TensorSpec("input", [-1, 3, 32, 32]),
                                    output=TensorSpec("logits", [-1, 10]), preprocessing=_pre(), class_names=names,
                                    versions={"torch": "2"}, triton={"name": "m", "platform": "onnxruntime_onnx"})
    return {"export": export, "quantize": quant, "qat": qat, "model": folder, "triton": repo}


@pytest.mark.parametrize("family", ["export", "quantize", "qat", "model", "triton"])
def test_each_constructor_round_trips(family):
    m = _constructed()[family]
    d = m.to_dict()
    assert Manifest.from_dict(d) == m and Manifest.from_dict(d).to_dict() == d
    assert json.loads(json.dumps(d)) == d  # plain JSON
    assert m.architecture.depth == 18 and m.num_classes == 10 and m.input_size == 32
    assert m.preprocessing == _pre() and m.source.kind in ("model_dir", "onnx")


def test_constructors_fill_the_family_fields():
    c = _constructed()
    assert (c["export"].stage, c["export"].precision, c["export"].file) == ("export", "fp32", "model.onnx")
    assert c["export"].validation.passed is True and c["export"].validation.extra == {"atol": 1e-4}
    assert c["export"].export == ExportSection(opset=17) and c["export"].export.opset == 17 and not c["export"].details
    assert (c["quantize"].precision, c["quantize"].stage, c["qat"].stage) == ("int8", "quantize", "qat")
    assert c["quantize"].measurements.load_ms == 3.0 and c["quantize"].validation.int8_top1 == 97.5
    assert [f.path for f in c["model"].files] == ["model.safetensors", "config.json"]
    assert c["model"].kind == "model" and c["model"].validation.reload_identical is True
    assert c["triton"].kind == "triton-repo" and c["triton"].details["triton"]["name"] == "m"


def test_constructor_refuses_a_malformed_section():
    with pytest.raises(ManifestError, match="preprocessing.std"):
        Manifest.for_model_folder(stage="prune", source=_source(), architecture=_arch(), input_size=32,
                                  preprocessing={"resize": 32, "crop": 32, "std": [0, 1, 1]}, class_names=None)
    with pytest.raises(ManifestError, match="source.trained"):
        Manifest.for_model_folder(stage="prune", source={"trained": "yes"}, architecture=_arch(), input_size=32,
                                  preprocessing=_pre(), class_names=None)


def test_unknown_section_keys_round_trip_in_extra():
    data = {"format": "resnet-opt-artifact", "format_version": 1, "kind": "onnx", "file": "m.onnx",
            "architecture": {"depth": 50, "num_classes": 1000, "groups": 32},
            "source": {"kind": "weights", "url": "https://example.org/w.pth"},
            "validation": {"passed": True, "checks": {"ran_precision": "bf16"}},
            "measurements": {"latency_ms": {"fp32": 1.0}, "energy_mj": 3}}
    m = Manifest.from_dict(data)
    assert m.architecture.extra == {"groups": 32} and m.source.extra == {"url": "https://example.org/w.pth"}
    assert m.validation["checks"]["ran_precision"] == "bf16" and m.measurements.extra == {"energy_mj": 3}
    out = m.to_dict()
    for key in ("architecture", "source", "validation", "measurements"):
        assert out[key] == data[key]


def test_write_manifest_takes_a_manifest_only(tmp_path):
    with pytest.raises(TypeError, match="takes a Manifest"):
        write_manifest(tmp_path, {"kind": "onnx"})  # type: ignore[arg-type]


def test_derive_copies_with_new_sections():
    m = _constructed()["export"]
    d = m.derive(sections={"optimize": {"chosen": "x"}, "compile": CompileSection(device="cpu")})
    assert d.details == {"optimize": {"chosen": "x"}} and d.architecture == m.architecture
    assert d.export.opset == 17 and d.compile.device == "cpu"
    assert not m.details and not m.compile  # the original is untouched


def test_stage_sections_are_typed_and_checked():
    """export / compile / quantization / openvino / pruning are typed fields: read from manifest.json, their known
    fields checked against their annotations (unknown keys kept in ``extra``), written back as they were."""
    data = {"format": "resnet-opt-artifact", "format_version": 2, "kind": "pt2", "file": "model.pt2",
            "export": {"format": "pt2", "dynamic_batch": False, "batch_sizes": [1, 8], "package_models": {"b1": 1}},
            "compile": {"device": "cpu", "batch_sizes": [1, 8], "compile_seconds": 12, "vec_isa": "avx512"},
            "quantization": {"target": "torch", "method": "histogram", "reduce_range": False, "qat": True},
            "finetune": {"epochs": 3}}
    m = Manifest.from_dict(data)
    assert m.export.batch_sizes == [1, 8] and m.export.extra == {"package_models": {"b1": 1}}
    assert m.compile.device == "cpu" and m.compile.compile_seconds == 12 and m.quantization.method == "histogram"
    assert m.quantization.extra == {"qat": True} and not m.openvino and not m.pruning
    assert m.details == {"finetune": {"epochs": 3}} and m.section("finetune") == {"epochs": 3}
    assert m.section("compile") is m.compile and m.section("openvino") is None
    out = m.to_dict()
    for key in ("export", "compile", "quantization", "finetune"):
        assert out[key] == data[key]
    assert "openvino" not in out and "pruning" not in out
    for section, bad in (("compile", {"device": 1}), ("export", {"opset": "17"}), ("export", {"dynamic_batch": 1}),
                         ("quantization", {"excluded_layers": "fc"}), ("pruning", {"ratio": True})):
        with pytest.raises(ManifestError, match=f"{section}.{next(iter(bad))}"):
            Manifest.from_dict({**data, section: bad})


# ------------------------------------------------------------------------------------------------ never guessed
def test_preprocessing_is_never_guessed():
    from resnet_opt.core.errors import DataError
    from resnet_opt.core.preprocessing import Preprocessing, PreprocessingError
    from resnet_opt.data import Preprocessing as DataPreprocessing

    assert DataPreprocessing is Preprocessing  # one type, re-exported by data/
    for missing in (None, {}):
        with pytest.raises(PreprocessingError, match="never guessed"):
            Preprocessing.from_dict(missing)
        assert Preprocessing.optional(missing) is None
    assert issubclass(PreprocessingError, DataError)
    assert Preprocessing.preset("v1").name == "imagenet-v1"  # a preset only when the caller names it
    with pytest.raises(PreprocessingError, match="unknown preprocessing preset"):
        Preprocessing.preset("v3")
    m = Manifest.from_dict({"format": "resnet-opt-artifact", "kind": "onnx"})
    assert m.preprocessing is None and m.input_size is None


def test_manifest_and_config_share_one_preprocessing_check():
    from resnet_opt.core.preprocessing import Preprocessing, PreprocessingError

    bad = {"resize": 16, "crop": 32}  # crop larger than resize: refused by the one check, wherever it is read
    with pytest.raises(PreprocessingError, match="larger than its resize") as e:
        Preprocessing.from_dict(bad)
    assert e.value.field == "crop"
    with pytest.raises(ManifestError, match="preprocessing.crop"):
        Manifest.from_dict({"format": "resnet-opt-artifact", "kind": "onnx", "preprocessing": bad})


def test_model_folder_config_has_one_owner(tmp_path):
    """config.json is checked by core.model_config alone: the opener and read_config refuse a bad field with the same
    message (the opener's error is both an ArtifactError and a ModelFormatError)."""
    from resnet_opt.core.errors import ModelFormatError
    from resnet_opt.core.model_config import ModelConfigError, read_config

    f = tmp_path / "m"
    f.mkdir()
    (f / "model.safetensors").write_bytes(b"x" * 8)
    cfg = {"format": "resnet-opt-model", "depth": 18, "num_classes": 3, "input_size": 32, "stem": "tiny",
           "preprocessing": {"resize": 32, "crop": 32}}
    (f / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="'stem'") as by_reader:
        read_config(f)
    with pytest.raises(ModelConfigError, match="'stem'") as by_opener:
        open_artifact(f)
    assert isinstance(by_opener.value, ArtifactError) and str(by_opener.value) == str(by_reader.value)
    cfg["stem"] = "small"
    (f / "config.json").write_text(json.dumps(cfg))
    assert open_artifact(f).manifest.preprocessing.crop == 32 and read_config(f)["stem"] == "small"
