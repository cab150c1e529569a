"""Kind ``model``: a model folder (config.json + model.safetensors), what ``train``/``save_model``/``prune``/``fuse``
write; the stages that rebuild a PyTorch model take it as ``--model``."""

from resnet_opt.core.registry import register_kind

KIND = register_kind("model", family="torch", description="model folder (config.json + model.safetensors)",
                     loader="resnet_opt.runtime.loaders:load_model_folder", model_input=True)
