"""The LUKE-family tokenizer a directory holds: mLUKE's sentencepiece or English LUKE's BPE files."""

import os
from typing import Any

from mluke_jax.hf.hub import tokenizer_directory
from mluke_jax.tokenizers.entity_aware import EntityAwareTokenizer
from mluke_jax.tokenizers.luke import MERGES_FILE, VOCAB_FILE, LukeTokenizer
from mluke_jax.tokenizers.mluke import SPM_FILE, MLukeTokenizer


def load_entity_tokenizer(
    name_or_path: str | os.PathLike, *, revision: str | None = None, **overrides: Any
) -> EntityAwareTokenizer:
    """:class:`~mluke_jax.MLukeTokenizer` for a directory (or hub repository) with
    ``sentencepiece.bpe.model``, :class:`~mluke_jax.LukeTokenizer` for one with ``vocab.json`` and
    ``merges.txt``; ``overrides`` as their ``from_pretrained``."""
    path = tokenizer_directory(name_or_path, revision)
    if (path / SPM_FILE).is_file():
        return MLukeTokenizer.from_pretrained(path, **overrides)
    if (path / VOCAB_FILE).is_file() and (path / MERGES_FILE).is_file():
        return LukeTokenizer.from_pretrained(path, **overrides)
    raise FileNotFoundError(
        f"{path} has neither {SPM_FILE} (mLUKE) nor {VOCAB_FILE} + {MERGES_FILE} (English LUKE): not a LUKE "
        "tokenizer directory"
    )
