"""LUKE task heads under their transformers class names, with the same inputs, outputs and losses."""

from typing import Any, ClassVar

import jax.numpy as jnp
from flax import nnx

from mluke_jax import losses
from mluke_jax import outputs as o
from mluke_jax import validation as v
from mluke_jax.config import LukeConfig
from mluke_jax.layers.dropout import fold_key
from mluke_jax.layers.heads import Classifier, EntityPredictionHead, MaskedLMHead, extractive_qa
from mluke_jax.models.luke import (
    LUKE_INPUT_KINDS,
    LUKE_INPUTS,
    LukeModel,
    LukePreTrainedModel,
    base_outputs,
    check_luke_inputs,
    luke_kwargs,
)

HEAD_DROPOUT_TAG = 100  # fold_key tag of every head's dropout


def _kw(config: LukeConfig) -> dict[str, Any]:
    return dict(dtype=config.compute_dtype, param_dtype=config.params_dtype)


def _classifier_dropout(config: LukeConfig) -> float:
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


class _LukeHead(LukePreTrainedModel):
    """A LUKE encoder (``self.luke``) with a head; subclasses add the head and its labels."""

    add_pooling_layer: ClassVar[bool] = True

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.luke = LukeModel(config.replace(add_pooling_layer=self.add_pooling_layer), rngs=rngs)

    def encode(self, arrays: dict[str, Any], dropout_key, output_attentions: bool, output_hidden_states: bool):
        return self.luke.forward(
            **luke_kwargs(arrays),
            dropout_key=fold_key(dropout_key, 0),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )


def _batch_length(arrays: dict[str, Any]) -> tuple[int, int]:
    x = arrays["input_ids"] if arrays["input_ids"] is not None else arrays["inputs_embeds"]
    return x.shape[0], x.shape[1]


def _num_entities(arrays: dict[str, Any]) -> int:
    return arrays["entity_ids"].shape[1]


class LukeForMaskedLM(_LukeHead):
    """Masked language modelling and masked entity prediction.

    ``logits`` ``(B, L, V)``; ``entity_logits`` ``(B, E, Ev)`` when entities are given. Both decoders
    are tied to the embedding tables unless the checkpoint carried its own decoder weights
    (``config.untied_word_decoder`` / ``untied_entity_decoder``).
    """

    input_names = LUKE_INPUTS + ("labels", "entity_labels")

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        kw = dict(**_kw(config), rngs=rngs)
        self.lm_head = MaskedLMHead(
            config.hidden_size, config.vocab_size, config.layer_norm_eps, tied=config.word_decoder_tied, **kw
        )
        self.entity_predictions = EntityPredictionHead(
            config.hidden_size,
            config.entity_emb_size,
            config.entity_vocab_size,
            config.hidden_act,
            config.layer_norm_eps,
            tied=config.entity_decoder_tied,
            **kw,
        )

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        batch, length = _batch_length(a)
        a["labels"] = v.to_array("labels", raw.get("labels"), "int")
        v.check_shape("labels", a["labels"], (batch, length), "(batch, length)")
        v.check_class_labels("labels", a["labels"], self.config.vocab_size)
        a["entity_labels"] = v.to_array("entity_labels", raw.get("entity_labels"), "int")
        if a["entity_labels"] is not None:
            if a["entity_ids"] is None:
                raise ValueError("entity_labels was given without entity_ids")
            v.check_shape("entity_labels", a["entity_labels"], (batch, _num_entities(a)), "(batch, entities)")
            v.check_class_labels("entity_labels", a["entity_labels"], self.config.entity_vocab_size)
        return a

    def forward(
        self,
        labels=None,
        entity_labels=None,
        *,
        dropout_key=None,
        output_attentions=False,
        output_hidden_states=False,
        **inputs,
    ):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        word_table = self.luke.embeddings.word_embeddings.embedding[...]
        logits = self.lm_head(out.last_hidden_state, word_table)
        mlm_loss = losses.cross_entropy(logits, labels) if labels is not None else None
        entity_logits = mep_loss = None
        if out.entity_last_hidden_state is not None:
            entity_table = self.luke.entity_embeddings.entity_embeddings.embedding[...]
            entity_logits = self.entity_predictions(out.entity_last_hidden_state, entity_table)
            if entity_labels is not None:
                mep_loss = losses.cross_entropy(entity_logits, entity_labels)
        parts = [x for x in (mlm_loss, mep_loss) if x is not None]
        return o.LukeMaskedLMOutput(
            loss=sum(parts[1:], parts[0]) if parts else None,
            mlm_loss=mlm_loss,
            mep_loss=mep_loss,
            logits=logits,
            entity_logits=entity_logits,
            **base_outputs(out),
        )


