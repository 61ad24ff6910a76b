"""Task recipes: ``python -m mluke_jax.finetune TASK --model DIR --train FILE --eval FILE --output DIR``,
and predictions on raw text: ``python -m mluke_jax.finetune predict TASK --model DIR --input FILE --output FILE``."""

from mluke_jax.finetune.prediction import Predictions, Predictor, PredictSettings, predict
from mluke_jax.finetune.run import RunConfig, run
from mluke_jax.finetune.tasks import TASKS, Settings

__all__ = ["TASKS", "PredictSettings", "Predictions", "Predictor", "RunConfig", "Settings", "predict", "run"]
