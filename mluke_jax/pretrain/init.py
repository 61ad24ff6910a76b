"""Starting points of an mLUKE pretraining run, as the released models were made.

:func:`luke_from_xlm_roberta` fills the word side of a ``LukeForMaskedLM`` (word, position and
token-type embeddings, every encoder layer, the MLM head) from an ``XLMRobertaForMaskedLM``
checkpoint (a transformers directory or hub name; English LUKE starts from ``RobertaForMaskedLM``
the same way) and initialises the entity side fresh for the corpus's entity vocabulary: entity
embeddings of ``entity_emb_size`` with their projection, entity position and token-type
embeddings, the entity prediction head. Word ids the tokenizer added after the checkpoint's
vocabulary (mLUKE's ``<ent>``, ``<ent2>``) get copies of the rows of the tokens given (the
original conversion copies ``@`` and ``#``). With no entities in the input, the model's word
logits are the checkpoint's.

:func:`entity_aware_queries_from_word_queries` copies every layer's word query projection into its
``w2e``/``e2w``/``e2e`` projections (pretraining runs without entity-aware attention; the original
conversion does this so that the checkpoint loads with either setting).
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from flax import nnx

from mluke_jax.checkpoint import abstract_params, flatten, update_params
from mluke_jax.config import LukeConfig, read_config_dict
from mluke_jax.hf import luke as luke_table
from mluke_jax.hf.hub import resolve_source
from mluke_jax.hf.readers import CheckpointReader
from mluke_jax.hf.rules import Rule, fill_params, linear_rules, norm_rules
from mluke_jax.models.luke_heads import LukeForMaskedLM

SOURCE_TYPES = {"xlm-roberta": "roberta.", "roberta": "roberta.", "bert": "bert."}
_WORD_SIDE = ("luke.embeddings.", "luke.encoder.layers.", "lm_head.")
_ENTITY_AWARE = ("w2e_query", "e2w_query", "e2e_query")


def _word_rules(prefix: str) -> list[Rule]:
    encoder = [
        Rule("luke." + r.target, tuple(s.replace("{p}", prefix) for s in r.sources), r.transform)
        for r in luke_table.encoder_rules()
    ]
    head = [
        *linear_rules("lm_head.dense", "lm_head.dense"),
        *norm_rules("lm_head.layer_norm", "lm_head.layer_norm"),
        Rule.make("lm_head.decoder.bias", ("lm_head.decoder.bias", "lm_head.bias")),
    ]
    return encoder + head


def _is_word_side(name: str) -> bool:
    return name.startswith(_WORD_SIDE) and not any(part in name for part in _ENTITY_AWARE)


def luke_config_from(
    source_config: dict[str, Any],
    entity_vocab_size: int,
    *,
    vocab_size: int | None = None,
    entity_emb_size: int = 256,
    entity_aware_query_weights: bool | None = None,
    **changes: Any,
) -> LukeConfig:
    """An mLUKE config with the dimensions of an (XLM-)RoBERTa config.json and an entity side
    (``changes``: more config.json keys)."""
    keys = (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "max_position_embeddings",
        "type_vocab_size",
        "initializer_range",
        "layer_norm_eps",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
    )
    values = {k: source_config[k] for k in keys if k in source_config}
    return LukeConfig.from_hf_dict(
        {
            **values,
            "model_type": "luke",
            "architectures": ["LukeForMaskedLM"],
            "vocab_size": vocab_size or source_config["vocab_size"],
            "entity_vocab_size": entity_vocab_size,
            "entity_emb_size": entity_emb_size,
            "use_entity_aware_attention": False,
            "bert_model_name": source_config.get("_name_or_path", source_config.get("model_type")),
            **changes,
        },
        entity_aware_query_weights=entity_aware_query_weights,
    )


def luke_from_xlm_roberta(
    source: str | os.PathLike,
    entity_vocab_size: int,
    *,
    vocab_size: int | None = None,
    extra_token_sources: Sequence[int] = (),
    entity_emb_size: int = 256,
    entity_aware_query_weights: bool = True,
    seed: int = 0,
    revision: str | None = None,
    progress: bool = True,
    **runtime: Any,
) -> LukeForMaskedLM:
    """A ``LukeForMaskedLM`` whose word side is the checkpoint's (see the module docstring).

    ``vocab_size``: the tokenizer's (``len(MLukeTokenizer)``), at least the checkpoint's; the ids
    past the checkpoint's vocabulary take the rows of ``extra_token_sources`` (one id each).
    ``entity_aware_query_weights``: create the ``w2e``/``e2w``/``e2e`` projections (copies of
    the word queries) so that the result also loads with entity-aware attention. ``runtime``:
    ``dtype``, ``remat``, ... of the built model.
    """
    path = resolve_source(source, revision)
    source_config = read_config_dict(path / "config.json")
    model_type = source_config.get("model_type")
    if model_type not in SOURCE_TYPES:
        raise ValueError(
            f"{path}: model_type {model_type!r} is not a word encoder an mLUKE can start from ({sorted(SOURCE_TYPES)})"
        )
    base_vocab = int(source_config["vocab_size"])
    vocab_size = vocab_size or base_vocab
    added = vocab_size - base_vocab
    if added < 0:
        raise ValueError(f"vocab_size {vocab_size} is smaller than the checkpoint's vocabulary ({base_vocab})")
    if len(extra_token_sources) != added:
        raise ValueError(
            f"the tokenizer has {added} ids past the checkpoint's {base_vocab}: give as many extra_token_sources "
            f"(ids whose rows they copy, e.g. those of '@' and '#' for <ent> and <ent2>), not "
            f"{len(extra_token_sources)}"
        )
    config = luke_config_from(
        source_config,
        entity_vocab_size,
        entity_emb_size=entity_emb_size,
        vocab_size=base_vocab,
        entity_aware_query_weights=entity_aware_query_weights,
    )
    targets = {k: v for k, v in abstract_params(LukeForMaskedLM.abstract(config)).items() if _is_word_side(k)}
    reader = CheckpointReader(path)
    prefix = SOURCE_TYPES[model_type]
    word_side = fill_params(
        targets,
        _word_rules(prefix),
        reader,
        num_layers=config.num_hidden_layers,
        dtype=np.float32,
        allow_unused=lambda key: (
            key.endswith("position_ids") or key.startswith(f"{prefix}pooler.") or key == "lm_head.decoder.weight"
        ),
        progress=progress,
    )
    if added:
        for name in ("luke.embeddings.word_embeddings.embedding", "lm_head.decoder.bias"):
            table = word_side[name]
            word_side[name] = np.concatenate([table, table[list(extra_token_sources)]], axis=0)
        config = config.replace(vocab_size=vocab_size)
    model = LukeForMaskedLM.build(config.replace(**runtime), seed=seed)
    update_params(model, word_side)
    if entity_aware_query_weights:
        entity_aware_queries_from_word_queries(model)
    return model


def entity_aware_queries_from_word_queries(model: Any) -> None:
    """Copy each layer's ``query`` kernel and bias into its ``w2e``/``e2w``/``e2e`` queries (in place)."""
    params = flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    copies = {}
    for name, value in params.items():
        if ".attention.query." in name:
            for other in _ENTITY_AWARE:
                target = name.replace(".attention.query.", f".attention.{other}.")
                if target in params:
                    copies[target] = np.asarray(value)
    if not copies:
        raise ValueError(f"{type(model).__name__} has no entity-aware query projections to fill")
    update_params(model, copies)
