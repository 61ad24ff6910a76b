"""XLM: the weight-name table and the structure a checkpoint implies.

Target paths are relative to the JAX model of the architecture; sources are transformers keys with
``{p}`` for the encoder prefix (``transformer.`` in head checkpoints, empty for a bare ``XLMModel``)
and ``{i}`` for the layer index. Original facebookresearch/XLM state dicts use the bare names and
``pred_layer.*`` (see :mod:`mluke_jax.hf.xlm_original`).
"""

from collections.abc import Iterable
from typing import Any

import numpy as np

from mluke_jax.architectures import ARCHITECTURES
from mluke_jax.config import XLMConfig
from mluke_jax.hf.readers import ArrayReader, CheckpointReader
from mluke_jax.hf.rules import Rule, architecture_from, model_rules
from mluke_jax.hf.rules import linear_rules as _linear
from mluke_jax.hf.rules import norm_rules as _norm
from mluke_jax.models.xlm import warn_if_clm_not_causal

R = Rule.make


def encoder_rules() -> list[Rule]:
    """The bare encoder (``XLMModel``), targets without prefix."""
    return [
        # A tied file may keep only the projection (transformers 5 then ties the embeddings to it).
        R("embeddings.word_embeddings.embedding", ("{p}embeddings.weight", "pred_layer.proj.weight")),
        R("embeddings.position_embeddings.embedding", "{p}position_embeddings.weight"),
        R("embeddings.lang_embeddings.embedding", "{p}lang_embeddings.weight"),
        *_norm("embeddings.norm", "{p}layer_norm_emb"),
        *_linear("encoder.layers.attention.query", "{p}attentions.{i}.q_lin"),
        *_linear("encoder.layers.attention.key", "{p}attentions.{i}.k_lin"),
        *_linear("encoder.layers.attention.value", "{p}attentions.{i}.v_lin"),
        *_linear("encoder.layers.attention.out", "{p}attentions.{i}.out_lin"),
        *_norm("encoder.layers.attention_norm", "{p}layer_norm1.{i}"),
        *_linear("encoder.layers.mlp.fc_in", "{p}ffns.{i}.lin1"),
        *_linear("encoder.layers.mlp.fc_out", "{p}ffns.{i}.lin2"),
        *_norm("encoder.layers.mlp_norm", "{p}layer_norm2.{i}"),
    ]


HEAD_RULES: dict[str, list[Rule]] = {
    "XLMModel": [],
    "XLMWithLMHeadModel": _linear("pred_layer", "pred_layer.proj"),
    "XLMForSequenceClassification": _linear("sequence_summary.summary", "sequence_summary.summary"),
    "XLMForQuestionAnsweringSimple": _linear("qa_outputs.linear", "qa_outputs"),
    "XLMForQuestionAnswering": [
        *_linear("start_logits.dense", "qa_outputs.start_logits.dense"),
        *_linear("end_logits.dense_0", "qa_outputs.end_logits.dense_0"),
        *_norm("end_logits.norm", "qa_outputs.end_logits.LayerNorm"),
        *_linear("end_logits.dense_1", "qa_outputs.end_logits.dense_1"),
        *_linear("answer_class.dense_0", "qa_outputs.answer_class.dense_0"),
        *_linear("answer_class.dense_1", "qa_outputs.answer_class.dense_1", bias=False),
    ],
    "XLMForTokenClassification": _linear("classifier.linear", "classifier"),
    "XLMForMultipleChoice": [
        *_linear("sequence_summary.summary", "sequence_summary.summary"),
        *_linear("logits_proj", "logits_proj"),
    ],
}


def rules_for(architecture: str, key_prefix: str) -> list[Rule]:
    """Every rule of ``architecture`` with ``{p}`` filled in and encoder targets under ``transformer.``."""
    return model_rules(ARCHITECTURES[architecture], encoder_rules(), HEAD_RULES[architecture], key_prefix)


def key_prefix(keys: Iterable[str]) -> str:
    """``"transformer."`` when the encoder keys carry the head prefix, else ``""``."""
    return "transformer." if any(k.startswith("transformer.") for k in keys) else ""


def architecture_of(hf_config: dict[str, Any], keys: Iterable[str]) -> str:
    """The checkpoint's class: from config.json, else a bare model (with its LM projection if stored)."""
    keys = set(keys)
    bare = "XLMWithLMHeadModel" if "pred_layer.proj.bias" in keys else "XLMModel"
    return architecture_from(hf_config, keys, HEAD_RULES, "XLM", "transformer.", bare)


def structure_of(
    architecture: str, keys: Iterable[str], reader: CheckpointReader | ArrayReader | None = None
) -> dict[str, Any]:
    """``untied_decoder`` when the file's LM projection differs from the word embeddings (transformers
    5 then keeps it instead of tying; an equal copy, as original checkpoints store, is tied)."""
    keys = set(keys)
    if "pred_layer.proj.weight" not in keys or reader is None:
        return {"untied_decoder": False}
    embeddings = "transformer.embeddings.weight"
    if embeddings not in keys:
        return {"untied_decoder": False}  # the projection is the only copy: it fills the embeddings
    if reader.shape(embeddings) != reader.shape("pred_layer.proj.weight"):
        return {"untied_decoder": True}
    return {"untied_decoder": not np.array_equal(reader.read(embeddings), reader.read("pred_layer.proj.weight"))}


def allow_unused(key: str) -> bool:
    """Buffers some writers include. ``pred_layer.proj.weight`` is tied to the word embeddings
    when ``tie_word_embeddings`` (transformers then ignores a stored copy too)."""
    return key.endswith("position_ids") or key == "pred_layer.proj.weight"  # consumed by the rule when untied


def check_config(config: XLMConfig, source: str) -> None:
    """Warn when a checkpoint named like a causal LM (``clm``) is configured bidirectional."""
    warn_if_clm_not_causal(config, source)


CONFIG_CLASS = XLMConfig
