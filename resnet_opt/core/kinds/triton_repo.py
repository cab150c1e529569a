"""Kind ``triton-repo``: a Triton Inference Server model repository (``export triton``); served, not loaded."""

from resnet_opt.core.registry import register_kind

KIND = register_kind("triton-repo", family="triton", description="Triton Inference Server model repository (serve it "
                     "with tritonserver; its model folder NAME/1 is the onnx or torchscript artifact)", loader=None)
