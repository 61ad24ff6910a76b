"""LUKE task heads under their transformers class names, with the same inputs, outputs and losses.

The heads both families have (token and sequence classification, simple QA, multiple choice) come
from :mod:`mluke_jax.models.task_heads`; the entity heads and the MLM head are LUKE's own.
"""

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mluke_jax import losses
from mluke_jax import outputs as o
from mluke_jax import validation as v
from mluke_jax.config import LukeConfig
from mluke_jax.layers.dropout import fold_key
from mluke_jax.layers.heads import Classifier, EntityPredictionHead, MaskedLMHead
from mluke_jax.models.luke import LukeModel, LukePreTrainedModel, check_luke_inputs
from mluke_jax.models.task_heads import (
    HEAD_DROPOUT_TAG,
    MultipleChoice,
    QuestionAnsweringSimple,
    SequenceClassification,
    TaskHead,
    TokenClassification,
    batch_length,
    token_labels,
)
from mluke_jax.outputs import BaseLukeModelOutputWithPooling, ModelOutput


class LukeTaskHead(TaskHead, LukePreTrainedModel):
    """A LUKE encoder (``self.luke``) with a head; sequences are scored from the pooled first token."""

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.luke = LukeModel(config.replace(add_pooling_layer=self.uses_pooler), rngs=rngs)

    def layer_outputs(self, out: BaseLukeModelOutputWithPooling) -> dict[str, Any]:
        return dict(
            hidden_states=out.hidden_states, entity_hidden_states=out.entity_hidden_states, attentions=out.attentions
        )

    def classifier_dropout_rate(self) -> float:
        c = self.config
        return c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob

    def check_encoder_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        return check_luke_inputs(self.config, raw, min_entities=self.min_entities, head=type(self).__name__)

    def add_sequence_scorer(self, rngs: nnx.Rngs) -> None:
        self.classifier = self._pooled_classifier(self.config.num_labels, rngs)

    def add_choice_scorer(self, rngs: nnx.Rngs) -> None:
        self.classifier = self._pooled_classifier(1, rngs)

    def _pooled_classifier(self, num_outputs: int, rngs: nnx.Rngs) -> Classifier:
        c = self.config
        return Classifier(c.hidden_size, num_outputs, self.classifier_dropout_rate(), **self.layer_dtypes, rngs=rngs)

    def score_sequence(self, out: BaseLukeModelOutputWithPooling, dropout_key: jax.Array | None) -> jax.Array:
        return self.classifier(out.pooler_output, dropout_key)

    score_choice = score_sequence


def labels_at(labels: Any, masked_positions: Any) -> Any:
    """``labels`` ``(B, L)`` read at ``masked_positions`` ``(B, K)``: ``(B, K)``, -100 at the padding (-1)."""
    xp = jnp if isinstance(labels, jax.Array) or isinstance(masked_positions, jax.Array) else np
    picked = xp.take_along_axis(labels, xp.maximum(masked_positions, 0), axis=1)
    return xp.where(masked_positions >= 0, picked, -100)


class LukeForMaskedLM(LukeTaskHead):
    """Masked language modelling and masked entity prediction.

    ``logits`` ``(B, L, V)``; ``entity_logits`` ``(B, E, Ev)`` when entities are given. Both decoders
    are tied to the embedding tables unless the checkpoint carried its own decoder weights
    (``config.untied_word_decoder`` / ``untied_entity_decoder``).

    ``masked_positions`` ``(B, K)`` (word positions, -1 padded; not a transformers input) applies
    the word head at those positions only, as the original pretraining does (its
    ``masked_select``): ``logits`` is then ``(B, K, V)`` and ``labels`` are read at the positions
    (:func:`labels_at`). With 15 % of the words predicted, the head's 250k-word product and
    softmax shrink about sevenfold; the loss is the same.
    """

    head_inputs = ("labels", "entity_labels", "masked_positions")

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        kw = dict(**self.layer_dtypes, rngs=rngs)
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

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        a = super().prepare_inputs(raw)
        batch = batch_length(a)[0]
        a["labels"] = token_labels(raw, a, self.config.vocab_size)
        a["masked_positions"] = v.to_array("masked_positions", raw.get("masked_positions"), "int")
        positions = a["masked_positions"]
        if positions is not None:
            if positions.ndim != 2 or positions.shape[0] != batch:
                raise ValueError(f"masked_positions must have shape (batch, predictions) = ({batch}, K), got "
                                 f"{tuple(positions.shape)}")
            length = batch_length(a)[1]
            v.check_range("masked_positions", positions, 0, length, "the word positions", allowed=(-1,))
        a["entity_labels"] = v.to_array("entity_labels", raw.get("entity_labels"), "int")
        if a["entity_labels"] is not None:
            if a["entity_ids"] is None:
                raise ValueError("entity_labels was given without entity_ids")
            v.check_shape("entity_labels", a["entity_labels"], (batch, a["entity_ids"].shape[1]), "(batch, entities)")
            v.check_class_labels("entity_labels", a["entity_labels"], self.config.entity_vocab_size)
        return a

    def forward(
        self,
        labels: jax.Array | None = None,
        entity_labels: jax.Array | None = None,
        masked_positions: jax.Array | None = None,
        *,
        dropout_key: jax.Array | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        **inputs: jax.Array | None,
    ) -> ModelOutput:
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        word_table = self.luke.embeddings.word_embeddings.embedding[...]
        hidden = out.last_hidden_state
        if masked_positions is not None:  # (B, K, D): the states of the predicted words only
            hidden = jnp.take_along_axis(hidden, jnp.maximum(masked_positions, 0)[..., None], axis=1)
            labels = None if labels is None else labels_at(labels, masked_positions)
        logits = self.lm_head(hidden, word_table)
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
            **self.layer_outputs(out),
        )


