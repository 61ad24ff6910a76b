"""XLM task heads under their transformers class names, with the same inputs, outputs and losses."""

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from mluke_jax import losses
from mluke_jax import outputs as o
from mluke_jax import validation as v
from mluke_jax.config import XLMConfig
from mluke_jax.layers.common import Array, layer_norm
from mluke_jax.layers.dropout import fold_key
from mluke_jax.layers.heads import Classifier, Decoder, SequenceSummary, extractive_qa
from mluke_jax.layers.linear import Dense
from mluke_jax.models.xlm import (
    XLM_INPUT_KINDS,
    XLM_INPUTS,
    XLMModel,
    XLMPreTrainedModel,
    check_xlm_inputs,
    encoder_kwargs,
    language_ids,
)
from mluke_jax.warn import warn

HEAD_DROPOUT_TAG = 100  # fold_key tag of every head's dropout


def _kw(config: XLMConfig) -> dict[str, Any]:
    return dict(dtype=config.compute_dtype, param_dtype=config.params_dtype)


def _batch_length(arrays: dict[str, Any]) -> tuple[int, int]:
    x = arrays["input_ids"] if arrays["input_ids"] is not None else arrays["inputs_embeds"]
    return x.shape[0], x.shape[1]


def _layer_outputs(out: o.BaseModelOutput) -> dict[str, Any]:
    return dict(hidden_states=out.hidden_states, attentions=out.attentions)


class _XLMHead(XLMPreTrainedModel):
    """An XLM encoder (``self.transformer``) with a head; subclasses add the head and its labels."""

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.transformer = XLMModel(config, rngs=rngs)

    def encode(
        self, arrays: dict[str, Any], dropout_key, output_attentions: bool, output_hidden_states: bool
    ) -> o.BaseModelOutput:
        return self.transformer.forward(
            **encoder_kwargs(arrays),
            dropout_key=fold_key(dropout_key, 0),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )


def _summary_size(config: XLMConfig) -> int | None:
    if not config.summary_use_proj:
        return None
    return config.num_labels if config.summary_proj_to_labels and config.num_labels > 0 else config.emb_dim


def _sequence_summary(config: XLMConfig, rngs: nnx.Rngs) -> SequenceSummary:
    size = _summary_size(config)
    return SequenceSummary(
        config.emb_dim,
        config.summary_type,
        size,
        ("embed", "classes" if size != config.emb_dim else "hidden"),
        config.summary_activation,
        config.summary_first_dropout,
        config.summary_last_dropout or 0.0,
        **_kw(config),
        rngs=rngs,
    )


class XLMWithLMHeadModel(_XLMHead):
    """Language modelling: ``logits`` ``(B, L, V)`` from a projection tied to the word embeddings.

    The projection has its own bias; with ``tie_word_embeddings=False`` it also has its own weight.
    ``labels`` ``(B, L)`` (-100 ignored) give the plain, unshifted cross entropy (as transformers
    computes it, whatever its docstring says). :meth:`generate` decodes as transformers does.
    Adaptive softmax (``asm=True``) is refused: transformers' implementation of it is broken and no
    released checkpoint uses it.
    """

    input_names = XLM_INPUTS + ("labels",)

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        if config.asm:
            raise NotImplementedError(
                "XLMWithLMHeadModel with asm=True (adaptive softmax) is not supported: transformers' own "
                "implementation is broken and no released XLM checkpoint uses it"
            )
        super().__init__(config, rngs=rngs)
        self.pred_layer = Decoder(
            config.emb_dim, config.vocab_size, ("embed", "vocab"), tied=config.decoder_tied, **_kw(config), rngs=rngs
        )

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        a["labels"] = v.to_array("labels", raw.get("labels"), "int")
        v.check_shape("labels", a["labels"], _batch_length(a), "(batch, length)")
        v.check_class_labels("labels", a["labels"], self.config.vocab_size)
        return a

    def logits(self, hidden_states: Array) -> Array:
        """``(..., D) -> (..., V)``."""
        return self.pred_layer(hidden_states, self.transformer.embeddings.word_embeddings.embedding[...])

    def forward(self, labels=None, *, dropout_key=None, output_attentions=False, output_hidden_states=False, **inputs):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        logits = self.logits(out.last_hidden_state)
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return o.MaskedLMOutput(loss=loss, logits=logits, **_layer_outputs(out))

    def generate(
        self,
        input_ids,
        *,
        langs=None,
        max_new_tokens: int = 20,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = 50,
        top_p: float = 1.0,
        seed: int = 0,
        use_cache: bool | None = None,
        eos_token_id: int | None = -1,
        pad_token_id: int | None = None,
    ):
        """Generate ``max_new_tokens`` tokens after ``input_ids``, the way transformers does for XLM.

        See :func:`mluke_jax.generation.generate` for the arguments and what differs.
        """
        from mluke_jax import generation

        return generation.generate(
            self,
            input_ids,
            langs=langs,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            use_cache=use_cache,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
        )


