"""Kinds register themselves: a kind is one module in resnet_opt/core/kinds/ calling ``register_kind``, and every
consumer (the manifest and its JSON schema, export's formats and file names, quantize/QAT file names, Triton's
platforms, bench's backend selection, the runtime loader) reads it from the registry, and the stages run the
callables it registers (its exporter, its INT8 builder). A throw-away kind registered here, and nowhere else, is seen
by all of them; the fixture removes it again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_opt.core.manifest import KINDS, Architecture, Manifest, Source, kind_info, manifest_json_schema, \
    open_artifact, register_kind, write_manifest

NAME = "onnx-throwaway"
FILES = {"fp32": "thrown.onnx", "fp16": "thrown_fp16.onnx", "int8": "thrown_int8.onnx"}
PLATFORM = ("onnxruntime_onnx", "thrown.onnx")
TARGET = "thrown-int8"


@pytest.fixture
def throwaway_kind():
    assert NAME not in KINDS
    info = register_kind(NAME, family="onnx", description="a kind that exists for one test",
                         loader="resnet_opt.runtime.loaders:load_onnx", files=FILES, triton_platform=PLATFORM,
                         exporter="resnet_opt.export.onnx_export:KIND_EXPORTER", quantize_target=TARGET,
                         int8_builder="resnet_opt.pipeline.quantize_onnx:onnx_target")
    try:
        yield info
    finally:
        KINDS.pop(NAME, None)
    assert NAME not in KINDS


def _tiny_onnx(path: Path, size: int = 8, classes: int = 10) -> None:
    """input [N,3,size,size] -> mean over H, W -> [N,3] @ W[3,classes] -> logits (no torch export needed)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(3 * classes, dtype=np.float32).reshape(3, classes) / 10, name="W")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["pooled"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["pooled", "W"], ["logits"])],
        "thrown", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _artifact(folder: Path) -> Path:
    from resnet_opt.core.preprocessing import digits_preprocessing

    folder.mkdir()
    fname = kind_info(NAME).files["fp32"]
    _tiny_onnx(folder / fname)
    m = Manifest.for_export(kind=NAME, file=fname, precision="fp32",
                            source=Source(kind="random", architecture="resnet18", num_classes=10, trained=False),
                            architecture=Architecture(depth=18, num_classes=10, widths={}, fused=True, stem="cifar"),
                            input_shape=[-1, 3, 8, 8], output_shape=[-1, 10], preprocessing=digits_preprocessing(8),
                            class_names=None, validation={"passed": True})
    write_manifest(folder, m)
    return folder


def test_a_new_kind_is_one_registration(throwaway_kind, tmp_path):
    from resnet_opt.bench.backends import BACKENDS, check_compatible
    from resnet_opt.bench.variants import variant_from_path
    from resnet_opt.export.triton import PLATFORMS
    from resnet_opt.pipeline.export import FILE_NAMES, FORMATS
    from resnet_opt.runtime import load_artifact, runtime_name

    # the manifest: a folder of the new kind parses and opens, and the schema names the kind
    folder = _artifact(tmp_path / "thrown")
    art = open_artifact(folder)
    assert art.kind == NAME and art.info is throwaway_kind and art.model_file.name == FILES["fp32"]
    assert NAME in manifest_json_schema()["properties"]["kind"]["enum"]
    assert Manifest.from_dict(art.manifest.to_dict()).kind == NAME
    # export: a format, with its file names (int8 is quantize's, not export's)
    assert NAME in FORMATS and FORMATS[-1] in KINDS
    assert FILE_NAMES[(NAME, "fp32")] == "thrown.onnx" and FILE_NAMES[(NAME, "fp16")] == "thrown_fp16.onnx"
    assert (NAME, "int8") not in FILE_NAMES
    # Triton: the platform and the file name Triton expects
    assert PLATFORMS[NAME] == PLATFORM and NAME in PLATFORMS
    # bench: the backends of its family run it, the others skip it
    v = variant_from_path(folder)
    assert v.kind == "onnx"
    assert check_compatible(BACKENDS["ort-cpu"], v) is None
    assert check_compatible(BACKENDS["torch-cpu"], v) is not None
    # runtime: its registered loader runs it
    pred = load_artifact(art)
    logits = pred.logits(torch.ones(2, 3, 8, 8))
    assert tuple(logits.shape) == (2, 10)
    assert runtime_name(NAME, "cpu") == "onnxruntime CPU"


