"""Training and evaluation engine (bottom layer: builds only on torch; reused by later stages)."""

from resnet_opt.engine import distributed
from resnet_opt.engine.evaluate import (
    EvalResult, accuracy_from_logits, agreement, batched_logits, collect_logits, evaluate, materialize, reduce_result,
    resolve_device,
)
from resnet_opt.engine.progress import progress_iter
from resnet_opt.engine.train import (
    TrainConfig, TrainResult, distillation_loss, load_train_state, seed_everything, train, unwrap,
)

__all__ = ["EvalResult", "accuracy_from_logits", "agreement", "batched_logits", "materialize", "collect_logits", "evaluate",
           "resolve_device", "load_train_state", "progress_iter", "TrainConfig", "TrainResult", "distillation_loss",
           "seed_everything", "train", "unwrap", "reduce_result", "distributed"]
