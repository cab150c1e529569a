"""Kind ``torchscript``: a TorchScript file (``export torchscript`` FP32, ``quantize --target torchscript-fx`` INT8);
Triton serves it with its libtorch backend."""

from resnet_opt.core.registry import register_kind

KIND = register_kind("torchscript", family="torchscript", description="TorchScript file (FP32 or FX INT8)",
                     loader="resnet_opt.runtime.loaders:load_torchscript",
                     files={"fp32": "model.ts", "int8": "model_int8.ts"},
                     triton_platform=("pytorch_libtorch", "model.pt"),
                     exporter="resnet_opt.export.torchscript_export:KIND_EXPORTER",
                     quantize_target="torchscript-fx",
                     int8_builder="resnet_opt.pipeline.quantize_fx:torchscript_fx_target")
