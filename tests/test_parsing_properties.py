"""Property-based tests (hypothesis): whatever a data spec, a model config or an artifact manifest holds, parsing
gives a result or a typed :class:`ResNetOptError`, never another exception (no KeyError, TypeError, ValueError...)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.export import ExportConfig

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from resnet_opt.core.errors import ResNetOptError  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


# ---------------------------------------------------------------- data specs
spec_texts = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, a: f"{k}:{a}", st.sampled_from(["digits", "synthetic", "imagefolder", "DIGITS", "Synthetic",
                                                        "x", ""]),
              st.one_of(st.integers(-10**6, 10**6).map(str), st.text(max_size=30),
                        st.sampled_from(["~nouser_xyz/a", "/" + "a" * 5000, "\x00", "/dev/null", "/", "1e3",
                                         "  64 ", "6_4", "٣٢"]))),
)


@SETTINGS
@given(text=spec_texts, preset=st.one_of(st.none(), st.sampled_from(["v1", "v2", "v3", "", "V1"])))
def test_data_spec_parses_or_typed_error(text, preset):
    from resnet_opt.data import parse_data_spec, preprocessing_for

    try:
        spec = parse_data_spec(text, preset=preset)
    except ResNetOptError:
        return
    p = preprocessing_for(spec)
    assert 8 <= p.crop <= 4096 and p.validate() is p


@SETTINGS
@given(value=json_values)
def test_data_spec_non_string_input(value):
    from resnet_opt.data import parse_data_spec

    try:
        parse_data_spec(value)
    except ResNetOptError:
        pass


# ---------------------------------------------------------------- model configs
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from resnet_opt.data import digits_preprocessing
    from resnet_opt.resnet import ResNet, save_model

    out = tmp_path_factory.mktemp("props") / "model"
    save_model(ResNet(18, num_classes=10), out, input_size=32, preprocessing=digits_preprocessing(32).to_dict(),
               class_names=[str(i) for i in range(10)], extra={"data": "digits"})
    return out


CONFIG_KEYS = ["format", "depth", "num_classes", "input_size", "preprocessing", "class_names", "widths", "fused",
               "data", "format_version"]
PRE_KEYS = ["resize", "crop", "mean", "std", "interpolation", "grayscale", "square", "name"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.sampled_from(CONFIG_KEYS), pre_key=st.sampled_from(PRE_KEYS), value=json_values,
       drop=st.booleans(), in_pre=st.booleans())
def test_model_config_field_or_typed_error(model_dir, tmp_path_factory, key, pre_key, value, drop, in_pre):
    from resnet_opt.data import Preprocessing
    from resnet_opt.resnet import load_source, read_config

    d = tmp_path_factory.mktemp("cfg") / "m"
    shutil.copytree(model_dir, d)
    cfg = json.loads((d / "config.json").read_text())
    target, k = (cfg["preprocessing"], pre_key) if in_pre else (cfg, key)
    if drop:
        target.pop(k, None)
    else:
        target[k] = value
    (d / "config.json").write_text(json.dumps(cfg))
    try:
        c = read_config(d)
        Preprocessing.from_dict(c.get("preprocessing"))
        load_source(model_dir=d)
    except ResNetOptError:
        pass


@SETTINGS
@given(doc=json_values)
def test_model_config_any_json(tmp_path_factory, doc):
    from resnet_opt.resnet import read_config

    d = tmp_path_factory.mktemp("anycfg")
    (d / "config.json").write_text(json.dumps(doc))
    try:
        read_config(d)
    except ResNetOptError:
        pass


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_model_config_any_bytes(tmp_path_factory, raw):
    from resnet_opt.resnet import read_config

    d = tmp_path_factory.mktemp("rawcfg")
    (d / "config.json").write_bytes(raw)
    try:
        read_config(d)
    except ResNetOptError:
        pass


# ---------------------------------------------------------------- artifact manifests
@pytest.fixture(scope="module")
def onnx_dir(model_dir, tmp_path_factory) -> Path:
    from resnet_opt.pipeline.export import export_artifact

    out = tmp_path_factory.mktemp("props-onnx") / "onnx"
    export_artifact(ExportConfig("onnx", out=out, count=2, source=ModelSpec(model_dir=model_dir)))
    return out


MANIFEST_KEYS = ["format", "format_version", "kind", "file", "precision", "input", "output", "preprocessing",
                 "class_names", "architecture", "file_sha256", "source", "validation"]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.sampled_from(MANIFEST_KEYS), value=json_values, drop=st.booleans())
def test_manifest_field_or_typed_error(onnx_dir, tmp_path_factory, key, value, drop):
    """A valid ONNX manifest with one field replaced by any JSON value (or removed): runtime.load and the bench's
    variant reader give a result or a typed error."""
    from resnet_opt.bench.variants import variant_from_path
    from resnet_opt.core.manifest import read_manifest
    from resnet_opt.runtime import load

    d = tmp_path_factory.mktemp("man") / "a"
    shutil.copytree(onnx_dir, d)
    m = json.loads((d / "manifest.json").read_text())
    if drop:
        m.pop(key, None)
    else:
        m[key] = value
    (d / "manifest.json").write_text(json.dumps(m))
    for fn in (read_manifest, load, variant_from_path):
        try:
            fn(d)
        except ResNetOptError:
            pass


@SETTINGS
@given(doc=json_values)
def test_manifest_any_json(tmp_path_factory, doc):
    from resnet_opt.core.manifest import read_manifest

    d = tmp_path_factory.mktemp("anyman")
    (d / "manifest.json").write_text(json.dumps(doc))
    try:
        read_manifest(d)
    except ResNetOptError:
        pass
