"""LUKE / mLUKE: the weight-name table and the structure a checkpoint implies.

Target paths are relative to the JAX model of the architecture; sources are transformers keys with
``{p}`` for the encoder prefix (``luke.`` in head checkpoints, empty for a bare ``LukeModel``) and
``{i}`` for the layer index.
"""

from collections.abc import Iterable
from typing import Any

from mluke_jax.architectures import ARCHITECTURES
from mluke_jax.config import LukeConfig
from mluke_jax.hf.readers import ArrayReader, CheckpointReader
from mluke_jax.hf.rules import TRANSPOSE, Rule, architecture_from, model_rules
from mluke_jax.hf.rules import linear_rules as _linear
from mluke_jax.hf.rules import norm_rules as _norm

R = Rule.make
T = TRANSPOSE


def encoder_rules() -> list[Rule]:
    """The bare encoder (``LukeModel``), targets without prefix."""
    layer = "{p}encoder.layer.{i}"
    rules = [
        R("embeddings.word_embeddings.embedding", "{p}embeddings.word_embeddings.weight"),
        R("embeddings.position_embeddings.embedding", "{p}embeddings.position_embeddings.weight"),
        R("embeddings.token_type_embeddings.embedding", "{p}embeddings.token_type_embeddings.weight"),
        *_norm("embeddings.norm", "{p}embeddings.LayerNorm"),
        R("entity_embeddings.entity_embeddings.embedding", "{p}entity_embeddings.entity_embeddings.weight"),
        R("entity_embeddings.projection.kernel", "{p}entity_embeddings.entity_embedding_dense.weight", T),
        R("entity_embeddings.position_embeddings.embedding", "{p}entity_embeddings.position_embeddings.weight"),
        R("entity_embeddings.token_type_embeddings.embedding", "{p}entity_embeddings.token_type_embeddings.weight"),
        *_norm("entity_embeddings.norm", "{p}entity_embeddings.LayerNorm"),
        *_linear("encoder.layers.attention.out", f"{layer}.attention.output.dense"),
        *_norm("encoder.layers.attention_norm", f"{layer}.attention.output.LayerNorm"),
        *_linear("encoder.layers.mlp.fc_in", f"{layer}.intermediate.dense"),
        *_linear("encoder.layers.mlp.fc_out", f"{layer}.output.dense"),
        *_norm("encoder.layers.mlp_norm", f"{layer}.output.LayerNorm"),
        *_linear("pooler.dense", "{p}pooler.dense"),
    ]
    for name in ("query", "key", "value", "w2e_query", "e2w_query", "e2e_query"):
        rules += _linear(f"encoder.layers.attention.{name}", f"{layer}.attention.self.{name}")
    return rules


HEAD_RULES: dict[str, list[Rule]] = {
    "LukeModel": [],
    "LukeForMaskedLM": [
        *_linear("lm_head.dense", "lm_head.dense"),
        *_norm("lm_head.layer_norm", "lm_head.layer_norm"),
        R("lm_head.decoder.kernel", "lm_head.decoder.weight", T),
        # transformers ties decoder.bias and lm_head.bias; the decoder's is the one its forward adds.
        R("lm_head.decoder.bias", ("lm_head.decoder.bias", "lm_head.bias")),
        *_linear("entity_predictions.dense", "entity_predictions.transform.dense"),
        *_norm("entity_predictions.layer_norm", "entity_predictions.transform.LayerNorm"),
        R("entity_predictions.decoder.kernel", "entity_predictions.decoder.weight", T),
        R("entity_predictions.decoder.bias", "entity_predictions.bias"),
    ],
    "LukeForEntityClassification": _linear("classifier.linear", "classifier"),
    "LukeForEntityPairClassification": _linear("classifier.linear", "classifier", bias=False),
    "LukeForEntitySpanClassification": _linear("classifier.linear", "classifier"),
    "LukeForSequenceClassification": _linear("classifier.linear", "classifier"),
    "LukeForTokenClassification": _linear("classifier.linear", "classifier"),
    "LukeForQuestionAnswering": _linear("qa_outputs.linear", "qa_outputs"),
    "LukeForMultipleChoice": _linear("classifier.linear", "classifier"),
}


def rules_for(architecture: str, key_prefix: str) -> list[Rule]:
    """Every rule of ``architecture`` with ``{p}`` filled in and encoder targets under ``luke.``."""
    return model_rules(ARCHITECTURES[architecture], encoder_rules(), HEAD_RULES[architecture], key_prefix)


def key_prefix(keys: Iterable[str]) -> str:
    """``"luke."`` when the encoder keys carry the head prefix, else ``""``."""
    return "luke." if any(k.startswith("luke.embeddings.") for k in keys) else ""


def architecture_of(hf_config: dict[str, Any], keys: Iterable[str]) -> str:
    """The checkpoint's class: from config.json, else a bare ``LukeModel`` when keys have no prefix."""
    return architecture_from(hf_config, keys, HEAD_RULES, "LUKE", "luke.embeddings.", "LukeModel")


def structure_of(
    architecture: str, keys: Iterable[str], reader: CheckpointReader | ArrayReader | None = None
) -> dict[str, Any]:
    """The parameter-tree flags a checkpoint implies (see ``LukeConfig`` runtime fields)."""
    keys = set(keys)
    p = key_prefix(keys)
    return {
        "entity_aware_query_weights": f"{p}encoder.layer.0.attention.self.w2e_query.weight" in keys,
        # Heads fix their own pooler; a bare LukeModel may have been saved without one.
        "add_pooling_layer": f"{p}pooler.dense.weight" in keys if not ARCHITECTURES[architecture].has_head else True,
        "untied_word_decoder": "lm_head.decoder.weight" in keys,
        "untied_entity_decoder": "entity_predictions.decoder.weight" in keys,
    }


def allow_unused(key: str) -> bool:
    """Buffers some writers include (the original luke state dict had ``embeddings.position_ids``)."""
    return key.endswith("position_ids")


def check_config(config: LukeConfig, source: str) -> None:
    """No family-specific warnings for LUKE."""


CONFIG_CLASS = LukeConfig
