"""mluke-jax: mLUKE and XLM encoders in JAX / Flax NNX with transformers' numbers.

Public surface: configurations, the models and heads under their transformers class names, and
the sharding helpers. ``Class.from_pretrained(dir_or_hub_name)`` loads converted (Orbax) or
transformers checkpoints; ``python -m convert SRC DST`` converts.
"""

from importlib import metadata as _metadata

from mluke_jax.architectures import ARCHITECTURES
from mluke_jax.compilation_cache import enable_compilation_cache
from mluke_jax.config import LukeConfig, XLMConfig
from mluke_jax.linking import EntityLinker
from mluke_jax.mask_filling import fill_mask
from mluke_jax.modeling import PreTrainedModel
from mluke_jax.models.luke import LukeModel, LukePreTrainedModel
from mluke_jax.models.luke_heads import (
    LukeForEntityClassification,
    LukeForEntityPairClassification,
    LukeForEntitySpanClassification,
    LukeForMaskedLM,
    LukeForMultipleChoice,
    LukeForQuestionAnswering,
    LukeForSequenceClassification,
    LukeForTokenClassification,
)
from mluke_jax.models.xlm import XLMModel, XLMPreTrainedModel
from mluke_jax.models.xlm_heads import (
    XLMForMultipleChoice,
    XLMForQuestionAnsweringSimple,
    XLMForSequenceClassification,
    XLMForTokenClassification,
    XLMWithLMHeadModel,
)
from mluke_jax.models.xlm_squad import XLMForQuestionAnswering
from mluke_jax.sharding import LOGICAL_AXIS_RULES, make_mesh, use_mesh
from mluke_jax.tokenizers.luke import LukeTokenizer
from mluke_jax.tokenizers.mluke import MLukeTokenizer
from mluke_jax.tokenizers.xlm import XLMTokenizer

try:
    __version__ = _metadata.version("mluke-jax")  # pyproject.toml's, as installed
except _metadata.PackageNotFoundError:  # a source tree on sys.path without installing
    __version__ = "0.0.0+unknown"

__all__ = [
    "ARCHITECTURES",
    "EntityLinker",
    "LOGICAL_AXIS_RULES",
    "LukeConfig",
    "LukeForEntityClassification",
    "LukeForEntityPairClassification",
    "LukeForEntitySpanClassification",
    "LukeForMaskedLM",
    "LukeForMultipleChoice",
    "LukeForQuestionAnswering",
    "LukeForSequenceClassification",
    "LukeForTokenClassification",
    "LukeModel",
    "LukePreTrainedModel",
    "LukeTokenizer",
    "PreTrainedModel",
    "XLMConfig",
    "XLMForMultipleChoice",
    "XLMForQuestionAnswering",
    "XLMForQuestionAnsweringSimple",
    "XLMForSequenceClassification",
    "XLMForTokenClassification",
    "XLMModel",
    "XLMPreTrainedModel",
    "MLukeTokenizer",
    "XLMTokenizer",
    "XLMWithLMHeadModel",
    "enable_compilation_cache",
    "fill_mask",
    "load_pretrained",
    "make_mesh",
    "use_mesh",
]


def load_pretrained(name_or_path, **kwargs):
    """Load whatever architecture a checkpoint holds (its ``config.json`` ``architectures``)."""
    from mluke_jax import sources

    return sources.load_pretrained(name_or_path, None, **kwargs)
