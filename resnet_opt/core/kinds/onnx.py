"""Kind ``onnx``: an ONNX model (``export onnx`` FP32/FP16, ``quantize``/``qat`` INT8 QDQ); Triton serves it with
its onnxruntime backend."""

from resnet_opt.core.registry import register_kind

KIND = register_kind("onnx", family="onnx", description="ONNX model (FP32, FP16 or INT8 QDQ)",
                     loader="resnet_opt.runtime.loaders:load_onnx",
                     files={"fp32": "model.onnx", "fp16": "model_fp16.onnx", "int8": "model_int8.onnx"},
                     triton_platform=("onnxruntime_onnx", "model.onnx"),
                     exporter="resnet_opt.export.onnx_export:KIND_EXPORTER",
                     quantize_target="onnx", int8_builder="resnet_opt.pipeline.quantize_onnx:onnx_target",
                     qat_builder="resnet_opt.pipeline.qat:onnx_qat_artifact")