class XLMForSequenceClassification(_XLMHead):
    """Classify (or regress) the sequence summary (``config.summary_type``): ``logits`` ``(B, C)``.

    Loss by ``config.problem_type``, inferred as transformers does when unset: one label ->
    regression (MSE), integer labels -> cross entropy, otherwise multi-label BCE.
    """

    input_names = XLM_INPUTS + ("labels",)

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.sequence_summary = _sequence_summary(config, rngs)

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        labels = a["labels"] = v.to_array("labels", raw.get("labels"), "label")
        if labels is not None:
            problem = losses.problem_type_of(self.config.problem_type, self.config.num_labels, labels)
            v.check_sequence_labels(labels, _batch_length(a)[0], self.config.num_labels, problem)
        return a

    def forward(self, labels=None, *, dropout_key=None, output_attentions=False, output_hidden_states=False, **inputs):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        logits = self.sequence_summary(out.last_hidden_state, dropout_key=fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = None
        if labels is not None:
            problem = losses.problem_type_of(self.config.problem_type, self.config.num_labels, labels)
            loss = losses.sequence_classification_loss(logits, labels, problem, self.config.num_labels)
        return o.SequenceClassifierOutput(loss=loss, logits=logits, **_layer_outputs(out))


class XLMForQuestionAnsweringSimple(_XLMHead):
    """Extractive QA: ``start_logits`` / ``end_logits`` ``(B, L)`` from one linear layer; num_labels must be 2."""

    input_names = XLM_INPUTS + ("start_positions", "end_positions")

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        if config.num_labels != 2:
            raise ValueError(
                f"XLMForQuestionAnsweringSimple needs num_labels=2 (start and end), got {config.num_labels}"
            )
        super().__init__(config, rngs=rngs)
        self.qa_outputs = Classifier(config.emb_dim, 2, 0.0, **_kw(config), rngs=rngs)

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        a.update(v.span_positions(raw, _batch_length(a)[0]))
        return a

    def forward(
        self,
        start_positions=None,
        end_positions=None,
        *,
        dropout_key=None,
        output_attentions=False,
        output_hidden_states=False,
        **inputs,
    ):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        start_logits, end_logits, loss = extractive_qa(
            self.qa_outputs, out.last_hidden_state, start_positions, end_positions
        )
        return o.QuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits, **_layer_outputs(out)
        )


def _apply_p_mask(logits: Array, p_mask: Array | None) -> Array:
    """transformers' ``x * (1 - p_mask) - 1e30 * p_mask`` (float32)."""
    logits = logits.astype(jnp.float32)
    if p_mask is None:
        return logits
    return logits * (1 - p_mask) - 1e30 * p_mask


def _gather_positions(hidden_states: Array, positions: Array) -> Array:
    """``(B, L, D)`` and ``(B, K)`` -> ``(B, K, D)``."""
    return jnp.take_along_axis(hidden_states, positions[..., None].astype(jnp.int32), axis=1)


