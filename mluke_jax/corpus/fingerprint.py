"""Fingerprints of what a data set was built with, so that loading it with something else is refused.

A fingerprint hashes what decides the ids, not file layouts: the same tokenizer saved by
transformers or by mluke-jax has one fingerprint.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return "sha256:" + h.hexdigest()[:32]


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Of an ``MLukeTokenizer`` (its sentencepiece model and added tokens) or an ``XLMTokenizer``
    (its vocabulary, merges, languages and normalisation)."""
    pieces = getattr(tokenizer, "pieces", None)
    if pieces is not None:
        added = json.dumps(sorted(pieces.added_tokens.items())).encode()
        return _digest(b"sentencepiece", pieces.model_bytes, added)
    state = getattr(tokenizer, "fingerprint_state", None)
    if state is None:
        raise TypeError(f"no fingerprint for a {type(tokenizer).__name__}")
    return _digest(b"xlm-bpe", json.dumps(state(), sort_keys=True, ensure_ascii=False).encode())


def entity_vocab_fingerprint(vocab: Mapping[str, int]) -> str:
    """Of an entity vocabulary (its names and ids, in any order or file format)."""
    return _digest(b"entity-vocab", json.dumps(sorted(vocab.items()), ensure_ascii=False).encode())
