"""Text generation with XLM, the way transformers generates with it, compiled as one program.

transformers (``XLMWithLMHeadModel.prepare_inputs_for_generation``) appends ``config.mask_token_id``
to the sequence at every step, runs the whole sequence again with ``langs`` filled with
``config.lang_id``, and predicts the next token at the mask position. Here the whole decoding loop
is one ``jax.jit`` program (a ``lax.while_loop``): it compiles once per prompt shape and settings,
and no step recompiles.

- Causal models use a fixed-size key/value cache: the prompt and the mask are encoded once, then
  each step feeds only ``[newest token, mask]`` (the mask's key/value slot is overwritten by the real
  token one step later). The tokens are the same as without the cache.
- Bidirectional models cannot cache (every state changes when a token is added): each step
  re-encodes a fixed-length buffer of ``prompt + max_new_tokens + 1`` positions whose tail is
  masked out, which gives the same states as the unpadded sequence.
"""

import functools
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mluke_jax import validation as v

if TYPE_CHECKING:
    from mluke_jax.models.xlm_heads import XLMWithLMHeadModel

_NO_EOS = -1  # sentinel: "use config.eos_token_id"


def _filter_logits(logits: jax.Array, temperature: float, top_k: int | None, top_p: float) -> jax.Array:
    """transformers' sampling warpers in their order: temperature, top-k, top-p (nucleus)."""
    logits = logits / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p < 1.0:
        order = jnp.argsort(logits, axis=-1)  # ascending, as transformers sorts
        sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
        cumulative = jnp.cumsum(jax.nn.softmax(sorted_logits, axis=-1), axis=-1)
        remove_sorted = cumulative <= 1 - top_p
        remove_sorted = remove_sorted.at[:, -1].set(False)  # always keep the most likely token
        remove = jnp.zeros_like(remove_sorted).at[jnp.arange(logits.shape[0])[:, None], order].set(remove_sorted)
        logits = jnp.where(remove, -jnp.inf, logits)
    return logits


def _choose(logits: jax.Array, key: jax.Array, step: jax.Array, sampling: tuple | None) -> jax.Array:
    """Next token per row: argmax (greedy), or a sample from the filtered distribution."""
    logits = logits.astype(jnp.float32)
    if sampling is None:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    temperature, top_k, top_p = sampling
    filtered = _filter_logits(logits, temperature, top_k, top_p)
    return jax.random.categorical(jax.random.fold_in(key, step), filtered, axis=-1).astype(jnp.int32)


@functools.partial(
    jax.jit,
    static_argnames=(
        "graphdef",
        "prompt_length",
        "max_new_tokens",
        "cached",
        "sampling",
        "mask_id",
        "eos_id",
        "pad_id",
    ),
)
def _decode(
    graphdef, state, prompt, langs, key, *, prompt_length, max_new_tokens, cached, sampling, mask_id, eos_id, pad_id
):
    """Returns the ``(B, P + max_new_tokens)`` token buffer and the number of steps taken."""
    model = nnx.merge(graphdef, state)
    encoder = model.transformer
    # Slice every layer's weights out of the stack once, not at every step (measured: the per-step
    # slices copied all weights and made a batch-1 step 6x slower).
    layers = encoder.encoder.unstack()
    batch = prompt.shape[0]
    total = prompt_length + max_new_tokens  # the last step's mask sits at total - 1
    tokens = jnp.full((batch, total), mask_id, jnp.int32).at[:, :prompt_length].set(prompt)
    mask_column = jnp.full((batch, 1), mask_id, jnp.int32)

    def finish(token, done):
        if eos_id is None:
            return token, done
        token = jnp.where(done, pad_id, token)
        return token, done | (token == eos_id)

    if cached:
        cache = encoder.init_cache(batch, total)
        first = jnp.concatenate([prompt, mask_column], axis=1)
        states, cache = encoder.forward_cached(
            first, None if langs is None else langs[:, : prompt_length + 1], jnp.int32(0), cache, layers
        )
        last_states = states[:, -1]
    else:
        cache = None

        def states_at(tokens, step):
            position = prompt_length + step
            visible = jnp.arange(total)[None, :] <= position
            out = encoder.forward(
                input_ids=jnp.where(visible, tokens, pad_id),
                attention_mask=jnp.broadcast_to(visible, (batch, total)),
                langs=langs,
                unstacked_layers=layers,
            )
            return jax.lax.dynamic_index_in_dim(out.last_hidden_state, position, axis=1, keepdims=False)

        last_states = states_at(tokens, 0)

    token, done = finish(_choose(model.logits(last_states), key, jnp.int32(0), sampling), jnp.zeros((batch,), bool))
    tokens = tokens.at[:, prompt_length].set(token)

    def cond(carry):
        step, _, done, _ = carry
        return (step < max_new_tokens) & ~jnp.all(done)

    def body(carry):
        step, tokens, done, cache = carry
        position = prompt_length + step  # where this step's mask sits
        if cached:
            newest = jax.lax.dynamic_slice_in_dim(tokens, position - 1, 1, axis=1)
            pair = jnp.concatenate([newest, mask_column], axis=1)
            pair_langs = None if langs is None else jax.lax.dynamic_slice_in_dim(langs, position - 1, 2, axis=1)
            states, cache = encoder.forward_cached(pair, pair_langs, position - 1, cache, layers)
            states = states[:, 1]
        else:
            states = states_at(tokens, step)
        token, done = finish(_choose(model.logits(states), key, step, sampling), done)
        tokens = jax.lax.dynamic_update_slice_in_dim(tokens, token[:, None], position, axis=1)
        return step + 1, tokens, done, cache

    steps, tokens, _, _ = jax.lax.while_loop(cond, body, (jnp.int32(1), tokens, done, cache))
    return tokens, steps


