"""The task heads both families share, written once.

A head class is a task mixin from here plus a family base (``LukeTaskHead``, ``XLMTaskHead``), e.g.
``class XLMForTokenClassification(TokenClassification, XLMTaskHead)``. The family base builds the
encoder and answers the few questions where the families differ:

- :meth:`TaskHead.layer_outputs`: the per-layer fields its outputs carry;
- :meth:`TaskHead.classifier_dropout_rate`: the dropout rate before a classifier;
- :meth:`TaskHead.add_sequence_scorer` / :meth:`TaskHead.score_sequence` (and the ``choice``
  pair): how it scores a sequence with ``num_labels`` values (or a choice with one); LUKE: a
  classifier on the pooled first token, XLM: its sequence summary;
- :meth:`TaskHead.choice_inputs`, :meth:`TaskHead.resolve_inputs` and
  :meth:`TaskHead.check_encoder_inputs`: its input checks.

Hooks are declared on :class:`TaskHead` only: a task mixin precedes the family base in the method
resolution order, so a default written on the mixin would hide the family's.

Its ``encoder_inputs`` table drives both the checks and the flattening of multiple-choice inputs.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import jax
from flax import nnx

from mluke_jax import losses
from mluke_jax import validation as v
from mluke_jax.config import PretrainedConfig
from mluke_jax.layers.dropout import fold_key
from mluke_jax.layers.heads import Classifier, extractive_qa
from mluke_jax.modeling import PreTrainedModel
from mluke_jax.outputs import ModelOutput

HEAD_DROPOUT_TAG = 100  # fold_key tag of every head's dropout (the encoder's is 0)


def batch_length(arrays: Mapping[str, Any]) -> tuple[int, int]:
    """``(batch, length)`` of the word input (``input_ids`` or ``inputs_embeds``)."""
    x = arrays["input_ids"] if arrays.get("input_ids") is not None else arrays["inputs_embeds"]
    return x.shape[0], x.shape[1]


def token_labels(raw: Mapping[str, Any], arrays: Mapping[str, Any], num_classes: int) -> Any:
    """``raw["labels"]`` as ``(batch, length)`` class ids in ``[0, num_classes)`` or -100, or None."""
    labels = v.to_array("labels", raw.get("labels"), "int")
    v.check_shape("labels", labels, batch_length(arrays), "(batch, length)")
    v.check_class_labels("labels", labels, num_classes)
    return labels


def flatten_choices(arrays: Mapping[str, Any], table: Mapping[str, v.InputSpec]) -> dict[str, Any]:
    """``(B, C, ...) -> (B * C, ...)`` for every encoder input of ``table`` (None stays None)."""
    out = {}
    for name, spec in table.items():
        a = arrays.get(name)
        out[name] = None if a is None else a.reshape((-1,) + tuple(a.shape[a.ndim - spec.choice_axes :]))
    return out


class TaskHead(PreTrainedModel):
    """An encoder (the attribute named ``base_model_prefix``) with a task head on top."""

    # False for heads that never read a pooled summary (LUKE then builds no pooler).
    uses_pooler: ClassVar[bool] = True
    output_class: ClassVar[type[ModelOutput]]

    @property
    def layer_dtypes(self) -> dict[str, Any]:
        """Compute and parameter dtypes for the head's layers."""
        return dict(dtype=self.config.compute_dtype, param_dtype=self.config.params_dtype)

    def encode(
        self,
        arrays: Mapping[str, Any],
        dropout_key: jax.Array | None,
        output_attentions: bool,
        output_hidden_states: bool,
    ) -> ModelOutput:
        """Run the encoder on the encoder inputs among ``arrays``."""
        encoder = getattr(self, self.base_model_prefix)
        return encoder.forward(
            **{name: arrays.get(name) for name in self.encoder_inputs},
            dropout_key=fold_key(dropout_key, 0),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )

    # ------------------------------------------------------------ family hooks
    def layer_outputs(self, out: ModelOutput) -> dict[str, Any]:
        """The encoder's per-layer fields a head's output passes through."""
        raise NotImplementedError

    def classifier_dropout_rate(self) -> float:
        """Dropout rate before a token / span classifier."""
        raise NotImplementedError

    def add_sequence_scorer(self, rngs: nnx.Rngs) -> None:
        """Add the layers that score a whole sequence with ``num_labels`` values."""
        raise NotImplementedError

    def score_sequence(self, out: ModelOutput, dropout_key: jax.Array | None) -> jax.Array:
        """``(B, num_labels)`` scores of each encoded sequence."""
        raise NotImplementedError

    def add_choice_scorer(self, rngs: nnx.Rngs) -> None:
        """Add the layers that score one choice (an encoded sequence) with one value."""
        raise NotImplementedError

    def score_choice(self, out: ModelOutput, dropout_key: jax.Array | None) -> jax.Array:
        """``(B * C, 1)`` scores of each encoded choice."""
        raise NotImplementedError

    def choice_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The inputs multiple choice uses (XLM drops ``lengths``, as transformers does)."""
        return raw

    def resolve_inputs(self, raw: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
        """Inputs given in a short form (XLM's language code) expanded to ``shape``."""
        return raw

    def check_encoder_inputs(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Converted and checked encoder inputs of ``(batch, length)`` examples."""
        raise NotImplementedError

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        return self.check_encoder_inputs(raw)


class TokenClassification(TaskHead):
    """Classify every token: ``logits`` ``(B, L, C)``; ``labels`` ``(B, L)`` with -100 ignored."""

    head_inputs = ("labels",)
    uses_pooler = False

    def __init__(self, config: PretrainedConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.classifier = Classifier(
            config.hidden_size, config.num_labels, self.classifier_dropout_rate(), **self.layer_dtypes, rngs=rngs
        )

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        a = super().prepare_inputs(raw)
        a["labels"] = token_labels(raw, a, self.config.num_labels)
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
        logits = self.classifier(out.last_hidden_state, fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return self.output_class(loss=loss, logits=logits, **self.layer_outputs(out))


class QuestionAnsweringSimple(TaskHead):
    """Extractive QA from one linear layer: ``start_logits`` / ``end_logits`` ``(B, L)``; no dropout.

    ``start_positions`` / ``end_positions`` ``(B,)`` give the mean of the two cross entropies;
    positions outside the sequence are clamped to it and ignored, as in transformers.
    ``config.num_labels`` must be 2.
    """

    head_inputs = ("start_positions", "end_positions")
    uses_pooler = False

    def __init__(self, config: PretrainedConfig, *, rngs: nnx.Rngs):
        if config.num_labels != 2:
            raise ValueError(f"{type(self).__name__} needs num_labels=2 (start and end), got {config.num_labels}")
        super().__init__(config, rngs=rngs)
        self.qa_outputs = Classifier(config.hidden_size, 2, 0.0, **self.layer_dtypes, rngs=rngs)

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        a = super().prepare_inputs(raw)
        a.update(v.span_positions(raw, batch_length(a)[0]))
        return a

    def forward(
        self,
        start_positions: jax.Array | None = None,
        end_positions: jax.Array | None = None,
        *,
        dropout_key: jax.Array | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        **inputs: jax.Array | None,
    ) -> ModelOutput:
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        start_logits, end_logits, loss = extractive_qa(
            self.qa_outputs, out.last_hidden_state, start_positions, end_positions
        )
        return self.output_class(loss=loss, start_logits=start_logits, end_logits=end_logits, **self.layer_outputs(out))


class SequenceClassification(TaskHead):
    """Classify (or regress) each sequence: ``logits`` ``(B, C)``.

    Loss by ``config.problem_type``, inferred as transformers does when unset: one label ->
    regression (MSE), integer labels -> cross entropy, otherwise multi-label BCE.
    """

    head_inputs = ("labels",)

    def __init__(self, config: PretrainedConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.add_sequence_scorer(rngs)

    def problem_type(self, labels: Any) -> str:
        return losses.problem_type_of(self.config.problem_type, self.config.num_labels, labels)

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        a = super().prepare_inputs(raw)
        labels = a["labels"] = v.to_array("labels", raw.get("labels"), "label")
        if labels is not None:
            v.check_sequence_labels(labels, batch_length(a)[0], self.config.num_labels, self.problem_type(labels))
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
        logits = self.score_sequence(out, fold_key(dropout_key, HEAD_DROPOUT_TAG))
        loss = None
        if labels is not None:
            problem = self.problem_type(labels)
            loss = losses.sequence_classification_loss(logits, labels, problem, self.config.num_labels)
        return self.output_class(loss=loss, logits=logits, **self.layer_outputs(out))


class MultipleChoice(TaskHead):
    """Score each of ``C`` choices: inputs ``(B, C, ...)``, ``logits`` ``(B, C)``; ``labels`` ``(B,)``."""

    head_inputs = ("labels",)

    def __init__(self, config: PretrainedConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        self.add_choice_scorer(rngs)

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        raw = self.choice_inputs(dict(raw))
        word_name = "input_ids" if raw.get("input_ids") is not None else "inputs_embeds"
        word = v.to_array(word_name, raw.get(word_name), self.encoder_inputs[word_name].kind)
        if word is None:
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if word.ndim != (3 if word_name == "input_ids" else 4):
            raise ValueError(
                f"{type(self).__name__} inputs are (batch, num_choices, ...), got shape {tuple(word.shape)}"
            )
        batch, choices = word.shape[:2]
        raw = self.resolve_inputs(raw, tuple(word.shape[:3]))
        a = {name: v.to_array(name, raw.get(name), spec.kind) for name, spec in self.encoder_inputs.items()}
        for name, arr in a.items():
            if arr is not None and tuple(arr.shape[:2]) != (batch, choices):
                raise ValueError(
                    f"{name} has leading shape {tuple(arr.shape[:2])}; expected (batch, num_choices) = "
                    f"{(batch, choices)}"
                )
        self.check_encoder_inputs(flatten_choices(a, self.encoder_inputs))
        a["labels"] = v.to_array("labels", raw.get("labels"), "int")
        v.check_shape("labels", a["labels"], (batch,), "(batch,)")
        v.check_class_labels("labels", a["labels"], choices)
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
        num_choices = batch_length(inputs)[1]
        flat = flatten_choices(inputs, self.encoder_inputs)
        out = self.encode(flat, dropout_key, output_attentions, output_hidden_states)
        logits = self.score_choice(out, fold_key(dropout_key, HEAD_DROPOUT_TAG)).reshape(-1, num_choices)
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return self.output_class(loss=loss, logits=logits, **self.layer_outputs(out))