class _EntityFeatureClassifier(LukeTaskHead):
    """Entity classification heads: features from the first ``min_entities`` entity states."""

    head_inputs = ("labels",)
    classifier_bias: ClassVar[bool] = True
    output_class: ClassVar[type] = o.LukeClassifierOutput

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(
            config.hidden_size * self.min_entities,
            config.num_labels,
            config.hidden_dropout_prob,
            use_bias=self.classifier_bias,
            **self.layer_dtypes,
            rngs=rngs,
        )

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        a = super().prepare_inputs(raw)
        labels = a["labels"] = v.to_array("labels", raw.get("labels"), "label")
        if labels is not None:
            batch = batch_length(a)[0]
            if labels.ndim == 1:
                v.check_class_ids("labels", labels, (batch,), "(batch,)", self.config.num_labels)
            else:
                v.check_shape(
                    "labels", labels, (batch, self.config.num_labels), "(batch, num_labels) multi-label targets"
                )
        return a

    def forward(
        self,
        labels: jax.Array | None = None,
        *,
        dropout_key: jax.Array | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        **inputs: jax.Array | None,
    ) -> ModelOutput:
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        entities = out.entity_last_hidden_state
        features = jnp.concatenate([entities[:, i] for i in range(self.min_entities)], axis=-1)
        logits = self.classifier(features, fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = losses.classification_loss(logits, labels, single_label_ndim=1) if labels is not None else None
        return self.output_class(loss=loss, logits=logits, **self.layer_outputs(out))


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


class LukeForEntitySpanClassification(LukeTaskHead):
    """Classify every entity span (NER): features ``[word[start]; word[end]; entity]`` -> ``(B, E, C)``.

    ``entity_start_positions`` / ``entity_end_positions`` ``(B, E)`` are word indices, the end inclusive.
    """

    head_inputs = ("entity_start_positions", "entity_end_positions", "labels")
    min_entities = 1

    def __init__(self, config: LukeConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(
            config.hidden_size * 3, config.num_labels, config.hidden_dropout_prob, **self.layer_dtypes, rngs=rngs
        )

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        a = super().prepare_inputs(raw)
        batch, length = batch_length(a)
        shape = (batch, a["entity_ids"].shape[1])
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
        entity_start_positions: jax.Array | None = None,
        entity_end_positions: jax.Array | None = None,
        labels: jax.Array | None = None,
        *,
        dropout_key: jax.Array | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        **inputs: jax.Array | None,
    ) -> ModelOutput:
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        words = out.last_hidden_state
        starts = jnp.take_along_axis(words, entity_start_positions[..., None], axis=1)
        ends = jnp.take_along_axis(words, entity_end_positions[..., None], axis=1)
        features = jnp.concatenate([starts, ends, out.entity_last_hidden_state], axis=-1)
        logits = self.classifier(features, fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = losses.classification_loss(logits, labels, single_label_ndim=2) if labels is not None else None
        return o.EntitySpanClassificationOutput(loss=loss, logits=logits, **self.layer_outputs(out))


class LukeForSequenceClassification(SequenceClassification, LukeTaskHead):
    """Classify (or regress) the pooled first token: ``logits`` ``(B, C)``; losses as transformers'."""

    output_class = o.LukeSequenceClassifierOutput


class LukeForTokenClassification(TokenClassification, LukeTaskHead):
    """Classify every word token: ``logits`` ``(B, L, C)``; labels ``(B, L)`` with -100 ignored. No pooler."""

    output_class = o.LukeTokenClassifierOutput


class LukeForQuestionAnswering(QuestionAnsweringSimple, LukeTaskHead):
    """Extractive QA: ``start_logits`` / ``end_logits`` ``(B, L)``. No pooler, no dropout; num_labels must be 2."""

    output_class = o.LukeQuestionAnsweringModelOutput


class LukeForMultipleChoice(MultipleChoice, LukeTaskHead):
    """Score each of ``C`` choices from its pooled first token: inputs ``(B, C, ...)``, ``logits`` ``(B, C)``."""

    output_class = o.LukeMultipleChoiceModelOutput