def test_the_stages_run_what_the_new_kind_registers(throwaway_kind, tmp_path):
    """export NAME runs the registered exporter and names the file as registered; quantize --target TARGET is
    offered, writes the registered int8 file name, and builds it with the registered builder."""
    from resnet_opt.pipeline import quantize
    from resnet_opt.pipeline.export import ExportConfig, export_artifact
    from resnet_opt.resnet import ModelSpec

    res = export_artifact(ExportConfig(NAME, out=tmp_path / "exp", count=2, input_size=32,
                                       source=ModelSpec(depth=18, num_classes=10)))
    assert res.manifest.kind == NAME and res.manifest.files[0].path == FILES["fp32"]
    assert (tmp_path / "exp" / FILES["fp32"]).is_file() and open_artifact(tmp_path / "exp").kind == NAME
    assert quantize.TARGETS[TARGET] is throwaway_kind and quantize.KIND_OF_TARGET[TARGET] == NAME
    assert quantize.FILE_NAMES[TARGET] == FILES["int8"]
    from resnet_opt.pipeline import qat

    assert TARGET not in qat.QAT_KINDS  # it registers no QAT builder, so qat --target does not offer it
    quantize.QuantizeConfig(target=TARGET).validate()  # a target the stage accepts
    from resnet_opt.pipeline.quantize_onnx import onnx_target

    assert throwaway_kind.resolve("int8_builder") is onnx_target


def test_the_throwaway_kind_is_gone_after_the_fixture():
    from resnet_opt.export.triton import PLATFORMS
    from resnet_opt.pipeline import quantize
    from resnet_opt.pipeline.export import FILE_NAMES, FORMATS

    assert NAME not in KINDS and NAME not in FORMATS and NAME not in PLATFORMS and TARGET not in quantize.TARGETS
    assert (NAME, "fp32") not in FILE_NAMES
    assert NAME not in manifest_json_schema()["properties"]["kind"]["enum"]


def test_the_registered_kinds_and_their_consumers():
    """The six kinds, each from its own module, and the tables derived from them (same values as the tables they
    replaced)."""
    from resnet_opt.core.kinds import KIND_MODULES
    from resnet_opt.export import PT2_FILE
    from resnet_opt.export.triton import PLATFORMS
    from resnet_opt.pipeline import qat, quantize
    from resnet_opt.pipeline.export import FILE_NAMES, FORMATS

    assert sorted(KINDS) == ["model", "onnx", "openvino", "pt2", "torchscript", "triton-repo"]
    assert len(KIND_MODULES) == len(KINDS)
    assert set(FORMATS) == {"onnx", "torchscript", "pt2", "openvino"}
    assert dict(FILE_NAMES) == {("onnx", "fp32"): "model.onnx", ("onnx", "fp16"): "model_fp16.onnx",
                                ("torchscript", "fp32"): "model.ts", ("pt2", "fp32"): PT2_FILE,
                                ("openvino", "fp32"): "model.xml", ("openvino", "bf16"): "model.xml"}
    assert dict(quantize.FILE_NAMES) == {"onnx": "model_int8.onnx", "torch": "model.pt2",
                                         "torchscript-fx": "model_int8.ts", "openvino": "model.xml"}
    assert dict(qat.FILE_NAMES) == {"onnx": "model_int8.onnx", "torch": "model.pt2"}
    assert qat.FILE_NAME == "model_int8.onnx"
    assert dict(PLATFORMS) == {"onnx": ("onnxruntime_onnx", "model.onnx"),
                               "torchscript": ("pytorch_libtorch", "model.pt")}
    assert {k: i.family for k, i in KINDS.items()} == {
        "model": "torch", "onnx": "onnx", "torchscript": "torchscript", "triton-repo": "triton", "pt2": "pt2",
        "openvino": "openvino"}


@pytest.mark.parametrize("bad", [dict(loader="resnet_opt.pipeline.export:export_artifact"),
                                 dict(loader="resnet_opt.runtime.loaders.load_onnx"),
                                 dict(files={"int4": "x.onnx"}),
                                 dict(exporter="resnet_opt.pipeline.export:export_artifact"),  # not in export
                                 dict(exporter="resnet_opt.export.onnx_export:KIND_EXPORTER"),  # no file to export to
                                 dict(files={"int8": "x.onnx"},
                                      int8_builder="resnet_opt.pipeline.quantize_onnx:onnx_target"),  # no target name
                                 dict(files={"int8": "x.onnx"}, quantize_target="onnx",  # onnx's target already
                                      int8_builder="resnet_opt.pipeline.quantize_onnx:onnx_target")])
def test_register_kind_refuses_a_bad_registration(bad):
    kw = dict(family="onnx", description="bad", loader="resnet_opt.runtime.loaders:load_onnx") | bad
    with pytest.raises(ValueError):
        register_kind("bad-kind", **kw)
    assert "bad-kind" not in KINDS
