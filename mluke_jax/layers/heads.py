"""Task-head layers shared by the models: masked-LM decoders, entity prediction, classifiers, pooler."""

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from mluke_jax import losses
from mluke_jax.activations import activation
from mluke_jax.layers.common import Array, layer_norm, normal_init
from mluke_jax.layers.dropout import dropout
from mluke_jax.layers.linear import Dense, einsum
from mluke_jax.sharding import padded_param_init, padded_size


class Pooler(nnx.Module):
    """``tanh(dense(h[:, 0]))``: ``(B, L, D) -> (B, D)``."""

    def __init__(
        self, hidden_size: int, *, dtype: DTypeLike = jnp.float32, param_dtype: DTypeLike = jnp.float32, rngs: nnx.Rngs
    ):
        self.dense = Dense(
            hidden_size, hidden_size, ("embed", "hidden"), dtype=dtype, param_dtype=param_dtype, rngs=rngs
        )

    def __call__(self, hidden_states: Array) -> Array:
        return jnp.tanh(self.dense(hidden_states[:, 0]))


class Decoder(nnx.Module):
    """Projection to a vocabulary: its own ``(in, V)`` kernel, or tied to an embedding table (``x @ table.T``).

    The bias is a separate ``(V,)`` parameter in both cases (transformers ties ``decoder.bias`` to
    the head's ``bias``). Built under a mesh, the kernel and bias (and a tied table) may be padded
    past ``V`` to divide over the vocabulary's mesh axis; the logits are cut back to ``V``.
    """

    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        axes: tuple[str, str],
        *,
        tied: bool,
        use_bias: bool = True,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.dtype = dtype
        self.vocab_size = vocab_size
        padded = padded_size(vocab_size, axes[1])
        if tied:
            self.kernel = None
        else:
            init = padded_param_init(normal_init(0.02), axes, (in_features, vocab_size))
            self.kernel = nnx.Param(init(rngs.params(), (in_features, padded), param_dtype))
        if use_bias:
            init = padded_param_init(nnx.initializers.zeros_init(), axes[1:], (vocab_size,))
            self.bias = nnx.Param(init(rngs.params(), (padded,), param_dtype))
        else:
            self.bias = None

    def __call__(self, x: Array, table: Array | None) -> Array:
        """``(..., in) -> (..., V)``; ``table`` is the ``(V, in)`` embedding (maybe padded) when tied."""
        if self.kernel is None:
            if table is None:
                raise ValueError("a tied decoder needs its embedding table")
            out = einsum("...d,vd->...v", x, table, dtype=self.dtype, out_dtype=jnp.float32)
        else:
            out = einsum("...d,dv->...v", x, self.kernel[...], dtype=self.dtype, out_dtype=jnp.float32)
        if self.bias is not None:
            out = out + self.bias[...].astype(jnp.float32)
        out = out.astype(self.dtype)
        return out[..., : self.vocab_size]  # padding columns (if any) cut off before any loss


