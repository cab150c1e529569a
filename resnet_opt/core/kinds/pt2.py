"""Kind ``pt2``: an AOTInductor package ``model.pt2`` (``export pt2`` FP32, ``quantize``/``qat --target torch``
PT2E INT8)."""

from resnet_opt.core.registry import register_kind

KIND = register_kind("pt2", family="pt2", description="AOTInductor package model.pt2 (FP32 export, or PT2E INT8)",
                     loader="resnet_opt.runtime.pt2:load_pt2",
                     files={"fp32": "model.pt2", "int8": "model.pt2"},
                     exporter="resnet_opt.export.pt2_export:KIND_EXPORTER",
                     quantize_target="torch", int8_builder="resnet_opt.pipeline.quantize_pt2e:pt2e_target",
                     qat_builder="resnet_opt.pipeline.qat:pt2_qat_artifact")
