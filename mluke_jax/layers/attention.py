"""Multi-head self-attention, with LUKE's entity-aware queries as an option."""

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from mluke_jax.layers.common import Array
from mluke_jax.layers.dropout import dropout
from mluke_jax.layers.linear import Dense, einsum


class SelfAttention(nnx.Module):
    """Self-attention over the concatenated sequence ``[words; entities]`` of length ``T = L + E``.

    Plain attention projects every position with ``query``. Entity-aware attention (LUKE) picks the
    query projection by the (query type, key type) pair: word->word ``query``, word->entity
    ``w2e_query``, entity->word ``e2w_query``, entity->entity ``e2e_query``. It is computed as one
    attention: the scores against word keys and against entity keys are two blocks of one
    ``(B, H, T, T)`` matrix with a single softmax over all ``T`` keys.

    The entity-aware projections exist when ``entity_aware_weights`` is true, whether or not a call
    uses them (mLUKE-lite checkpoints carry them with plain attention).

    ``scale_queries`` divides the queries by ``sqrt(K)`` before the score matmul (XLM) instead of
    dividing the scores after it (BERT/LUKE); the two differ only in rounding.

    For incremental decoding a call may pass a key/value ``cache`` of ``S_max`` positions: the new
    positions' keys and values are written at ``cache_index`` and the queries attend over the whole
    cache (the caller's ``bias`` masks the positions not to be seen).
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        *,
        entity_aware_weights: bool = False,
        attention_dropout: float = 0.0,
        scale_queries: bool = False,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.attention_dropout = attention_dropout
        self.scale_queries = scale_queries
        self.dtype = dtype
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.query = Dense(hidden_size, hidden_size, ("embed", "heads"), **kw)
        self.key = Dense(hidden_size, hidden_size, ("embed", "heads"), **kw)
        self.value = Dense(hidden_size, hidden_size, ("embed", "heads"), **kw)
        if entity_aware_weights:
            self.w2e_query = Dense(hidden_size, hidden_size, ("embed", "heads"), **kw)
            self.e2w_query = Dense(hidden_size, hidden_size, ("embed", "heads"), **kw)
            self.e2e_query = Dense(hidden_size, hidden_size, ("embed", "heads"), **kw)
        else:
            self.w2e_query = self.e2w_query = self.e2e_query = None
        self.out = Dense(hidden_size, hidden_size, ("heads", "embed"), **kw)

    def _heads(self, x: Array) -> Array:
        """``(B, S, H*K)`` -> ``(B, S, H, K)``."""
        return x.reshape(*x.shape[:-1], self.num_heads, self.head_dim)

    def __call__(
        self,
        x: Array,
        bias: Array | None,
        *,
        num_words: int,
        entity_aware: bool = False,
        dropout_key: Array | None = None,
        cache: tuple[Array, Array] | None = None,
        cache_index: Array | None = None,
    ) -> tuple[Array, Array, tuple[Array, Array] | None]:
        """Attend over ``x``.

        Args:
            x: ``(B, T, D)`` word states followed by entity states.
            bias: ``(B, 1, 1, T)`` additive key mask (0 / float32 min) or None.
            num_words: ``L``, where the entity part of ``x`` starts.
            entity_aware: use the four query projections (needs ``entity_aware_weights``).
            dropout_key: key for dropout on the attention probabilities; None in evaluation.
            cache: ``(B, S_max, H, K)`` keys and values of earlier positions (plain attention only).
            cache_index: scalar position in the cache of ``x``'s first row.

        Returns:
            ``(B, T, D)`` output projection of the attended values, the ``(B, H, T, S)`` float32
            attention probabilities (after dropout, as transformers returns them; ``S = T``, or
            ``S_max`` with a cache) and the updated cache (None without one).
        """
        k = self._heads(self.key(x))
        v = self._heads(self.value(x))
        if cache is not None:
            if entity_aware:
                raise ValueError("a key/value cache is only supported for plain attention")
            start = (0, cache_index, 0, 0)
            k = jax.lax.dynamic_update_slice(cache[0], k.astype(cache[0].dtype), start)
            v = jax.lax.dynamic_update_slice(cache[1], v.astype(cache[1].dtype), start)
            cache = (k, v)
        has_entities = x.shape[1] > num_words
        scores_dtype = dict(dtype=self.dtype, out_dtype=jnp.float32)  # scores, softmax and probabilities stay float32
        if entity_aware and has_entities:
            if self.w2e_query is None:
                raise ValueError("entity-aware attention needs the w2e/e2w/e2e query weights")
            words, entities = x[:, :num_words], x[:, num_words:]
            # Queries that meet word keys, and queries that meet entity keys, for all T positions.
            q_to_words = self._heads(jnp.concatenate([self.query(words), self.e2w_query(entities)], axis=1))
            q_to_entities = self._heads(jnp.concatenate([self.w2e_query(words), self.e2e_query(entities)], axis=1))
            scores = jnp.concatenate(
                [
                    einsum("BTHK,BLHK->BHTL", q_to_words, k[:, :num_words], **scores_dtype),
                    einsum("BTHK,BEHK->BHTE", q_to_entities, k[:, num_words:], **scores_dtype),
                ],
                axis=-1,
            )
        elif self.scale_queries:
            q = self._heads(self.query(x))
            q = q / jnp.asarray(math.sqrt(self.head_dim), q.dtype)
            scores = einsum("BTHK,BSHK->BHTS", q, k, **scores_dtype)
        else:
            q = self._heads(self.query(x))
            scores = einsum("BTHK,BSHK->BHTS", q, k, **scores_dtype)
        if not self.scale_queries:
            scores = scores / math.sqrt(self.head_dim)
        if bias is not None:
            scores = scores + bias
        probs = dropout(jax.nn.softmax(scores, axis=-1), self.attention_dropout, dropout_key)
        context = einsum("BHTS,BSHK->BTHK", probs, v, dtype=self.dtype)
        context = context.reshape(*context.shape[:2], self.num_heads * self.head_dim)
        return self.out(context), probs, cache