class MaskedLMHead(nnx.Module):
    """RoBERTa LM head: ``decoder(LN(gelu(dense(h))))``; gelu is the exact erf form whatever the config says."""

    def __init__(
        self,
        hidden_size: int,
        vocab_size: int,
        layer_norm_eps: float,
        *,
        tied: bool,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        tables = dict(param_dtype=param_dtype, rngs=rngs)  # embeddings and LayerNorms compute in float32
        self.dense = Dense(hidden_size, hidden_size, ("embed", "hidden"), **kw)
        self.layer_norm = layer_norm(hidden_size, layer_norm_eps, **tables)
        self.decoder = Decoder(hidden_size, vocab_size, ("embed", "vocab"), tied=tied, **kw)

    def __call__(self, hidden_states: Array, word_table: Array | None) -> Array:
        """``(B, L, D) -> (B, L, V)``."""
        x = self.layer_norm(jax.nn.gelu(self.dense(hidden_states), approximate=False))
        return self.decoder(x, word_table)


class EntityPredictionHead(nnx.Module):
    """LUKE masked-entity prediction: ``decoder(LN(act(dense(h))))`` in the entity embedding space.

    ``(B, E, D) -> (B, E, Ev)``. transformers' decoder Linear is bias-free and the head adds its
    own ``bias`` after it; here that bias is the decoder's ``bias`` parameter.
    """

    def __init__(
        self,
        hidden_size: int,
        entity_emb_size: int,
        entity_vocab_size: int,
        act: str,
        layer_norm_eps: float,
        *,
        tied: bool,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        tables = dict(param_dtype=param_dtype, rngs=rngs)  # embeddings and LayerNorms compute in float32
        self.act_name = act
        self.dense = Dense(hidden_size, entity_emb_size, ("embed", "entity_embed"), **kw)
        self.layer_norm = layer_norm(entity_emb_size, layer_norm_eps, "entity_embed", **tables)
        self.decoder = Decoder(entity_emb_size, entity_vocab_size, ("entity_embed", "entity_vocab"), tied=tied, **kw)

    def __call__(self, entity_states: Array, entity_table: Array | None) -> Array:
        x = self.layer_norm(activation(self.act_name)(self.dense(entity_states)))
        return self.decoder(x, entity_table)


class Classifier(nnx.Module):
    """``linear(dropout(features))``: ``(..., in) -> (..., C)``."""

    def __init__(
        self,
        in_features: int,
        num_labels: int,
        dropout_rate: float,
        *,
        use_bias: bool = True,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.dropout_rate = dropout_rate
        self.linear = Dense(
            in_features,
            num_labels,
            ("embed", "classes"),
            use_bias=use_bias,
            dtype=dtype,
            param_dtype=param_dtype,
            rngs=rngs,
        )

    def __call__(self, features: Array, dropout_key: Array | None = None) -> Array:
        return self.linear(dropout(features, self.dropout_rate, dropout_key))


def extractive_qa(
    qa_outputs: Classifier, hidden_states: Array, start_positions: Array | None, end_positions: Array | None
) -> tuple[Array, Array, Array | None]:
    """Start / end logits ``(B, L)`` from a 2-class linear layer, and the span loss when positions are given."""
    logits = qa_outputs(hidden_states)
    start_logits, end_logits = logits[..., 0], logits[..., 1]
    loss = None
    if start_positions is not None and end_positions is not None:
        loss = losses.span_extraction_loss(start_logits, end_logits, start_positions, end_positions)
    return start_logits, end_logits, loss


class SequenceSummary(nnx.Module):
    """One vector per sequence (transformers' ``SequenceSummary``): ``(B, L, D) -> (B, P)``.

    Picks the ``first`` / ``last`` token, the ``mean`` over all positions (padding included, as in
    transformers) or the token at ``cls_index`` (default: the last); then dropout, an optional
    projection to ``proj_size``, an optional activation and a second dropout.
    """

    def __init__(
        self,
        hidden_size: int,
        summary_type: str,
        proj_size: int | None,
        proj_axes: tuple[str, str],
        act: str | None,
        first_dropout: float,
        last_dropout: float,
        *,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.summary_type = summary_type
        self.act_name = None if act in (None, "linear") else act
        self.first_dropout = first_dropout
        self.last_dropout = last_dropout
        self.summary = (
            Dense(hidden_size, proj_size, proj_axes, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
            if proj_size
            else None
        )

    def __call__(self, hidden_states: Array, cls_index: Array | None = None, dropout_key: Array | None = None) -> Array:
        if self.summary_type == "first":
            x = hidden_states[:, 0]
        elif self.summary_type == "last":
            x = hidden_states[:, -1]
        elif self.summary_type == "mean":
            x = hidden_states.mean(axis=1)
        else:  # cls_index
            if cls_index is None:
                x = hidden_states[:, -1]
            else:
                x = jnp.take_along_axis(hidden_states, cls_index.reshape(-1, 1, 1).astype(jnp.int32), axis=1)[:, 0]
        x = dropout(x, self.first_dropout, None if dropout_key is None else jax.random.fold_in(dropout_key, 0))
        if self.summary is not None:
            x = self.summary(x)
        if self.act_name is not None:
            x = activation(self.act_name)(x)
        return dropout(x, self.last_dropout, None if dropout_key is None else jax.random.fold_in(dropout_key, 1))
