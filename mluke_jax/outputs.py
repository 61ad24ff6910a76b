"""Output containers with the field names of transformers' output classes.

They are frozen dataclasses registered as pytrees (so they pass through ``jax.jit``), readable by
attribute or by key (``out.logits`` / ``out["logits"]``). Fields that do not apply are None.
Per-layer fields (``hidden_states``, ``entity_hidden_states``, ``attentions``) are tuples of arrays,
one per layer (``hidden_states`` starts with the embedding output), as in transformers.
"""

import dataclasses
from typing import Any

import flax.struct
import jax

Array = jax.Array | None  # an array field, None when it does not apply
Layers = tuple[jax.Array, ...] | None  # one array per layer, None unless asked for


@flax.struct.dataclass
class ModelOutput:
    def __getitem__(self, name: str) -> Any:
        if not isinstance(name, str):
            raise TypeError("outputs are indexed by field name; use to_tuple() for positions")
        return getattr(self, name)

    def keys(self) -> list[str]:
        """Names of the fields that are set (not None), in declaration order."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def to_tuple(self) -> tuple:
        """Set fields in order, like transformers' ``return_dict=False``."""
        return tuple(getattr(self, k) for k in self.keys())


@flax.struct.dataclass
class BaseLukeModelOutputWithPooling(ModelOutput):
    """``LukeModel`` output: word states ``(B, L, D)``, pooled ``(B, D)``, entity states ``(B, E, D)``."""

    last_hidden_state: Array = None
    pooler_output: Array = None
    hidden_states: Layers = None
    attentions: Layers = None
    entity_last_hidden_state: Array = None
    entity_hidden_states: Layers = None


@flax.struct.dataclass
class LukeMaskedLMOutput(ModelOutput):
    """``logits`` ``(B, L, V)``, ``entity_logits`` ``(B, E, Ev)``; ``loss = mlm_loss + mep_loss``."""

    loss: Array = None
    mlm_loss: Array = None
    mep_loss: Array = None
    logits: Array = None
    entity_logits: Array = None
    hidden_states: Layers = None
    entity_hidden_states: Layers = None
    attentions: Layers = None


@flax.struct.dataclass
class LukeClassifierOutput(ModelOutput):
    """Shared layout of the LUKE classification outputs."""

    loss: Array = None
    logits: Array = None
    hidden_states: Layers = None
    entity_hidden_states: Layers = None
    attentions: Layers = None


@flax.struct.dataclass
class EntityClassificationOutput(LukeClassifierOutput):
    """``logits`` ``(B, C)``."""


@flax.struct.dataclass
class EntityPairClassificationOutput(LukeClassifierOutput):
    """``logits`` ``(B, C)``."""


@flax.struct.dataclass
class EntitySpanClassificationOutput(LukeClassifierOutput):
    """``logits`` ``(B, E, C)``."""


@flax.struct.dataclass
class LukeSequenceClassifierOutput(LukeClassifierOutput):
    """``logits`` ``(B, C)``."""


@flax.struct.dataclass
class LukeTokenClassifierOutput(LukeClassifierOutput):
    """``logits`` ``(B, L, C)``."""


@flax.struct.dataclass
class LukeMultipleChoiceModelOutput(LukeClassifierOutput):
    """``logits`` ``(B, num_choices)``."""


@flax.struct.dataclass
class LukeQuestionAnsweringModelOutput(ModelOutput):
    """``start_logits`` / ``end_logits`` ``(B, L)``."""

    loss: Array = None
    start_logits: Array = None
    end_logits: Array = None
    hidden_states: Layers = None
    entity_hidden_states: Layers = None
    attentions: Layers = None


# ------------------------------------------------------------------------------------ XLM
@flax.struct.dataclass
class BaseModelOutput(ModelOutput):
    """``XLMModel`` output: ``last_hidden_state`` ``(B, L, D)``."""

    last_hidden_state: Array = None
    hidden_states: Layers = None
    attentions: Layers = None


@flax.struct.dataclass
class MaskedLMOutput(ModelOutput):
    """``logits`` ``(B, L, V)``."""

    loss: Array = None
    logits: Array = None
    hidden_states: Layers = None
    attentions: Layers = None


@flax.struct.dataclass
class SequenceClassifierOutput(MaskedLMOutput):
    """``logits`` ``(B, C)``."""


@flax.struct.dataclass
class TokenClassifierOutput(MaskedLMOutput):
    """``logits`` ``(B, L, C)``."""


@flax.struct.dataclass
class MultipleChoiceModelOutput(MaskedLMOutput):
    """``logits`` ``(B, num_choices)``."""


@flax.struct.dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    """``start_logits`` / ``end_logits`` ``(B, L)``."""

    loss: Array = None
    start_logits: Array = None
    end_logits: Array = None
    hidden_states: Layers = None
    attentions: Layers = None


@flax.struct.dataclass
class XLMForQuestionAnsweringOutput(ModelOutput):
    """XLM's beam-search SQuAD head.

    With start and end positions only ``loss`` is set. Otherwise ``start_top_log_probs`` /
    ``start_top_index`` ``(B, start_n_top)``, ``end_top_log_probs`` / ``end_top_index``
    ``(B, start_n_top * end_n_top)`` and ``cls_logits`` ``(B,)``. The ``*_log_probs`` hold
    softmax *probabilities*, not logarithms: transformers' names and values, kept for parity.
    """

    loss: Array = None
    start_top_log_probs: Array = None
    start_top_index: Array = None
    end_top_log_probs: Array = None
    end_top_index: Array = None
    cls_logits: Array = None
    hidden_states: Layers = None
    attentions: Layers = None
