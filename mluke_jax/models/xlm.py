"""XLM: post-norm transformer encoder with learned or sinusoidal positions and language embeddings."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from flax import nnx

from mluke_jax import validation as v
from mluke_jax.config import XLMConfig
from mluke_jax.layers.common import Array, additive_mask
from mluke_jax.layers.dropout import fold_key
from mluke_jax.layers.embeddings import XLMEmbeddings
from mluke_jax.layers.encoder import Encoder, LayerSpec
from mluke_jax.modeling import PreTrainedModel
from mluke_jax.outputs import BaseModelOutput
from mluke_jax.warn import warn

# The encoder inputs, in transformers' order: how each is converted and how many trailing axes
# one example has (multiple choice flattens the rest).
XLM_INPUTS = MappingProxyType(
    {
        "input_ids": v.InputSpec("int", 1),
        "attention_mask": v.InputSpec("float", 1),
        "langs": v.InputSpec("int", 1),
        "token_type_ids": v.InputSpec("int", 1),
        "position_ids": v.InputSpec("int", 1),
        "lengths": v.InputSpec("int", 0),
        "inputs_embeds": v.InputSpec("float", 2),
    }
)


def language_ids(config: XLMConfig, langs: Any, shape: tuple[int, int]) -> Any:
    """``langs`` as given (an array), or a language code / id broadcast to ``shape``."""
    if isinstance(langs, str) or isinstance(langs, (int, np.integer)) and not isinstance(langs, bool):
        return np.full(shape, config.language_id(langs), np.int32)
    return langs


def check_xlm_inputs(config: XLMConfig, raw: dict[str, Any]) -> dict[str, Any]:
    """Convert and check the XLM inputs; returns arrays (numpy, or tracers as given) keyed by name.

    ``langs`` may also be a language code (``"en"``) or id for the whole batch. Raises
    ``ValueError`` naming the argument for: a missing or doubled word input, wrong shapes, ids
    outside the vocabulary, language ids outside ``n_langs`` or names not in ``lang2id``, a sequence
    longer than ``max_position_embeddings``, and ``lengths`` larger than the sequence.
    """
    ids, embeds = raw.get("input_ids"), raw.get("inputs_embeds")
    ids = v.to_array("input_ids", ids, "int")
    embeds = v.to_array("inputs_embeds", embeds, "float")
    if (ids is None) == (embeds is None):
        raise ValueError("pass exactly one of input_ids and inputs_embeds")
    if ids is not None:
        v.check_ndim("input_ids", ids, 2, "(batch, length)")
        batch, length = ids.shape
    else:
        v.check_ndim("inputs_embeds", embeds, 3, "(batch, length, emb_dim)")
        batch, length = embeds.shape[:2]
        if embeds.shape[2] != config.emb_dim:
            raise ValueError(f"inputs_embeds has hidden size {embeds.shape[2]}, the model has emb_dim {config.emb_dim}")
    if batch == 0 or length == 0:
        raise ValueError(f"{'input_ids' if ids is not None else 'inputs_embeds'} is empty: shape {(batch, length)}")
    raw = dict(raw, langs=language_ids(config, raw.get("langs"), (batch, length)))
    a = {
        name: v.to_array(name, raw.get(name), spec.kind)
        for name, spec in XLM_INPUTS.items()
        if name not in ("input_ids", "inputs_embeds")
    }
    a["input_ids"], a["inputs_embeds"] = ids, embeds
    for name in ("attention_mask", "langs", "token_type_ids", "position_ids"):
        v.check_shape(name, a[name], (batch, length), "(batch, length) of input_ids")
    v.check_range("input_ids", ids, 0, config.vocab_size, "the vocabulary")
    v.check_range(
        "token_type_ids",
        a["token_type_ids"],
        0,
        config.vocab_size,
        "the vocabulary (XLM looks token types up in the word table)",
    )
    v.check_range("langs", a["langs"], 0, config.n_langs, f"the languages (n_langs={config.n_langs})")
    if a["position_ids"] is not None:
        v.check_range("position_ids", a["position_ids"], 0, config.max_position_embeddings, "the position table")
    elif length > config.max_position_embeddings:
        raise ValueError(
            f"the sequence has {length} tokens; the model allows at most "
            f"max_position_embeddings={config.max_position_embeddings}"
        )
    lengths = a["lengths"]
    if lengths is not None:
        v.check_shape("lengths", lengths, (batch,), "(batch,)")
        v.check_range("lengths", lengths, 0, length + 1, f"the sequence length (input_ids has {length} tokens)")
    return a


def warn_if_clm_not_causal(config: XLMConfig, name: str) -> None:
    """The hub configs of the xlm-clm-* checkpoints say ``causal: false``; transformers (and this
    package, for parity) then runs them bidirectionally. Say so when a name looks like a causal LM."""
    parts = str(name).replace("\\", "/").lower().split("/")
    if any("clm" in part for part in parts) and not config.causal:
        warn(
            f"{name} looks like a causal LM (clm) but its config says causal=false, so it runs with bidirectional "
            "attention as in transformers; pass causal=True to from_pretrained to run it causally"
        )


class XLMPreTrainedModel(PreTrainedModel):
    """Common parts of ``XLMModel`` and the XLM heads: config class, inputs and their checks."""

    config_class: ClassVar[type] = XLMConfig
    base_model_prefix: ClassVar[str] = "transformer"
    encoder_inputs: ClassVar[Mapping[str, v.InputSpec]] = XLM_INPUTS

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        return check_xlm_inputs(self.config, raw)


def causal_bias(query_positions: Array, key_positions: Array) -> Array:
    """``(1, 1, Q, S)`` additive bias: a query sees keys at its own position and before."""
    visible = key_positions[None, :] <= query_positions[:, None]
    return jnp.where(visible, 0.0, jnp.finfo(jnp.float32).min).astype(jnp.float32)[None, None]


class XLMModel(XLMPreTrainedModel):
    """The bare XLM encoder: ``(B, L)`` ids -> ``last_hidden_state`` ``(B, L, D)``.

    As transformers computes it: positions from 0, language embeddings added when ``n_langs > 1``
    and ``use_lang_emb``, token types looked up in the word table, LayerNorm after the sum,
    post-norm layers with queries scaled before the score matmul, bidirectional attention over the
    non-padded tokens or causal attention (which ignores padding), and hidden states multiplied by
    the padding mask after the embeddings and after every layer. ``lengths`` ``(B,)`` replaces
    ``attention_mask`` and implies right padding; with neither, padding is ``input_ids == pad_index``
    counted as a right-padded length.

    Args:
        config: the model configuration.
        rngs: initialisation keys.
    """

    has_head = False

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.embeddings = XLMEmbeddings(
            config.vocab_size,
            config.emb_dim,
            config.max_position_embeddings,
            config.n_langs if config.has_lang_embeddings else 0,
            config.layer_norm_eps,
            sinusoidal=config.sinusoidal_embeddings,
            padding_idx=config.pad_token_id,
            dropout_rate=config.dropout,
            embed_stddev=config.embed_init_std,
            param_dtype=config.params_dtype,
            rngs=rngs,
        )
        spec = LayerSpec(
            hidden_size=config.emb_dim,
            num_heads=config.n_heads,
            intermediate_size=config.intermediate_size,
            activation=config.hidden_act,
            layer_norm_eps=config.layer_norm_eps,
            hidden_dropout=config.dropout,
            attention_dropout=config.attention_dropout,
            scale_queries=True,
            dtype=config.compute_dtype,
            param_dtype=config.params_dtype,
        )
        self.encoder = Encoder(spec, config.n_layers, remat=config.remat, unroll=config.scan_unroll, rngs=rngs)

    def padding_mask(
        self, input_ids: Array | None, attention_mask: Array | None, lengths: Array | None, batch: int, length: int
    ) -> Array:
        """``(B, L)`` boolean mask of real tokens (transformers' ``get_masks``)."""
        if attention_mask is not None:
            return attention_mask != 0
        if lengths is None:
            if input_ids is None:
                return jnp.ones((batch, length), bool)
            lengths = (input_ids != self.config.pad_token_id).sum(axis=1)
        return jnp.arange(length)[None, :] < lengths[:, None]

    def forward(
        self,
        input_ids: Array | None = None,
        attention_mask: Array | None = None,
        langs: Array | None = None,
        token_type_ids: Array | None = None,
        position_ids: Array | None = None,
        lengths: Array | None = None,
        inputs_embeds: Array | None = None,
        *,
        dropout_key: Array | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        unstacked_layers: list | None = None,
    ) -> BaseModelOutput:
        """Encode ``(B, L)`` tokens (traceable; no input checks).

        Returns ``last_hidden_state`` ``(B, L, D)`` and, if asked, ``hidden_states`` (the embedding
        output and every layer's, ``N + 1`` of ``(B, L, D)``) and ``attentions`` (``N`` of
        ``(B, H, L, L)``).
        """
        config = self.config
        batch, length = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        mask = self.padding_mask(input_ids, attention_mask, lengths, batch, length)
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))
        keep = mask[..., None]
        x = self.embeddings(
            input_ids,
            position_ids,
            langs,
            token_type_ids,
            inputs_embeds=inputs_embeds,
            dropout_key=fold_key(dropout_key, 1),
        )
        x = x * keep.astype(x.dtype)
        positions = jnp.arange(length)
        bias = causal_bias(positions, positions) if config.causal else additive_mask(mask)
        embedded = x
        x, layer_states, layer_attentions, _ = self.encoder(
            x,
            bias,
            num_words=length,
            dropout_key=fold_key(dropout_key, 3),
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            output_mask=keep,
            unstacked=unstacked_layers,
        )
        hidden_states = attentions = None
        if output_hidden_states:
            hidden_states = (embedded,) + tuple(layer_states[i] for i in range(config.n_layers))
        if output_attentions:
            attentions = tuple(layer_attentions[i] for i in range(config.n_layers))
        return BaseModelOutput(last_hidden_state=x, hidden_states=hidden_states, attentions=attentions)

    # ------------------------------------------------------------ incremental decoding
    def init_cache(self, batch: int, max_length: int) -> list[tuple[Array, Array]]:
        """Zeroed keys and values, one ``(B, S_max, H, K)`` pair per layer, for :meth:`forward_cached`."""
        c = self.config
        shape = (batch, max_length, c.n_heads, c.head_dim)
        return [(jnp.zeros(shape, c.compute_dtype), jnp.zeros(shape, c.compute_dtype)) for _ in range(c.n_layers)]

    def forward_cached(
        self, input_ids: Array, langs: Array | None, start: Array, cache: list, layers: list
    ) -> tuple[Array, list]:
        """Causal decoding step: ``(B, T)`` new tokens at positions ``start .. start + T - 1``.

        ``layers`` is ``self.encoder.unstack()`` (sliced once, outside the decoding loop). The new
        keys and values are written into ``cache`` at those positions; each new token attends to the
        cached positions before it and to itself, exactly as a full causal forward over the whole
        prefix would (no padding, evaluation mode). Returns the ``(B, T, D)`` states and the cache.
        """
        if not self.config.causal:
            raise ValueError("a key/value cache needs a causal model: bidirectional states change with every new token")
        batch, length = input_ids.shape
        positions = start + jnp.arange(length, dtype=jnp.int32)
        x = self.embeddings(input_ids, jnp.broadcast_to(positions, (batch, length)), langs)
        bias = causal_bias(positions, jnp.arange(cache[0][0].shape[1]))
        x, _, _, cache = self.encoder(x, bias, num_words=length, cache=cache, cache_index=start, unstacked=layers)
        return x, cache
