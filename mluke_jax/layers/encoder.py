"""Post-LayerNorm transformer layer and the scanned stack of them."""

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from mluke_jax.layers.attention import SelfAttention
from mluke_jax.layers.common import Array, layer_norm
from mluke_jax.layers.dropout import dropout, fold_key
from mluke_jax.layers.feedforward import FeedForward
from mluke_jax.layers.linear import CAST_KERNEL


@dataclasses.dataclass(frozen=True, kw_only=True)
class LayerSpec:
    """Dimensions and options of one encoder layer (all layers of a stack share them)."""

    hidden_size: int
    num_heads: int
    intermediate_size: int
    activation: str
    layer_norm_eps: float
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0
    entity_aware_weights: bool = False
    scale_queries: bool = False
    dtype: object = jnp.float32
    param_dtype: object = jnp.float32


class TransformerLayer(nnx.Module):
    """``x = LN(x + drop(attn(x)))`` then ``x = LN(x + drop(ffn(x)))`` (BERT/RoBERTa/LUKE/XLM order)."""

    def __init__(self, spec: LayerSpec, *, rngs: nnx.Rngs):
        kw = dict(dtype=spec.dtype, param_dtype=spec.param_dtype, rngs=rngs)
        tables = dict(param_dtype=spec.param_dtype, rngs=rngs)  # embeddings and LayerNorms compute in float32
        self.hidden_dropout = spec.hidden_dropout
        self.attention = SelfAttention(
            spec.hidden_size,
            spec.num_heads,
            entity_aware_weights=spec.entity_aware_weights,
            attention_dropout=spec.attention_dropout,
            scale_queries=spec.scale_queries,
            **kw,
        )
        self.attention_norm = layer_norm(spec.hidden_size, spec.layer_norm_eps, **tables)
        self.mlp = FeedForward(spec.hidden_size, spec.intermediate_size, spec.activation, **kw)
        self.mlp_norm = layer_norm(spec.hidden_size, spec.layer_norm_eps, **tables)

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
        """``(B, T, D) -> (B, T, D)``, plus the ``(B, H, T, S)`` attention probabilities and the updated cache."""
        attended, probs, cache = self.attention(
            x,
            bias,
            num_words=num_words,
            entity_aware=entity_aware,
            dropout_key=fold_key(dropout_key, 0),
            cache=cache,
            cache_index=cache_index,
        )
        x = self.attention_norm(x + dropout(attended, self.hidden_dropout, fold_key(dropout_key, 1)))
        x = self.mlp_norm(x + dropout(self.mlp(x), self.hidden_dropout, fold_key(dropout_key, 2)))
        return x, probs, cache


class Encoder(nnx.Module):
    """``num_layers`` identical layers, stored stacked (leading ``layers`` axis) and run with ``lax.scan``.

    With ``unroll=1`` compile time does not grow with depth; ``unroll=True`` (or N) runs all (N)
    layers per scan iteration, as straight-line code (see ``scan_unroll`` in the configs).
    ``remat=True`` recomputes each layer's activations in the backward pass instead of storing them.
    """

    def __init__(
        self, spec: LayerSpec, num_layers: int, *, remat: bool = False, unroll: int | bool = 1, rngs: nnx.Rngs
    ):
        self.num_layers = num_layers
        self.remat = remat
        self.unroll = unroll

        @nnx.vmap(in_axes=0, out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
        def build(layer_rngs):
            return TransformerLayer(spec, rngs=layer_rngs)

        self.layers = build(rngs.split(num_layers))

    def __call__(
        self,
        x: Array,
        bias: Array | None,
        *,
        num_words: int,
        entity_aware: bool = False,
        dropout_key: Array | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        output_mask: Array | None = None,
        cache: tuple[Array, Array] | list | None = None,
        cache_index: Array | None = None,
        unstacked: list[TransformerLayer] | None = None,
    ) -> tuple[Array, Array | None, Array | None, tuple[Array, Array] | None]:
        """Run the stack.

        Args:
            output_mask: ``(B, T, 1)`` multiplied into every layer's output (XLM zeroes padding).
            cache: stacked ``(N, B, S_max, H, K)`` keys and values for incremental decoding, or with
                ``unstacked`` a list of per-layer ``(B, S_max, H, K)`` pairs.
            cache_index: scalar cache position of ``x``'s first row.
            unstacked: the layers from :meth:`unstack`, run in a Python loop (evaluation only).

        Returns:
            the final ``(B, T, D)`` states; if asked, the ``(N, B, T, D)`` output of every layer and
            the ``(N, B, H, T, S)`` attention probabilities of every layer; the updated cache.
        """
        if unstacked is not None:
            return self._run_unstacked(unstacked, x, bias, num_words, output_mask, cache, cache_index)
        graphdef, stacked = nnx.split(self.layers)
        keys = None if dropout_key is None else jax.random.split(dropout_key, self.num_layers)

        def body(h, layer_inputs):
            layer_state, key, layer_cache = layer_inputs
            layer = nnx.merge(graphdef, layer_state)
            h, probs, layer_cache = layer(
                h,
                bias,
                num_words=num_words,
                entity_aware=entity_aware,
                dropout_key=key,
                cache=layer_cache,
                cache_index=cache_index,
            )
            if output_mask is not None:
                h = h * output_mask.astype(h.dtype)
            return h, (h if output_hidden_states else None, probs if output_attentions else None, layer_cache)

        if self.remat:
            body = jax.checkpoint(body, policy=jax.checkpoint_policies.nothing_saveable)
        else:
            # Everything is saved for the backward pass but the kernels' compute-dtype copies: the
            # backward casts the float32 slice (a scan input, saved anyway) again. Saving the copies
            # makes the scan stack them per layer, which costs XLA:CPU more than the cast; casting
            # once before the scan instead would cost every forward an extra pass over the weights.
            body = jax.checkpoint(
                body, policy=jax.checkpoint_policies.save_anything_except_these_names(CAST_KERNEL), prevent_cse=False
            )
        x, (states, attentions, cache) = jax.lax.scan(body, x, (stacked, keys, cache), unroll=self.unroll)
        return x, states, attentions, cache

    def unstack(self) -> list[TransformerLayer]:
        """The layers as separate modules (each weight sliced out of the stack once).

        Inside a loop that runs the stack many times on a few tokens (decoding), slicing the stacked
        weights at every step copies all of them each time; slice once, outside the loop, instead.
        """
        graphdef, stacked = nnx.split(self.layers)
        return [nnx.merge(graphdef, jax.tree.map(lambda a, i=i: a[i], stacked)) for i in range(self.num_layers)]

    @staticmethod
    def _run_unstacked(layers, x, bias, num_words, output_mask, cache, cache_index):
        new_cache = [] if cache is not None else None
        for i, layer in enumerate(layers):
            x, _, layer_cache = layer(
                x, bias, num_words=num_words, cache=None if cache is None else cache[i], cache_index=cache_index
            )
            if output_mask is not None:
                x = x * output_mask.astype(x.dtype)
            if new_cache is not None:
                new_cache.append(layer_cache)
        return x, None, None, new_cache
