"""Export: TorchScript and ONNX artifacts, validated against PyTorch."""

from resnet_opt.export.onnx_export import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME, export_onnx

__all__ = ["DEFAULT_OPSET", "INPUT_NAME", "OUTPUT_NAME", "export_onnx"]
