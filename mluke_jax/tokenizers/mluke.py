"""mLUKE's tokenizer: XLM-R sentencepiece pieces plus entity spans, with transformers **4.x** ids.

Words are XLM-R's pieces in fairseq's id layout (:mod:`mluke_jax.tokenizers.fairseq_pieces`), as
transformers 4.x's slow ``MLukeTokenizer`` gives them and the released checkpoints were trained
with, ``<ent>`` and ``<ent2>`` added after ``<mask>``. (transformers 5 rebuilt the class on the
``tokenizers`` backend and lost the offset and the NFKC normalisation; README "Differences from
transformers".) The entity logic is :class:`~mluke_jax.tokenizers.entity_aware.EntityAwareTokenizer`'s.
"""

import os
from pathlib import Path
from typing import Any

from mluke_jax.tokenizers.entity_aware import TASKS, EntityAwareTokenizer
from mluke_jax.tokenizers.fairseq_pieces import FairseqSentencePiece

SPM_FILE = "sentencepiece.bpe.model"

__all__ = ["SPM_FILE", "TASKS", "MLukeTokenizer"]


class MLukeTokenizer(EntityAwareTokenizer):
    """transformers-4.x-compatible mLUKE tokenizer.

    Args:
        sentencepiece_model: path to ``sentencepiece.bpe.model`` or its bytes.
        entity_vocab: entity name -> id (``"en:Tokyo"``; the special entities bare), or its file.
        entity_token_ids: ids of ``<ent>`` and ``<ent2>`` (default: right after ``<mask>``).
        settings: ``task``, ``max_entity_length``, ... (:class:`EntityAwareTokenizer`).
    """

    entity_names = "{language}:{title}"
    family = "an mLUKE"
    word_files = (SPM_FILE,)

    def __init__(
        self,
        sentencepiece_model: str | os.PathLike | bytes,
        entity_vocab: dict[str, int] | str | os.PathLike,
        *,
        entity_token_ids: tuple[int, int] | None = None,
        **settings: Any,
    ):
        ent, ent2 = entity_token_ids if entity_token_ids is not None else (None, None)
        pieces = FairseqSentencePiece(sentencepiece_model, {"<ent>": ent, "<ent2>": ent2})
        super().__init__(pieces, entity_vocab, **settings)
        self.sp_model = pieces.sp_model

    def _write_word_files(self, path: Path) -> None:
        (path / SPM_FILE).write_bytes(self.pieces.model_bytes)
