"""LUKE / mLUKE: XLM-R style word encoder with entity embeddings and entity-aware self-attention."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import jax.numpy as jnp
from flax import nnx

from mluke_jax import validation as v
from mluke_jax.config import LukeConfig
from mluke_jax.layers.common import Array, additive_mask
from mluke_jax.layers.dropout import fold_key
from mluke_jax.layers.embeddings import EntityEmbeddings, WordEmbeddings, padding_aware_positions, sequential_positions
from mluke_jax.layers.encoder import Encoder, LayerSpec
from mluke_jax.layers.heads import Pooler
from mluke_jax.modeling import PreTrainedModel
from mluke_jax.outputs import BaseLukeModelOutputWithPooling

# The encoder inputs, in transformers' order: how each is converted and how many trailing axes
# one example has (multiple choice flattens the rest).
LUKE_INPUTS = MappingProxyType(
    {
        "input_ids": v.InputSpec("int", 1),
        "attention_mask": v.InputSpec("float", 1),
        "token_type_ids": v.InputSpec("int", 1),
        "position_ids": v.InputSpec("int", 1),
        "entity_ids": v.InputSpec("int", 1),
        "entity_attention_mask": v.InputSpec("float", 1),
        "entity_token_type_ids": v.InputSpec("int", 1),
        "entity_position_ids": v.InputSpec("int", 2),
        "inputs_embeds": v.InputSpec("float", 2),
    }
)


def check_luke_inputs(
    config: LukeConfig, raw: dict[str, Any], *, min_entities: int = 0, head: str = "LukeModel"
) -> dict[str, Any]:
    """Convert and check the LUKE inputs; returns arrays (numpy, or tracers as given) keyed by name.

    Raises ``ValueError`` naming the argument for: a missing or doubled word input, wrong ranks or
    mismatched batch/length shapes, ids outside the word / entity / token-type vocabularies, a row
    longer than the position table allows, entity arguments without ``entity_ids`` (or
    ``entity_ids`` without ``entity_position_ids``), mention positions outside the word sequence,
    and fewer entities than ``head`` needs.
    """
    a = {name: v.to_array(name, raw.get(name), spec.kind) for name, spec in LUKE_INPUTS.items()}
    ids, embeds = a["input_ids"], a["inputs_embeds"]
    if (ids is None) == (embeds is None):
        raise ValueError("pass exactly one of input_ids and inputs_embeds")
    if ids is not None:
        v.check_ndim("input_ids", ids, 2, "(batch, length)")
        batch, length = ids.shape
    else:
        v.check_ndim("inputs_embeds", embeds, 3, "(batch, length, hidden_size)")
        batch, length = embeds.shape[:2]
        if embeds.shape[2] != config.hidden_size:
            raise ValueError(f"inputs_embeds has hidden size {embeds.shape[2]}, the model has {config.hidden_size}")
    if batch == 0 or length == 0:
        raise ValueError(f"{'input_ids' if ids is not None else 'inputs_embeds'} is empty: shape {(batch, length)}")
    for name in ("attention_mask", "token_type_ids", "position_ids"):
        v.check_shape(name, a[name], (batch, length), "(batch, length) of input_ids")
    v.check_range("input_ids", ids, 0, config.vocab_size, "the word vocabulary")
    v.check_range("token_type_ids", a["token_type_ids"], 0, config.type_vocab_size, "the token types (type_vocab_size)")
    if a["position_ids"] is not None:
        v.check_range("position_ids", a["position_ids"], 0, config.max_position_embeddings, "the position table")
    elif ids is not None and not v.is_traced(ids):
        longest = int((ids != config.pad_token_id).sum(axis=1).max())
        if longest > config.max_word_length:
            raise ValueError(
                f"input_ids has a row of {longest} tokens; the model allows at most {config.max_word_length} "
                f"(max_position_embeddings={config.max_position_embeddings}, positions start at pad_token_id + 1)"
            )
    elif embeds is not None and length > config.max_word_length:
        raise ValueError(f"inputs_embeds has length {length}; the model allows at most {config.max_word_length}")

    entity_ids = a["entity_ids"]
    if entity_ids is None:
        given = [
            n for n in ("entity_attention_mask", "entity_token_type_ids", "entity_position_ids") if a[n] is not None
        ]
        if given:
            raise ValueError(f"{given[0]} was given without entity_ids")
        if min_entities:
            raise ValueError(f"{head} needs entity_ids (and entity_position_ids) for at least {min_entities} entities")
        return a
    v.check_ndim("entity_ids", entity_ids, 2, "(batch, entities)")
    num_entities = entity_ids.shape[1]
    if entity_ids.shape[0] != batch:
        raise ValueError(f"entity_ids has batch size {entity_ids.shape[0]}, input_ids has {batch}")
    if num_entities < min_entities:
        raise ValueError(f"{head} needs at least {min_entities} entities per example, entity_ids has {num_entities}")
    if a["entity_position_ids"] is None:
        raise ValueError(
            "entity_ids needs entity_position_ids: (batch, entities, mention_length) token indices padded with -1"
        )
    positions = a["entity_position_ids"]
    v.check_ndim("entity_position_ids", positions, 3, "(batch, entities, mention_length)")
    if positions.shape[:2] != (batch, num_entities):
        raise ValueError(
            f"entity_position_ids has shape {tuple(positions.shape)}; its first two axes must match entity_ids "
            f"{(batch, num_entities)}"
        )
    for name in ("entity_attention_mask", "entity_token_type_ids"):
        v.check_shape(name, a[name], (batch, num_entities), "(batch, entities) of entity_ids")
    v.check_range("entity_ids", entity_ids, 0, config.entity_vocab_size, "the entity vocabulary")
    v.check_range(
        "entity_token_type_ids",
        a["entity_token_type_ids"],
        0,
        config.type_vocab_size,
        "the token types (type_vocab_size)",
    )
    v.check_range(
        "entity_position_ids",
        positions,
        0,
        min(length, config.max_position_embeddings),
        "the word sequence",
        allowed=(-1,),
    )
    return a


class LukePreTrainedModel(PreTrainedModel):
    """Common parts of ``LukeModel`` and the LUKE heads: config class, inputs and their checks."""

    config_class: ClassVar[type] = LukeConfig
    base_model_prefix: ClassVar[str] = "luke"
    encoder_inputs: ClassVar[Mapping[str, v.InputSpec]] = LUKE_INPUTS
    # Least number of entities the head reads (entity / pair / span heads).
    min_entities: ClassVar[int] = 0

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        return check_luke_inputs(self.config, raw, min_entities=self.min_entities, head=type(self).__name__)


class LukeModel(LukePreTrainedModel):
    """The bare LUKE encoder: word states, entity states and the pooled first token.

    Args:
        config: the model configuration (``config.add_pooling_layer`` decides on the pooler).
        rngs: initialisation keys.
    """

    has_head = False

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        self.config = config
        kw = dict(dtype=config.compute_dtype, param_dtype=config.params_dtype, rngs=rngs)
        self.embeddings = WordEmbeddings(
            config.vocab_size,
            config.hidden_size,
            config.max_position_embeddings,
            config.type_vocab_size,
            config.layer_norm_eps,
            padding_idx=config.pad_token_id,
            dropout_rate=config.hidden_dropout_prob,
            param_dtype=config.params_dtype,
            rngs=rngs,
        )
        self.entity_embeddings = EntityEmbeddings(
            config.entity_vocab_size,
            config.entity_emb_size,
            config.hidden_size,
            config.max_position_embeddings,
            config.type_vocab_size,
            config.layer_norm_eps,
            padding_idx=config.entity_padding_idx,
            dropout_rate=config.hidden_dropout_prob,
            **kw,
        )
        spec = LayerSpec(
            hidden_size=config.hidden_size,
            num_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            activation=config.hidden_act,
            layer_norm_eps=config.layer_norm_eps,
            hidden_dropout=config.hidden_dropout_prob,
            attention_dropout=config.attention_probs_dropout_prob,
            entity_aware_weights=config.has_entity_aware_query_weights,
            dtype=config.compute_dtype,
            param_dtype=config.params_dtype,
        )
        self.encoder = Encoder(spec, config.num_hidden_layers, remat=config.remat, unroll=config.scan_unroll, rngs=rngs)
        self.pooler = Pooler(config.hidden_size, **kw) if config.add_pooling_layer else None

    def forward(
        self,
        input_ids: Array | None = None,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        position_ids: Array | None = None,
        entity_ids: Array | None = None,
        entity_attention_mask: Array | None = None,
        entity_token_type_ids: Array | None = None,
        entity_position_ids: Array | None = None,
        inputs_embeds: Array | None = None,
        *,
        dropout_key: Array | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseLukeModelOutputWithPooling:
        """Encode words ``(B, L)`` and entities ``(B, E)`` (traceable; no input checks).

        Returns ``last_hidden_state`` ``(B, L, D)``, ``entity_last_hidden_state`` ``(B, E, D)`` (None
        without entities), ``pooler_output`` ``(B, D)``, and per layer, if asked, ``hidden_states``,
        ``entity_hidden_states`` and ``attentions`` ``(B, H, L + E, L + E)``.
        """
        config = self.config
        if input_ids is not None:
            batch, length = input_ids.shape
        else:
            batch, length = inputs_embeds.shape[:2]
        if position_ids is None:
            if input_ids is not None:
                position_ids = padding_aware_positions(input_ids, config.pad_token_id)
            else:
                position_ids = sequential_positions(batch, length, config.pad_token_id + 1)
        if token_type_ids is None:
            token_type_ids = jnp.zeros((batch, length), jnp.int32)
        x = self.embeddings(
            input_ids, position_ids, token_type_ids, inputs_embeds=inputs_embeds, dropout_key=fold_key(dropout_key, 1)
        )

        padded = attention_mask is not None or entity_attention_mask is not None
        mask = attention_mask if attention_mask is not None else jnp.ones((batch, length), jnp.float32)
        has_entities = entity_ids is not None
        if has_entities:
            num_entities = entity_ids.shape[1]
            if entity_token_type_ids is None:
                entity_token_type_ids = jnp.zeros((batch, num_entities), jnp.int32)
            entities = self.entity_embeddings(
                entity_ids, entity_position_ids, entity_token_type_ids, dropout_key=fold_key(dropout_key, 2)
            )
            x = jnp.concatenate([x, entities.astype(x.dtype)], axis=1)
            entity_mask = (
                entity_attention_mask
                if entity_attention_mask is not None
                else jnp.ones((batch, num_entities), jnp.float32)
            )
            mask = jnp.concatenate([mask, entity_mask], axis=1)

        embedded = x
        x, layer_states, layer_attentions, _ = self.encoder(
            x,
            additive_mask(mask) if padded else None,
            num_words=length,
            entity_aware=config.use_entity_aware_attention,
            dropout_key=fold_key(dropout_key, 3),
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )

        hidden_states = entity_hidden_states = attentions = None
        if output_hidden_states:
            every = [embedded] + [layer_states[i] for i in range(config.num_hidden_layers)]
            hidden_states = tuple(h[:, :length] for h in every)
            if has_entities:
                entity_hidden_states = tuple(h[:, length:] for h in every)
        if output_attentions:
            attentions = tuple(layer_attentions[i] for i in range(config.num_hidden_layers))
        words = x[:, :length]
        return BaseLukeModelOutputWithPooling(
            last_hidden_state=words,
            pooler_output=self.pooler(words) if self.pooler is not None else None,
            hidden_states=hidden_states,
            attentions=attentions,
            entity_last_hidden_state=x[:, length:] if has_entities else None,
            entity_hidden_states=entity_hidden_states,
        )
