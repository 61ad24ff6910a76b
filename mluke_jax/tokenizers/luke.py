"""English LUKE's tokenizer: RoBERTa's byte-level BPE plus entity spans, with transformers **4.x** ids.

Words are RoBERTa's byte-level BPE pieces (:mod:`mluke_jax.tokenizers.byte_level_bpe`, run by the
``tokenizers`` library), ``<ent>`` and ``<ent2>`` added after ``vocab.json``; entity names are plain
Wikipedia titles (``"Tokyo"``, no language prefix). The entity logic is
:class:`~mluke_jax.tokenizers.entity_aware.EntityAwareTokenizer`'s, shared with mLUKE.

transformers 5's ``LukeTokenizer`` leaves out ``<s>``/``</s>`` on plain text (its issue 48544);
this gives 4.x's ids, the ones the released checkpoints were trained with (README "Differences").
"""

import os
from pathlib import Path
from typing import Any

from mluke_jax.tokenizers.byte_level_bpe import APPEND_ORDER, ByteLevelBPE
from mluke_jax.tokenizers.entity_aware import EntityAwareTokenizer

VOCAB_FILE, MERGES_FILE = "vocab.json", "merges.txt"


class LukeTokenizer(EntityAwareTokenizer):
    """transformers-4.x-compatible English LUKE tokenizer (``studio-ousia/luke-base``,
    ``luke-large`` and their fine-tuned checkpoints).

    Args:
        vocab_file / merges_file: RoBERTa's ``vocab.json`` and ``merges.txt``.
        entity_vocab: entity name -> id (``"Tokyo"``; the special entities ``[PAD]``, ``[UNK]``,
            ``[MASK]``, ``[MASK2]``), or its file (``entity_vocab.json`` / ``.tsv``), as transformers
            4.x's ``LukeTokenizer(vocab_file, merges_file, entity_vocab_file)``.
        entity_token_ids: ids of ``<ent>`` and ``<ent2>`` (default: right after the vocabulary).
        special_token_ids: ids of special tokens (``<s>``, ``<mask>``, ...) that ``vocab_file``
            lacks, as ``added_tokens.json`` gives them; without, the missing ones are added after the
            vocabulary in transformers 4.x's order (with a warning).
        settings: ``task``, ``max_entity_length``, ... (:class:`EntityAwareTokenizer`).
    """

    entity_names = "{title}"
    family = "an English LUKE"
    word_files = (VOCAB_FILE, MERGES_FILE)
    appendable_specials = APPEND_ORDER

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        merges_file: str | os.PathLike,
        entity_vocab: dict[str, int] | str | os.PathLike,
        *,
        entity_token_ids: tuple[int, int] | None = None,
        special_token_ids: dict[str, int] | None = None,
        **settings: Any,
    ):
        ent, ent2 = entity_token_ids if entity_token_ids is not None else (None, None)
        pieces = ByteLevelBPE(vocab_file, merges_file, {"<ent>": ent, "<ent2>": ent2}, special_token_ids)
        super().__init__(pieces, entity_vocab, **settings)

    def _write_word_files(self, path: Path) -> None:
        (path / VOCAB_FILE).write_bytes(self.pieces.vocab_bytes)
        (path / MERGES_FILE).write_bytes(self.pieces.merges_bytes)
