"""Pretraining batches: the corpus streams with the objectives' masking, as a model's inputs and labels.

- :func:`luke_batches`: masked words + masked entities (:class:`~.masking.LukeMasking`) on
  ``corpus examples`` data, the arrays ``LukeForMaskedLM`` takes (``labels``, ``entity_labels``,
  and ``masked_positions`` unless ``sparse_word_head=False``: the word head then runs at the
  predicted positions only, as the original pretraining).
- :func:`xlm_batches`: ``"mlm"`` (:class:`~.masking.XLMMasking`) or ``"clm"`` (next-token targets)
  on ``corpus xlm-text`` windows or ``corpus xlm-parallel`` pairs (MLM on pairs is TLM; ``"tlm"``
  insists on pairs), the arrays ``XLMWithLMHeadModel`` takes (``langs``, and for pairs
  ``attention_mask`` / ``position_ids``).

Each returns a stream with ``position`` / ``seek`` for ``fit`` and ``TrainCheckpointer``.
``evaluation=True`` masks as the original evaluations do: every target ``<mask>`` (no random or
kept tokens) and at least one per example; :mod:`~mluke_jax.pretrain.evaluation` reads such a
stream's examples in order, once.
"""

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from mluke_jax.corpus.loader import EntityExampleStream, GrainBatchStream, open_example_sets
from mluke_jax.corpus.xlm_loader import XLMPairBatches, XLMStreamBatches, token_counts
from mluke_jax.pretrain.masking import LukeMasking, XLMMasking, causal_targets
from mluke_jax.tokenizers.xlm import SPECIAL_TOKENS

LUKE_FIELDS = (
    "input_ids",
    "attention_mask",
    "entity_ids",
    "entity_attention_mask",
    "entity_position_ids",
    "labels",
    "entity_labels",
    "masked_positions",
)
XLM_WINDOW_FIELDS = ("input_ids", "langs", "labels")
XLM_PAIR_FIELDS = ("input_ids", "attention_mask", "position_ids", "langs", "labels")
XLM_OBJECTIVES = ("mlm", "clm", "tlm")
PAIR_FORMAT = "mluke-jax-xlm-parallel"


def luke_batches(
    directories: Sequence[str | os.PathLike],
    global_batch_size: int,
    tokenizer: Any,
    *,
    seed: int = 0,
    shard: tuple[int, int] | None = None,
    alpha: float = 0.7,
    whole_word: bool = True,
    word_prob: float = 0.15,
    entity_prob: float = 0.15,
    evaluation: bool = False,
    sparse_word_head: bool = True,
    **stream: Any,
) -> EntityExampleStream:
    """Masked mLUKE batches from ``corpus examples`` data built with ``tokenizer`` (an
    ``MLukeTokenizer`` holding the data's entity vocabulary; both checked by fingerprint)."""
    replace = {"mask_prob": 1.0, "random_prob": 0.0} if evaluation else {}
    masking = LukeMasking.for_tokenizer(
        tokenizer, whole_word=whole_word, word_prob=word_prob, entity_prob=entity_prob, **replace
    )
    if sparse_word_head:  # the predicted positions, for LukeForMaskedLM's word head at those only
        longest = stream.get("max_seq_length") or max(
            s.metadata["settings"]["max_seq_length"] for s in open_example_sets(directories)
        )
        masking = dataclasses.replace(masking, max_predictions=masking.predictions_for(longest))
    return EntityExampleStream(
        directories,
        global_batch_size,
        seed=seed,
        shard=shard,
        alpha=alpha,
        transform=masking,
        tokenizer=tokenizer,
        entity_vocab=tokenizer.entity_vocab,
        fields=LUKE_FIELDS if sparse_word_head else LUKE_FIELDS[:-1],
        **stream,
    )


def xlm_batches(
    directories: Sequence[str | os.PathLike],
    global_batch_size: int,
    tokenizer: Any,
    objective: str = "mlm",
    *,
    seed: int = 0,
    shard: tuple[int, int] | None = None,
    alpha: float = 0.7,
    bptt: int = 256,
    max_len: int = 100,
    word_pred: float = 0.15,
    sample_alpha: float = 0.0,
    evaluation: bool = False,
    **stream: Any,
) -> GrainBatchStream:
    """XLM batches for ``objective`` (see the module docstring) from data built with ``tokenizer``
    (an ``XLMTokenizer``; checked by fingerprint). ``sample_alpha > 0`` weighs MLM targets by the
    data's token counts ** -sample_alpha (``token_counts.npy`` of ``corpus xlm-text``)."""
    if objective not in XLM_OBJECTIVES:
        raise ValueError(f"unknown XLM objective {objective!r}: choose one of {XLM_OBJECTIVES}")
    pairs = open_example_sets(directories)[0].metadata["format"] == PAIR_FORMAT
    if objective == "tlm" and not pairs:
        raise ValueError(f"TLM trains on 'corpus xlm-parallel' pairs; {directories[0]} holds a text stream")
    vocab, pad = tokenizer.vocab_size, tokenizer.encoder["<pad>"]
    mask = tokenizer.encoder["<special1>"]  # XLM's mask token
    replace = {"mask_prob": 1.0, "keep_prob": 0.0, "at_least_one": True} if evaluation else {}
    if objective == "clm":
        transform = causal_targets
    elif sample_alpha > 0:
        if pairs:
            raise ValueError("sample_alpha weighs by the token counts of xlm-text data; TLM pairs have none")
        specials = [tokenizer.encoder[t] for t in SPECIAL_TOKENS if t in tokenizer.encoder]
        transform = XLMMasking.for_counts(
            token_counts(directories),
            sample_alpha,
            specials,
            vocab_size=vocab,
            mask_id=mask,
            pad_id=pad,
            word_pred=word_pred,
            **replace,
        )
    else:
        transform = XLMMasking(vocab_size=vocab, mask_id=mask, pad_id=pad, word_pred=word_pred, **replace)
    common = dict(seed=seed, shard=shard, alpha=alpha, transform=transform, tokenizer=tokenizer, **stream)
    if pairs:
        return XLMPairBatches(directories, global_batch_size, max_len=max_len, fields=XLM_PAIR_FIELDS, **common)
    return XLMStreamBatches(directories, global_batch_size, bptt=bptt, fields=XLM_WINDOW_FIELDS, **common)