def _language_buffer(config, langs: Any, batch: int, prompt_length: int, total: int) -> np.ndarray | None:
    """``(B, total)`` language ids: one language for everything, or the prompt's with new positions
    taking each row's last prompt language."""
    if langs is None:
        if config.lang_id is None:
            return None
        langs = config.lang_id
    if isinstance(langs, (str, int, np.integer)) and not isinstance(langs, bool):
        return np.full((batch, total), config.language_id(langs), np.int32)
    arr = v.to_array("langs", langs, "int")
    v.check_shape("langs", arr, (batch, prompt_length), "(batch, prompt length) of input_ids")
    v.check_range("langs", arr, 0, config.n_langs, f"the languages (n_langs={config.n_langs})")
    return np.concatenate([arr, np.repeat(arr[:, -1:], total - prompt_length, axis=1)], axis=1)


def generate(
    model: "XLMWithLMHeadModel",
    input_ids: Any,
    *,
    langs: Any = None,
    max_new_tokens: int = 20,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = 50,
    top_p: float = 1.0,
    seed: int = 0,
    use_cache: bool | None = None,
    eos_token_id: int | None = _NO_EOS,
    pad_token_id: int | None = None,
) -> np.ndarray:
    """Generate up to ``max_new_tokens`` tokens after ``input_ids`` with an ``XLMWithLMHeadModel``.

    Args:
        model: an ``XLMWithLMHeadModel``.
        input_ids: ``(B, P)`` prompts of one length, without padding.
        langs: a language code or id for every position, or ``(B, P)`` ids (new positions take each
            row's last one). Default ``config.lang_id``, which is all transformers ever uses:
            it ignores a ``langs`` passed to ``generate``.
        max_new_tokens: tokens to add; ``P + max_new_tokens`` must fit in the position table.
        do_sample: sample (with ``temperature``, ``top_k``, ``top_p``, transformers' defaults) instead
            of greedy decoding. Samples come from JAX's PRNG with ``seed``: the same seed gives the
            same text, but not the text torch would sample.
        use_cache: decode with a key/value cache; default (and only possible) for causal models.
        eos_token_id: a row that produces it is finished and continues with ``pad_token_id``;
            decoding stops when every row is finished. Default ``config.eos_token_id``; None never stops.
        pad_token_id: default ``config.pad_token_id``.

    Returns:
        ``(B, P + n)`` int32 numpy array, prompts included, ``n <= max_new_tokens``.
    """
    config = model.config
    ids = v.to_array("input_ids", input_ids, "int")
    v.check_ndim("input_ids", ids, 2, "(batch, prompt length)")
    if v.is_traced(ids):
        raise ValueError("generate runs its own compiled loop; call it with concrete input_ids, not inside jit")
    batch, prompt_length = ids.shape
    if batch == 0 or prompt_length == 0:
        raise ValueError(f"input_ids is empty: shape {ids.shape}")
    v.check_range("input_ids", ids, 0, config.vocab_size, "the vocabulary")
    if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    pad_id = config.pad_token_id if pad_token_id is None else int(pad_token_id)
    if (ids == config.pad_token_id).any():
        raise ValueError(
            f"input_ids contains the pad token {config.pad_token_id}: generate takes unpadded prompts of one length "
            "(XLM's padding is positional, so padded prompts would be read wrongly)"
        )
    total = prompt_length + max_new_tokens
    if total > config.max_position_embeddings:
        raise ValueError(
            f"prompt length {prompt_length} + max_new_tokens {max_new_tokens} exceed "
            f"max_position_embeddings={config.max_position_embeddings}"
        )
    mask_id = config.mask_token_id
    if mask_id is None or not 0 <= mask_id < config.vocab_size:
        raise ValueError(
            f"config.mask_token_id {mask_id} is not a token id: XLM generation predicts at an appended mask token"
        )
    if mask_id == config.pad_token_id:
        raise ValueError(
            f"config.mask_token_id equals pad_token_id ({mask_id}): transformers would treat the appended mask as "
            "padding"
        )
    if not 0 <= pad_id < config.vocab_size:
        raise ValueError(f"pad_token_id {pad_id} is outside the vocabulary (size {config.vocab_size})")
    cached = config.causal if use_cache is None else bool(use_cache)
    if cached and not config.causal:
        raise ValueError(
            "use_cache=True needs a causal model (config.causal); bidirectional states change with every new token"
        )
    eos_id = config.eos_token_id if eos_token_id == _NO_EOS else eos_token_id
    if eos_id is not None and not 0 <= eos_id < config.vocab_size:
        raise ValueError(f"eos_token_id {eos_id} is outside the vocabulary (size {config.vocab_size})")
    sampling = None
    if do_sample:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        sampling = (float(temperature), None if top_k is None else int(top_k), float(top_p))
    langs_buffer = _language_buffer(config, langs, batch, prompt_length, total)  # checked even when unused
    if not config.has_lang_embeddings:
        langs_buffer = None
    graphdef, state = nnx.split(model)
    tokens, steps = _decode(
        graphdef,
        state,
        jnp.asarray(ids),
        None if langs_buffer is None else jnp.asarray(langs_buffer),
        jax.random.key(seed),
        prompt_length=prompt_length,
        max_new_tokens=int(max_new_tokens),
        cached=cached,
        sampling=sampling,
        mask_id=int(mask_id),
        eos_id=None if eos_id is None else int(eos_id),
        pad_id=pad_id,
    )
    return np.asarray(tokens)[:, : prompt_length + int(steps)]
