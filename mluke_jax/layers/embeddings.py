"""Word and entity embeddings."""

import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import DTypeLike

from mluke_jax.layers.common import Array, FrozenParam, embedding, layer_norm, lookup
from mluke_jax.layers.dropout import dropout
from mluke_jax.layers.linear import Dense


def padding_aware_positions(input_ids: Array, pad_token_id: int) -> Array:
    """RoBERTa/LUKE positions: real tokens count up from ``pad + 1``, pads get ``pad``.

    ``(B, L) -> (B, L)``; a pad id in the middle of a row is skipped, left padding still starts
    the real tokens at ``pad + 1``.
    """
    real = (input_ids != pad_token_id).astype(jnp.int32)
    return jnp.cumsum(real, axis=1) * real + pad_token_id


def sequential_positions(batch: int, length: int, start: int) -> Array:
    """``(B, L)`` positions ``start .. start + L - 1`` (used when only ``inputs_embeds`` is given)."""
    return jnp.broadcast_to(jnp.arange(start, start + length, dtype=jnp.int32), (batch, length))


class WordEmbeddings(nnx.Module):
    """``LN(word[ids] + position[pos] + token_type[types])`` then dropout: ``(B, L) -> (B, L, D)``.

    ``padding_idx``: the word and position row of padding receive no gradient from lookups
    (transformers' ``padding_idx`` on both tables).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        max_positions: int,
        type_vocab_size: int,
        layer_norm_eps: float,
        *,
        padding_idx: int | None = None,
        dropout_rate: float = 0.0,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        tables = dict(param_dtype=param_dtype, rngs=rngs)  # embeddings and LayerNorms compute in float32
        self.dropout_rate = dropout_rate
        self.padding_idx = padding_idx
        self.word_embeddings = embedding(vocab_size, hidden_size, ("vocab", "embed"), **tables)
        self.position_embeddings = embedding(max_positions, hidden_size, ("positions", "embed"), **tables)
        self.token_type_embeddings = embedding(type_vocab_size, hidden_size, ("token_types", "embed"), **tables)
        self.norm = layer_norm(hidden_size, layer_norm_eps, **tables)

    def __call__(
        self,
        input_ids: Array | None,
        position_ids: Array,
        token_type_ids: Array,
        *,
        inputs_embeds: Array | None = None,
        dropout_key: Array | None = None,
    ) -> Array:
        words = lookup(self.word_embeddings, input_ids, self.padding_idx) if inputs_embeds is None else inputs_embeds
        x = (
            words
            + lookup(self.position_embeddings, position_ids, self.padding_idx)
            + lookup(self.token_type_embeddings, token_type_ids)
        )
        return dropout(self.norm(x), self.dropout_rate, dropout_key)


class EntityEmbeddings(nnx.Module):
    """LUKE entity embeddings: ``(B, E)`` entity ids and ``(B, E, M)`` mention positions -> ``(B, E, D)``.

    ``LN(proj(entity[id]) + mean_m position[pos_m] + token_type[type])`` then dropout. The mention
    positions are raw indices into ``input_ids`` (no pad offset), padded with -1; an entity's
    position embedding is the mean over its non-padded positions (zero if it has none). The
    projection ``entity_emb_size -> hidden_size`` (no bias) exists only when the sizes differ.
    ``padding_idx`` (transformers: 0) is the entity row that lookups do not train.
    """

    def __init__(
        self,
        entity_vocab_size: int,
        entity_emb_size: int,
        hidden_size: int,
        max_positions: int,
        type_vocab_size: int,
        layer_norm_eps: float,
        *,
        padding_idx: int | None = 0,
        dropout_rate: float = 0.0,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        tables = dict(param_dtype=param_dtype, rngs=rngs)  # embeddings and LayerNorms compute in float32
        self.dropout_rate = dropout_rate
        self.padding_idx = padding_idx
        self.entity_embeddings = embedding(
            entity_vocab_size, entity_emb_size, ("entity_vocab", "entity_embed"), **tables
        )
        if entity_emb_size != hidden_size:
            self.projection = Dense(entity_emb_size, hidden_size, ("entity_embed", "embed"), use_bias=False, **kw)
        else:
            self.projection = None
        self.position_embeddings = embedding(max_positions, hidden_size, ("positions", "embed"), **tables)
        self.token_type_embeddings = embedding(type_vocab_size, hidden_size, ("token_types", "embed"), **tables)
        self.norm = layer_norm(hidden_size, layer_norm_eps, **tables)

    def __call__(
        self,
        entity_ids: Array,
        entity_position_ids: Array,
        entity_token_type_ids: Array,
        *,
        dropout_key: Array | None = None,
    ) -> Array:
        entities = lookup(self.entity_embeddings, entity_ids, self.padding_idx)
        if self.projection is not None:
            entities = self.projection(entities)
        in_mention = (entity_position_ids != -1)[..., None]  # (B, E, M, 1)
        positions = jnp.where(in_mention, lookup(self.position_embeddings, entity_position_ids), 0)
        count = jnp.maximum(in_mention.sum(axis=-2).astype(positions.dtype), 1e-7)
        mean_position = positions.sum(axis=-2) / count
        x = entities + mean_position + lookup(self.token_type_embeddings, entity_token_type_ids)
        return dropout(self.norm(x), self.dropout_rate, dropout_key)


def sinusoidal_table(num_positions: int, dim: int) -> np.ndarray:
    """``(P, D)`` fixed position table of transformers' XLM: ``sin`` on even, ``cos`` on odd columns.

    Angle ``pos / 10000 ** (2 * (j // 2) / D)`` computed in float64, then cast to float32.
    """
    positions = np.arange(num_positions, dtype=np.float64)[:, None]
    columns = np.arange(dim)
    angles = positions / np.power(10000, 2 * (columns // 2) / dim)
    table = np.empty((num_positions, dim), np.float64)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table.astype(np.float32)


class XLMEmbeddings(nnx.Module):
    """XLM input embeddings: ``(B, L)`` ids -> ``(B, L, D)``.

    ``LN(word[ids] + position[pos] (+ lang[langs]) (+ word[token_type_ids]))`` then dropout, no
    scaling. Token types index the *word* table, as in transformers. The language table exists
    only for ``num_languages > 1``; a ``sinusoidal`` position table is a :class:`FrozenParam`
    holding the fixed sin/cos values (a checkpoint's values replace them on load).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        max_positions: int,
        num_languages: int,
        layer_norm_eps: float,
        *,
        sinusoidal: bool = False,
        padding_idx: int | None = None,
        dropout_rate: float = 0.0,
        embed_stddev: float = 0.02,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        tables = dict(param_dtype=param_dtype, rngs=rngs)  # embeddings and LayerNorms compute in float32
        self.dropout_rate = dropout_rate
        self.padding_idx = padding_idx
        self.word_embeddings = embedding(vocab_size, hidden_size, ("vocab", "embed"), stddev=embed_stddev, **tables)
        self.position_embeddings = embedding(
            max_positions, hidden_size, ("positions", "embed"), stddev=embed_stddev, **tables
        )
        if sinusoidal:
            table = self.position_embeddings.embedding
            self.position_embeddings.embedding = FrozenParam(
                jnp.asarray(sinusoidal_table(max_positions, hidden_size), param_dtype), **table.get_metadata()
            )
        if num_languages > 1:
            self.lang_embeddings = embedding(
                num_languages, hidden_size, ("languages", "embed"), stddev=embed_stddev, **tables
            )
        else:
            self.lang_embeddings = None
        self.norm = layer_norm(hidden_size, layer_norm_eps, **tables)

    def __call__(
        self,
        input_ids: Array | None,
        position_ids: Array,
        langs: Array | None = None,
        token_type_ids: Array | None = None,
        *,
        inputs_embeds: Array | None = None,
        dropout_key: Array | None = None,
    ) -> Array:
        x = lookup(self.word_embeddings, input_ids, self.padding_idx) if inputs_embeds is None else inputs_embeds
        x = x + lookup(self.position_embeddings, position_ids)
        if langs is not None and self.lang_embeddings is not None:
            x = x + lookup(self.lang_embeddings, langs)
        if token_type_ids is not None:
            x = x + lookup(self.word_embeddings, token_type_ids, self.padding_idx)
        return dropout(self.norm(x), self.dropout_rate, dropout_key)
