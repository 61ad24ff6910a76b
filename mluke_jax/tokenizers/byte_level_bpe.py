"""RoBERTa's word pieces: byte-level BPE (``vocab.json`` + ``merges.txt``) and added tokens.

The merges run in the ``tokenizers`` library (Hugging Face's Rust BPE, with GPT-2's byte-level
pre-tokenizer and its splitting pattern), not in a hand-written merge loop. Every id comes from
``vocab.json`` (RoBERTa's holds ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3 and ``<mask>``);
added tokens (English LUKE's ``<ent>``, ``<ent2>``) follow it. On text cut at span boundaries this
gives transformers 4.x's slow ``LukeTokenizer`` ids (tests/tokenization/test_luke_tokenizer.py).

A ``vocab.json`` without some of the special tokens is accepted as transformers 4.x accepts it:
the missing ones are added after the vocabulary, in the order ``<s>``, ``</s>``, ``<unk>``,
``<pad>``, ``<mask>`` (4.x's bos, eos, unk, pad, mask), before the added tokens, with a warning.
"""

import json
import os
from pathlib import Path

from mluke_jax.tokenizers.added_tokens import AddedTokenPieces
from mluke_jax.warn import warn

# The order transformers 4.x adds the specials a vocab.json lacks (bos, eos, unk, pad, mask).
APPEND_ORDER = ("<s>", "</s>", "<unk>", "<pad>", "<mask>")


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
        extra_tokens: added tokens (name -> id; default ids follow the vocabulary and the specials
            added after it).
        special_token_ids: ids of special tokens that ``vocab.json`` lacks (``added_tokens.json``);
            the others it lacks are numbered after the vocabulary as transformers 4.x numbers them.
    """

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        merges_file: str | os.PathLike,
        extra_tokens: dict[str, int | None] | None = None,
        special_token_ids: dict[str, int] | None = None,
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
        self.encoder = encoder
        self.decoder = {i: t for t, i in encoder.items()}
        extra_tokens = extra_tokens or {}
        given = {t: i for t, i in (special_token_ids or {}).items() if t in APPEND_ORDER and t not in encoder}
        given.update({t: i for t, i in extra_tokens.items() if i is not None})
        taken = set(encoder.values()) | set(given.values())
        next_id = len(encoder)
        added: dict[str, int] = {}
        self.appended_specials: dict[str, int] = {}
        for name in (*APPEND_ORDER, *extra_tokens):
            if name in given:
                added[name] = given[name]
            elif name in encoder:
                added[name] = encoder[name]
            else:
                while next_id in taken:
                    next_id += 1
                added[name] = next_id
                taken.add(next_id)
            if name in APPEND_ORDER and name not in encoder:
                self.appended_specials[name] = added[name]
        numbered = {t: i for t, i in self.appended_specials.items() if t not in given}  # not from added_tokens.json
        if numbered:
            warn(
                f"{vocab_file} lacks the special tokens {list(numbered)}: added after the vocabulary as {numbered}, "
                "as transformers 4.x does"
            )
        self.unk_token_id = added["<unk>"]
        self.mask_token_id = added["<mask>"]
        merges = read_merges(self.merges_bytes.decode("utf-8"))
        # the BPE model needs its unknown token in its vocabulary, even when it is an added one
        model = models.BPE(vocab={**encoder, "<unk>": self.unk_token_id}, merges=merges, unk_token="<unk>")
        self.bpe = Tokenizer(model)
        self.bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        self._bytes_decoder = decoders.ByteLevel()
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
        return self.encoder.get(token, self.unk_token_id)

    def token_name(self, token_id: int) -> str:
        if token_id not in self.decoder:
            raise ValueError(f"token id {token_id} is outside this vocabulary (0..{len(self) - 1})")
        return self.decoder[token_id]

    def tokens_to_string(self, tokens: list[str]) -> str:
        """The bytes the tokens stand for, as UTF-8 (undecodable bytes replaced)."""
        return self._bytes_decoder.decode(tokens)
