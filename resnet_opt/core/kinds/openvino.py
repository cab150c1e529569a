"""Kind ``openvino``: an OpenVINO IR ``model.xml`` + ``model.bin`` (``export openvino`` FP32 or with a BF16
inference hint, ``quantize --target openvino`` NNCF INT8; openvino extra)."""

from resnet_opt.core.registry import register_kind

KIND = register_kind("openvino", family="openvino", description="OpenVINO IR (model.xml + model.bin; openvino extra)",
                     loader="resnet_opt.runtime.openvino:load_openvino_artifact",
                     files={"fp32": "model.xml", "bf16": "model.xml", "int8": "model.xml"},
                     exporter="resnet_opt.export.openvino_export:KIND_EXPORTER",
                     quantize_target="openvino",
                     int8_builder="resnet_opt.pipeline.quantize_openvino:openvino_target")
