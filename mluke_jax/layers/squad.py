"""The layers of XLM's SQuAD head (XLNet style): start logits, end logits given a start, answerability."""

import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from mluke_jax.layers.common import Array, layer_norm
from mluke_jax.layers.linear import Dense


def apply_p_mask(logits: Array, p_mask: Array | None) -> Array:
    """transformers' ``x * (1 - p_mask) - 1e30 * p_mask`` (float32)."""
    logits = logits.astype(jnp.float32)
    if p_mask is None:
        return logits
    return logits * (1 - p_mask) - 1e30 * p_mask


def gather_positions(hidden_states: Array, positions: Array) -> Array:
    """``(B, L, D)`` and ``(B, K)`` -> ``(B, K, D)``."""
    return jnp.take_along_axis(hidden_states, positions[..., None].astype(jnp.int32), axis=1)


class SquadStartLogits(nnx.Module):
    """``dense(h)``: ``(B, L, D) -> (B, L)`` start logits."""

    def __init__(
        self, hidden_size: int, *, dtype: DTypeLike = jnp.float32, param_dtype: DTypeLike = jnp.float32, rngs: nnx.Rngs
    ):
        self.dense = Dense(hidden_size, 1, ("embed", None), dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, hidden_states: Array, p_mask: Array | None) -> Array:
        return apply_p_mask(self.dense(hidden_states)[..., 0], p_mask)


class SquadEndLogits(nnx.Module):
    """``dense_1(LN(tanh(dense_0([h; start]))))``: ``(..., D)`` pairs -> ``(...)`` end logits."""

    def __init__(
        self,
        hidden_size: int,
        layer_norm_eps: float,
        *,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        tables = dict(param_dtype=param_dtype, rngs=rngs)  # embeddings and LayerNorms compute in float32
        self.dense_0 = Dense(2 * hidden_size, hidden_size, ("mlp", "embed"), **kw)
        self.norm = layer_norm(hidden_size, layer_norm_eps, **tables)
        self.dense_1 = Dense(hidden_size, 1, ("embed", None), **kw)

    def __call__(self, hidden_states: Array, start_states: Array, p_mask: Array | None) -> Array:
        x = self.norm(jnp.tanh(self.dense_0(jnp.concatenate([hidden_states, start_states], axis=-1))))
        return apply_p_mask(self.dense_1(x)[..., 0], p_mask)


class SquadAnswerClass(nnx.Module):
    """``dense_1(tanh(dense_0([start; cls])))`` (no bias on ``dense_1``): ``(B, D)`` pairs -> ``(B,)``."""

    def __init__(
        self, hidden_size: int, *, dtype: DTypeLike = jnp.float32, param_dtype: DTypeLike = jnp.float32, rngs: nnx.Rngs
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.dense_0 = Dense(2 * hidden_size, hidden_size, ("mlp", "embed"), **kw)
        self.dense_1 = Dense(hidden_size, 1, ("embed", None), use_bias=False, **kw)

    def __call__(self, hidden_states: Array, start_states: Array, cls_index: Array | None) -> Array:
        if cls_index is None:
            cls_states = hidden_states[:, -1]  # transformers: the last position (a pad in padded rows)
        else:
            cls_states = gather_positions(hidden_states, cls_index.reshape(-1, 1))[:, 0]
        x = jnp.tanh(self.dense_0(jnp.concatenate([start_states, cls_states], axis=-1)))
        return self.dense_1(x)[..., 0].astype(jnp.float32)
