"""Task recipes: ``python -m mluke_jax.finetune TASK --model DIR --train FILE --eval FILE --output DIR``."""

from mluke_jax.finetune.run import RunConfig, run
from mluke_jax.finetune.tasks import TASKS, Settings

__all__ = ["TASKS", "RunConfig", "Settings", "run"]