class SquadStartLogits(nnx.Module):
    """``dense(h)``: ``(B, L, D) -> (B, L)`` start logits."""

    def __init__(self, hidden_size: int, *, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.dense = Dense(hidden_size, 1, ("embed", None), dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, hidden_states: Array, p_mask: Array | None) -> Array:
        return _apply_p_mask(self.dense(hidden_states)[..., 0], p_mask)


class SquadEndLogits(nnx.Module):
    """``dense_1(LN(tanh(dense_0([h; start]))))``: ``(..., D)`` pairs -> ``(...)`` end logits."""

    def __init__(
        self, hidden_size: int, layer_norm_eps: float, *, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        tables = dict(param_dtype=param_dtype, rngs=rngs)  # embeddings and LayerNorms compute in float32
        self.dense_0 = Dense(2 * hidden_size, hidden_size, ("mlp", "embed"), **kw)
        self.norm = layer_norm(hidden_size, layer_norm_eps, **tables)
        self.dense_1 = Dense(hidden_size, 1, ("embed", None), **kw)

    def __call__(self, hidden_states: Array, start_states: Array, p_mask: Array | None) -> Array:
        x = self.norm(jnp.tanh(self.dense_0(jnp.concatenate([hidden_states, start_states], axis=-1))))
        return _apply_p_mask(self.dense_1(x)[..., 0], p_mask)


class SquadAnswerClass(nnx.Module):
    """``dense_1(tanh(dense_0([start; cls])))`` (no bias on ``dense_1``): ``(B, D)`` pairs -> ``(B,)``."""

    def __init__(self, hidden_size: int, *, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.dense_0 = Dense(2 * hidden_size, hidden_size, ("mlp", "embed"), **kw)
        self.dense_1 = Dense(hidden_size, 1, ("embed", None), use_bias=False, **kw)

    def __call__(self, hidden_states: Array, start_states: Array, cls_index: Array | None) -> Array:
        if cls_index is None:
            cls_states = hidden_states[:, -1]  # transformers: the last position (a pad in padded rows)
        else:
            cls_states = _gather_positions(hidden_states, cls_index.reshape(-1, 1))[:, 0]
        x = jnp.tanh(self.dense_0(jnp.concatenate([start_states, cls_states], axis=-1)))
        return self.dense_1(x)[..., 0].astype(jnp.float32)


class XLMForQuestionAnswering(_XLMHead):
    """XLM's SQuAD head with beam search over start and end positions (XLNet style).

    Training (``start_positions`` and ``end_positions`` given): ``loss`` only, the mean of the start
    and end cross entropies, plus half the answerability BCE when ``cls_index`` and
    ``is_impossible`` are given. Inference: the top ``start_n_top`` starts, for each the top
    ``end_n_top`` ends, and ``cls_logits``; see :class:`~mluke_jax.outputs.XLMForQuestionAnsweringOutput`.
    ``p_mask`` ``(B, L)`` marks positions (1.0) that cannot be in the answer.
    """

    input_names = XLM_INPUTS + ("start_positions", "end_positions", "cls_index", "is_impossible", "p_mask")

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        kw = dict(**_kw(config), rngs=rngs)
        self.start_logits = SquadStartLogits(config.emb_dim, **kw)
        self.end_logits = SquadEndLogits(config.emb_dim, config.layer_norm_eps, **kw)
        self.answer_class = SquadAnswerClass(config.emb_dim, **kw)

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        batch, length = _batch_length(a)
        a.update(v.span_positions(raw, batch))
        a.update(v.span_positions(raw, batch, ("cls_index",)))
        for name in ("start_positions", "end_positions", "cls_index"):
            if a[name] is not None:
                a[name] = a[name].reshape(batch)
                # transformers gathers the start state at start_positions: -100 would crash there.
                v.check_range(name, a[name], 0, length, "the sequence")
        a["is_impossible"] = v.to_array("is_impossible", raw.get("is_impossible"), "float")
        if a["is_impossible"] is not None:
            if a["is_impossible"].size != batch:
                raise ValueError(
                    f"is_impossible must have shape (batch,) = ({batch},), got {tuple(a['is_impossible'].shape)}"
                )
            a["is_impossible"] = a["is_impossible"].reshape(batch)
        a["p_mask"] = v.to_array("p_mask", raw.get("p_mask"), "float")
        v.check_shape("p_mask", a["p_mask"], (batch, length), "(batch, length)")
        return a

    def forward(
        self,
        start_positions=None,
        end_positions=None,
        cls_index=None,
        is_impossible=None,
        p_mask=None,
        *,
        dropout_key=None,
        output_attentions=False,
        output_hidden_states=False,
        **inputs,
    ):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        h = out.last_hidden_state
        start_logits = self.start_logits(h, p_mask)
        if start_positions is not None and end_positions is not None:
            start_states = jnp.broadcast_to(_gather_positions(h, jnp.maximum(start_positions, 0)[:, None]), h.shape)
            end_logits = self.end_logits(h, start_states, p_mask)
            loss = (
                losses.cross_entropy(start_logits, start_positions) + losses.cross_entropy(end_logits, end_positions)
            ) / 2
            if cls_index is not None and is_impossible is not None:
                start_state = _gather_positions(h, jnp.maximum(start_positions, 0)[:, None])[:, 0]
                cls_logits = self.answer_class(h, start_state, cls_index)
                loss = loss + 0.5 * losses.binary_cross_entropy_with_logits(cls_logits, is_impossible)
            return o.XLMForQuestionAnsweringOutput(loss=loss, **_layer_outputs(out))

        batch, length, hidden = h.shape
        start_n_top, end_n_top = self.config.start_n_top, self.config.end_n_top
        start_probs = jax.nn.softmax(start_logits, axis=-1)  # (B, L)
        start_top_probs, start_top_index = jax.lax.top_k(start_probs, start_n_top)  # (B, K)
        top_states = _gather_positions(h, start_top_index)  # (B, K, D)
        start_states = jnp.broadcast_to(top_states[:, None], (batch, length, start_n_top, hidden))
        expanded = jnp.broadcast_to(h[:, :, None], start_states.shape)
        end_logits = self.end_logits(expanded, start_states, None if p_mask is None else p_mask[..., None])  # (B, L, K)
        end_probs = jax.nn.softmax(end_logits, axis=1)
        end_top_probs, end_top_index = jax.lax.top_k(jnp.swapaxes(end_probs, 1, 2), end_n_top)  # (B, K, E)
        # transformers' layout: (B, E, K) flattened, so entry e * K + k is start k's e-th best end.
        end_top_probs = jnp.swapaxes(end_top_probs, 1, 2).reshape(batch, end_n_top * start_n_top)
        end_top_index = jnp.swapaxes(end_top_index, 1, 2).reshape(batch, end_n_top * start_n_top)
        weighted_start = jnp.einsum("BLD,BL->BD", h.astype(jnp.float32), start_probs).astype(h.dtype)
        cls_logits = self.answer_class(h, weighted_start, cls_index)
        return o.XLMForQuestionAnsweringOutput(
            start_top_log_probs=start_top_probs,
            start_top_index=start_top_index,
            end_top_log_probs=end_top_probs,
            end_top_index=end_top_index,
            cls_logits=cls_logits,
            **_layer_outputs(out),
        )


class XLMForTokenClassification(_XLMHead):
    """Classify every token: ``logits`` ``(B, L, C)``; labels ``(B, L)`` with -100 ignored."""

    input_names = XLM_INPUTS + ("labels",)

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(config.emb_dim, config.num_labels, config.dropout, **_kw(config), rngs=rngs)

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        a["labels"] = v.to_array("labels", raw.get("labels"), "int")
        v.check_shape("labels", a["labels"], _batch_length(a), "(batch, length)")
        v.check_class_labels("labels", a["labels"], self.config.num_labels)
        return a

    def forward(self, labels=None, *, dropout_key=None, output_attentions=False, output_hidden_states=False, **inputs):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        logits = self.classifier(out.last_hidden_state, fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return o.TokenClassifierOutput(loss=loss, logits=logits, **_layer_outputs(out))


# Number of trailing axes that stay when (batch, choices, ...) inputs are flattened.
_CHOICE_AXES = {
    "input_ids": 1,
    "attention_mask": 1,
    "langs": 1,
    "token_type_ids": 1,
    "position_ids": 1,
    "inputs_embeds": 2,
    "lengths": 0,
}


class XLMForMultipleChoice(_XLMHead):
    """Score each of ``C`` choices: inputs ``(B, C, L)``, ``logits`` ``(B, C)``.

    The sequence summary (projected to ``num_labels``) goes through ``logits_proj``
    (``num_labels -> 1``). ``lengths`` is ignored with a warning, as in transformers.
    """

    input_names = XLM_INPUTS + ("labels",)

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        if _summary_size(config) != config.num_labels:
            raise ValueError(
                "XLMForMultipleChoice needs summary_use_proj and summary_proj_to_labels (the summary feeds a "
                "num_labels -> 1 projection)"
            )
        super().__init__(config, rngs=rngs)
        self.sequence_summary = _sequence_summary(config, rngs)
        self.logits_proj = Dense(config.num_labels, 1, ("classes", None), **_kw(config), rngs=rngs)

    def prepare_inputs(self, raw):
        raw = dict(raw)
        if raw.get("lengths") is not None:
            warn("XLMForMultipleChoice ignores lengths (as transformers does); pass attention_mask")
            raw["lengths"] = None
        a = {name: v.to_array(name, raw.get(name), kind) for name, kind in XLM_INPUT_KINDS.items() if name != "langs"}
        word = a["input_ids"] if a["input_ids"] is not None else a["inputs_embeds"]
        if word is None:
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if word.ndim != (3 if a["input_ids"] is not None else 4):
            raise ValueError(
                f"XLMForMultipleChoice inputs are (batch, num_choices, ...), got shape {tuple(word.shape)}"
            )
        batch, choices = word.shape[:2]
        a["langs"] = v.to_array("langs", language_ids(self.config, raw.get("langs"), tuple(word.shape[:3])), "int")
        for name, arr in a.items():
            if arr is not None and tuple(arr.shape[:2]) != (batch, choices):
                raise ValueError(
                    f"{name} has leading shape {tuple(arr.shape[:2])}; expected (batch, num_choices) = "
                    f"{(batch, choices)}"
                )
        check_xlm_inputs(self.config, _flatten_choices(a))
        a["labels"] = v.to_array("labels", raw.get("labels"), "int")
        v.check_shape("labels", a["labels"], (batch,), "(batch,)")
        v.check_class_labels("labels", a["labels"], choices)
        return a

    def forward(self, labels=None, *, dropout_key=None, output_attentions=False, output_hidden_states=False, **inputs):
        word = inputs["input_ids"] if inputs.get("input_ids") is not None else inputs["inputs_embeds"]
        out = self.encode(
            _flatten_choices(encoder_kwargs(inputs)), dropout_key, output_attentions, output_hidden_states
        )
        summary = self.sequence_summary(out.last_hidden_state, dropout_key=fold_key(dropout_key, HEAD_DROPOUT_TAG))
        logits = self.logits_proj(summary).reshape(-1, word.shape[1])
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return o.MultipleChoiceModelOutput(loss=loss, logits=logits, **_layer_outputs(out))


def _flatten_choices(arrays: dict[str, Any]) -> dict[str, Any]:
    """``(B, C, ...) -> (B * C, ...)`` for every XLM input."""
    return {
        k: None if a is None else a.reshape((-1,) + tuple(a.shape[a.ndim - _CHOICE_AXES[k] :]))
        for k, a in arrays.items()
    }