class _EntityFeatureClassifier(_LukeHead):
    """Entity classification heads: features from the first ``min_entities`` entity states."""

    input_names = LUKE_INPUTS + ("labels",)
    classifier_bias: ClassVar[bool] = True
    output_class: ClassVar[type] = o.LukeClassifierOutput

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(
            config.hidden_size * self.min_entities,
            config.num_labels,
            config.hidden_dropout_prob,
            use_bias=self.classifier_bias,
            **_kw(config),
            rngs=rngs,
        )

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        labels = a["labels"] = v.to_array("labels", raw.get("labels"), "label")
        if labels is not None:
            batch = _batch_length(a)[0]
            if labels.ndim == 1:
                v.check_class_ids("labels", labels, (batch,), "(batch,)", self.config.num_labels)
            else:
                v.check_shape(
                    "labels", labels, (batch, self.config.num_labels), "(batch, num_labels) multi-label targets"
                )
        return a

    def forward(self, labels=None, *, dropout_key=None, output_attentions=False, output_hidden_states=False, **inputs):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        entities = out.entity_last_hidden_state
        features = jnp.concatenate([entities[:, i] for i in range(self.min_entities)], axis=-1)
        logits = self.classifier(features, fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = losses.classification_loss(logits, labels, single_label_ndim=1) if labels is not None else None
        return self.output_class(loss=loss, logits=logits, **base_outputs(out))


class LukeForEntityClassification(_EntityFeatureClassifier):
    """Classify the first entity (e.g. Open Entity typing): ``logits`` ``(B, C)``.

    Labels ``(B,)`` class ids -> cross entropy; ``(B, C)`` 0/1 targets -> multi-label BCE.
    """

    min_entities = 1
    output_class = o.EntityClassificationOutput


class LukeForEntityPairClassification(_EntityFeatureClassifier):
    """Classify the relation of the first two entities (e.g. TACRED): bias-free ``(2D -> C)`` classifier."""

    min_entities = 2
    classifier_bias = False
    output_class = o.EntityPairClassificationOutput


class LukeForEntitySpanClassification(_LukeHead):
    """Classify every entity span (NER): features ``[word[start]; word[end]; entity]`` -> ``(B, E, C)``.

    ``entity_start_positions`` / ``entity_end_positions`` ``(B, E)`` are word indices, the end inclusive.
    """

    input_names = LUKE_INPUTS + ("entity_start_positions", "entity_end_positions", "labels")
    min_entities = 1

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(
            config.hidden_size * 3, config.num_labels, config.hidden_dropout_prob, **_kw(config), rngs=rngs
        )

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        batch, length = _batch_length(a)
        shape = (batch, _num_entities(a))
        for name in ("entity_start_positions", "entity_end_positions"):
            a[name] = v.to_array(name, raw.get(name), "int")
            if a[name] is None:
                raise ValueError(f"LukeForEntitySpanClassification needs {name} (batch, entities)")
            v.check_shape(name, a[name], shape, "(batch, entities) of entity_ids")
            v.check_range(name, a[name], 0, length, "the word sequence")
        labels = a["labels"] = v.to_array("labels", raw.get("labels"), "label")
        if labels is not None:
            if labels.ndim == 2:
                v.check_class_ids("labels", labels, shape, "(batch, entities)", self.config.num_labels)
            else:
                v.check_shape(
                    "labels", labels, shape + (self.config.num_labels,), "(batch, entities, num_labels) targets"
                )
        return a

    def forward(
        self,
        entity_start_positions=None,
        entity_end_positions=None,
        labels=None,
        *,
        dropout_key=None,
        output_attentions=False,
        output_hidden_states=False,
        **inputs,
    ):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        words = out.last_hidden_state
        starts = jnp.take_along_axis(words, entity_start_positions[..., None], axis=1)
        ends = jnp.take_along_axis(words, entity_end_positions[..., None], axis=1)
        features = jnp.concatenate([starts, ends, out.entity_last_hidden_state], axis=-1)
        logits = self.classifier(features, fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = losses.classification_loss(logits, labels, single_label_ndim=2) if labels is not None else None
        return o.EntitySpanClassificationOutput(loss=loss, logits=logits, **base_outputs(out))


class LukeForSequenceClassification(_LukeHead):
    """Classify (or regress) the pooled first token: ``logits`` ``(B, C)``.

    Loss by ``config.problem_type``, inferred as transformers does when unset: one label ->
    regression (MSE), integer labels -> cross entropy, otherwise multi-label BCE.
    """

    input_names = LUKE_INPUTS + ("labels",)

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(
            config.hidden_size, config.num_labels, _classifier_dropout(config), **_kw(config), rngs=rngs
        )

    def prepare_inputs(self, raw):
        a = super().prepare_inputs(raw)
        labels = a["labels"] = v.to_array("labels", raw.get("labels"), "label")
        if labels is not None:
            problem = losses.problem_type_of(self.config.problem_type, self.config.num_labels, labels)
            v.check_sequence_labels(labels, _batch_length(a)[0], self.config.num_labels, problem)
        return a

    def forward(self, labels=None, *, dropout_key=None, output_attentions=False, output_hidden_states=False, **inputs):
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        logits = self.classifier(out.pooler_output, fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = None
        if labels is not None:
            problem = losses.problem_type_of(self.config.problem_type, self.config.num_labels, labels)
            loss = losses.sequence_classification_loss(logits, labels, problem, self.config.num_labels)
        return o.LukeSequenceClassifierOutput(loss=loss, logits=logits, **base_outputs(out))


class LukeForTokenClassification(_LukeHead):
    """Classify every word token: ``logits`` ``(B, L, C)``; labels ``(B, L)`` with -100 ignored. No pooler."""

    input_names = LUKE_INPUTS + ("labels",)
    add_pooling_layer = False

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(
            config.hidden_size, config.num_labels, _classifier_dropout(config), **_kw(config), rngs=rngs
        )

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
        return o.LukeTokenClassifierOutput(loss=loss, logits=logits, **base_outputs(out))


class LukeForQuestionAnswering(_LukeHead):
    """Extractive QA: ``start_logits`` / ``end_logits`` ``(B, L)``. No pooler, no dropout; num_labels must be 2."""

    input_names = LUKE_INPUTS + ("start_positions", "end_positions")
    add_pooling_layer = False

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        if config.num_labels != 2:
            raise ValueError(f"LukeForQuestionAnswering needs num_labels=2 (start and end), got {config.num_labels}")
        super().__init__(config, rngs=rngs)
        self.qa_outputs = Classifier(config.hidden_size, 2, 0.0, **_kw(config), rngs=rngs)

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
        return o.LukeQuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits, **base_outputs(out)
        )


# Number of trailing axes that stay when (batch, choices, ...) inputs are flattened to (batch * choices, ...).
_CHOICE_AXES = {
    "input_ids": 1,
    "attention_mask": 1,
    "token_type_ids": 1,
    "position_ids": 1,
    "inputs_embeds": 2,
    "entity_ids": 1,
    "entity_attention_mask": 1,
    "entity_token_type_ids": 1,
    "entity_position_ids": 2,
}


def _flatten_choices(arrays: dict[str, Any]) -> dict[str, Any]:
    """``(B, C, ...) -> (B * C, ...)`` for every LUKE input."""
    return {
        k: None if a is None else a.reshape((-1,) + tuple(a.shape[a.ndim - _CHOICE_AXES[k] :]))
        for k, a in arrays.items()
    }


class LukeForMultipleChoice(_LukeHead):
    """Score each of ``C`` choices from its pooled first token: inputs ``(B, C, ...)``, ``logits`` ``(B, C)``."""

    input_names = LUKE_INPUTS + ("labels",)

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(config.hidden_size, 1, _classifier_dropout(config), **_kw(config), rngs=rngs)

    def prepare_inputs(self, raw):
        a = {name: v.to_array(name, raw.get(name), kind) for name, kind in LUKE_INPUT_KINDS.items()}
        word = a["input_ids"] if a["input_ids"] is not None else a["inputs_embeds"]
        if word is None:
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if word.ndim != (3 if a["input_ids"] is not None else 4):
            raise ValueError(
                f"LukeForMultipleChoice inputs are (batch, num_choices, ...), got shape {tuple(word.shape)}"
            )
        batch, choices = word.shape[:2]
        for name, arr in a.items():
            if arr is not None and tuple(arr.shape[:2]) != (batch, choices):
                raise ValueError(
                    f"{name} has leading shape {tuple(arr.shape[:2])}; expected (batch, num_choices) = "
                    f"{(batch, choices)}"
                )
        check_luke_inputs(self.config, _flatten_choices(a), head="LukeForMultipleChoice")
        labels = a["labels"] = v.to_array("labels", raw.get("labels"), "int")
        v.check_shape("labels", labels, (batch,), "(batch,)")
        v.check_class_labels("labels", labels, choices)
        return a

    def forward(self, labels=None, *, dropout_key=None, output_attentions=False, output_hidden_states=False, **inputs):
        word = inputs["input_ids"] if inputs.get("input_ids") is not None else inputs["inputs_embeds"]
        num_choices = word.shape[1]
        out = self.encode(_flatten_choices(luke_kwargs(inputs)), dropout_key, output_attentions, output_hidden_states)
        logits = self.classifier(out.pooler_output, fold_key(dropout_key, HEAD_DROPOUT_TAG)).reshape(-1, num_choices)
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return o.LukeMultipleChoiceModelOutput(loss=loss, logits=logits, **base_outputs(out))
