"""RoBERTa's word pieces: byte-level BPE (``vocab.json`` + ``merges.txt``) and added tokens.

The merges run in the ``tokenizers`` library (Hugging Face's Rust BPE, with GPT-2's byte-level
pre-tokenizer and its splitting pattern), not in a hand-written merge loop. Every id comes from
``vocab.json`` (RoBERTa's holds ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3 and ``<mask>``);
added tokens (English LUKE's ``<ent>``, ``<ent2>``) follow it. On text cut at span boundaries this
gives transformers 4.x's slow ``LukeTokenizer`` ids (tests/tokenization/test_luke_tokenizer.py).
"""

import json
import os
from pathlib import Path

from mluke_jax.tokenizers.added_tokens import AddedTokenPieces

ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def read_merges(text: str) -> list[tuple[str, str]]:
    """``merges.txt``: a ``#version`` line, then one ``left right`` pair per line."""
    merges = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line or (number == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"merges.txt line {number} is not a pair of tokens: {line[:80]!r}")
        merges.append((parts[0], parts[1]))
    return merges


class ByteLevelBPE(AddedTokenPieces):
    """Byte-level BPE pieces and ids, added tokens kept whole.

    Args:
        vocab_file / merges_file: ``vocab.json`` and ``merges.txt``.
        extra_tokens: added tokens (name -> id; default ids follow the vocabulary).
    """

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        merges_file: str | os.PathLike,
        extra_tokens: dict[str, int | None] | None = None,
    ):
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers

        for path in (vocab_file, merges_file):
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path} not found")
        self.vocab_bytes = Path(vocab_file).read_bytes()
        self.merges_bytes = Path(merges_file).read_bytes()
        encoder = json.loads(self.vocab_bytes)
        if not isinstance(encoder, dict) or not all(isinstance(v, int) for v in encoder.values()):
            raise ValueError(f"{vocab_file} is not a BPE vocabulary: expected a JSON object of token -> integer id")
        missing = [t for t in ROBERTA_SPECIALS if t not in encoder]
        if missing:
            raise ValueError(f"{vocab_file} lacks RoBERTa's special tokens {missing}")
        self.encoder = encoder
        self.decoder = {i: t for t, i in encoder.items()}
        merges = read_merges(self.merges_bytes.decode("utf-8"))
        model = models.BPE(vocab=encoder, merges=merges, unk_token="<unk>")
        self.bpe = Tokenizer(model)
        self.bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        self._bytes_decoder = decoders.ByteLevel()
        self.mask_token_id = encoder["<mask>"]
        added = {t: encoder[t] for t in ROBERTA_SPECIALS}
        for n, (name, token_id) in enumerate((extra_tokens or {}).items()):
            added[name] = token_id if token_id is not None else encoder.get(name, len(encoder) + n)
        self._set_added_tokens(added)

    @property
    def vocab_size(self) -> int:
        """Entries of ``vocab.json`` (transformers' ``vocab_size``; ``len()`` adds the added tokens)."""
        return len(self.encoder)

    def encode_strings(self, strings: list[str]) -> list[list[int]]:
        """One ``tokenizers`` call for all strings (it spreads a batch over all cores)."""
        return [e.ids for e in self.bpe.encode_batch(strings, add_special_tokens=False)]

    def string_tokens(self, string: str) -> list[str]:
        return self.bpe.encode(string, add_special_tokens=False).tokens

    def token_id(self, token: str) -> int:
        return self.encoder.get(token, self.encoder["<unk>"])

    def token_name(self, token_id: int) -> str:
        if token_id not in self.decoder:
            raise ValueError(f"token id {token_id} is outside this vocabulary (0..{len(self) - 1})")
        return self.decoder[token_id]

    def tokens_to_string(self, tokens: list[str]) -> str:
        """The bytes the tokens stand for, as UTF-8 (undecodable bytes replaced)."""
        return self._bytes_decoder.decode(tokens)
