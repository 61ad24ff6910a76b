"""The architectures mluke-jax implements, by transformers class name.

A checkpoint names its architecture (``config.json``'s ``architectures``, ``mluke_jax.json``'s
``architecture``); this table, written out by hand, says which class loads it. A subclass a user
writes is not added behind their back: pass the class itself to ``load_pretrained`` or call its
``from_pretrained``.
"""

from types import MappingProxyType

from mluke_jax.models.luke import LukeModel
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
from mluke_jax.models.xlm import XLMModel
from mluke_jax.models.xlm_heads import (
    XLMForMultipleChoice,
    XLMForQuestionAnsweringSimple,
    XLMForSequenceClassification,
    XLMForTokenClassification,
    XLMWithLMHeadModel,
)
from mluke_jax.models.xlm_squad import XLMForQuestionAnswering

ARCHITECTURES = MappingProxyType(
    {
        cls.__name__: cls
        for cls in (
            LukeModel,
            LukeForMaskedLM,
            LukeForEntityClassification,
            LukeForEntityPairClassification,
            LukeForEntitySpanClassification,
            LukeForSequenceClassification,
            LukeForTokenClassification,
            LukeForQuestionAnswering,
            LukeForMultipleChoice,
            XLMModel,
            XLMWithLMHeadModel,
            XLMForSequenceClassification,
            XLMForTokenClassification,
            XLMForQuestionAnsweringSimple,
            XLMForQuestionAnswering,
            XLMForMultipleChoice,
        )
    }
)


def architecture_class(name: str, where: str = "") -> type:
    """The class of architecture ``name``; a ``ValueError`` listing the known ones otherwise."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}architecture {name!r} is not implemented (known: {sorted(ARCHITECTURES)})") from None
