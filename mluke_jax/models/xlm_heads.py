"""XLM task heads under their transformers class names, with the same inputs, outputs and losses.

The heads both families have (token and sequence classification, simple QA, multiple choice) come
from :mod:`mluke_jax.models.task_heads`; the LM head is XLM's own and the SQuAD beam-search head has
its module, :mod:`mluke_jax.models.xlm_squad`.
"""

from typing import Any

import jax
import numpy as np
from flax import nnx

from mluke_jax import losses
from mluke_jax import outputs as o
from mluke_jax.config import XLMConfig
from mluke_jax.layers.common import Array
from mluke_jax.layers.heads import Decoder, SequenceSummary
from mluke_jax.layers.linear import Dense
from mluke_jax.models.task_heads import (
    MultipleChoice,
    QuestionAnsweringSimple,
    SequenceClassification,
    TaskHead,
    TokenClassification,
    token_labels,
)
from mluke_jax.models.xlm import XLMModel, XLMPreTrainedModel, check_xlm_inputs, language_ids
from mluke_jax.outputs import ModelOutput
from mluke_jax.warn import warn


class XLMTaskHead(TaskHead, XLMPreTrainedModel):
    """An XLM encoder (``self.transformer``) with a head; sequences are scored by the sequence summary
    (``config.summary_type``: last, first, mean or cls_index token, optionally projected)."""

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.transformer = XLMModel(config, rngs=rngs)

    def layer_outputs(self, out: o.BaseModelOutput) -> dict[str, Any]:
        return dict(hidden_states=out.hidden_states, attentions=out.attentions)

    def classifier_dropout_rate(self) -> float:
        return self.config.dropout

    def check_encoder_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        return check_xlm_inputs(self.config, raw)

    def resolve_inputs(self, raw: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
        return dict(raw, langs=language_ids(self.config, raw.get("langs"), shape))

    def choice_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        if raw.get("lengths") is not None:
            warn(f"{type(self).__name__} ignores lengths (as transformers does); pass attention_mask")
        return dict(raw, lengths=None)

    def _summary_size(self) -> int | None:
        c = self.config
        if not c.summary_use_proj:
            return None
        return c.num_labels if c.summary_proj_to_labels and c.num_labels > 0 else c.emb_dim

    def add_sequence_scorer(self, rngs: nnx.Rngs) -> None:
        c, size = self.config, self._summary_size()
        self.sequence_summary = SequenceSummary(
            c.emb_dim,
            c.summary_type,
            size,
            ("embed", "classes" if size != c.emb_dim else "hidden"),
            c.summary_activation,
            c.summary_first_dropout,
            c.summary_last_dropout or 0.0,
            **self.layer_dtypes,
            rngs=rngs,
        )

    def score_sequence(self, out: o.BaseModelOutput, dropout_key: jax.Array | None) -> jax.Array:
        return self.sequence_summary(out.last_hidden_state, dropout_key=dropout_key)

    def add_choice_scorer(self, rngs: nnx.Rngs) -> None:
        if self._summary_size() != self.config.num_labels:
            raise ValueError(
                f"{type(self).__name__} needs summary_use_proj and summary_proj_to_labels (the summary feeds a "
                "num_labels -> 1 projection)"
            )
        self.add_sequence_scorer(rngs)
        self.logits_proj = Dense(self.config.num_labels, 1, ("classes", None), **self.layer_dtypes, rngs=rngs)

    def score_choice(self, out: o.BaseModelOutput, dropout_key: jax.Array | None) -> jax.Array:
        return self.logits_proj(self.score_sequence(out, dropout_key))


class XLMWithLMHeadModel(XLMTaskHead):
    """Language modelling: ``logits`` ``(B, L, V)`` from a projection tied to the word embeddings.

    The projection has its own bias; with ``tie_word_embeddings=False`` it also has its own weight.
    ``labels`` ``(B, L)`` (-100 ignored) give the plain, unshifted cross entropy (as transformers
    computes it, whatever its docstring says). :meth:`generate` decodes as transformers does.
    Adaptive softmax (``asm=True``) is refused: transformers' implementation of it is broken and no
    released checkpoint uses it.
    """

    head_inputs = ("labels",)

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        if config.asm:
            raise NotImplementedError(
                "XLMWithLMHeadModel with asm=True (adaptive softmax) is not supported: transformers' own "
                "implementation is broken and no released XLM checkpoint uses it"
            )
        super().__init__(config, rngs=rngs)
        self.pred_layer = Decoder(
            config.emb_dim,
            config.vocab_size,
            ("embed", "vocab"),
            tied=config.decoder_tied,
            **self.layer_dtypes,
            rngs=rngs,
        )

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        a = super().prepare_inputs(raw)
        a["labels"] = token_labels(raw, a, self.config.vocab_size)
        return a

    def logits(self, hidden_states: Array) -> Array:
        """``(..., D) -> (..., V)``."""
        return self.pred_layer(hidden_states, self.transformer.embeddings.word_embeddings.embedding[...])

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
        logits = self.logits(out.last_hidden_state)
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return o.MaskedLMOutput(loss=loss, logits=logits, **self.layer_outputs(out))

    def generate(
        self,
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
        eos_token_id: int | None = -1,
        pad_token_id: int | None = None,
    ) -> np.ndarray:
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


class XLMForSequenceClassification(SequenceClassification, XLMTaskHead):
    """Classify (or regress) the sequence summary (``config.summary_type``): ``logits`` ``(B, C)``;
    losses as transformers'."""

    output_class = o.SequenceClassifierOutput


class XLMForQuestionAnsweringSimple(QuestionAnsweringSimple, XLMTaskHead):
    """Extractive QA: ``start_logits`` / ``end_logits`` ``(B, L)`` from one linear layer; num_labels must be 2."""

    output_class = o.QuestionAnsweringModelOutput


class XLMForTokenClassification(TokenClassification, XLMTaskHead):
    """Classify every token: ``logits`` ``(B, L, C)``; labels ``(B, L)`` with -100 ignored."""

    output_class = o.TokenClassifierOutput


class XLMForMultipleChoice(MultipleChoice, XLMTaskHead):
    """Score each of ``C`` choices: inputs ``(B, C, L)``, ``logits`` ``(B, C)``.

    The sequence summary (projected to ``num_labels``) goes through ``logits_proj``
    (``num_labels -> 1``). ``lengths`` is ignored with a warning, as in transformers.
    """

    output_class = o.MultipleChoiceModelOutput
