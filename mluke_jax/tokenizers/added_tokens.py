"""Word pieces around added tokens: what the sentencepiece and byte-level BPE vocabularies share.

A text is split at the added tokens (``<s>``, ``<mask>``, ``<ent>``, ...), which become their ids
whole; the text between them goes to the subword model. ``<mask>`` also takes the spaces before it
(transformers' ``lstrip``). A subclass gives the subword model: :meth:`encode_strings` (ids of many
strings in one call) and :meth:`string_tokens`, and the vocabulary lookups.
"""

import re
from collections.abc import Sequence

Unit = str | int  # a piece of text for the subword model, or the id of an added token
# transformers' special tokens of both vocabularies (not its "additional" ones, <ent> and <ent2>)
WORD_SPECIAL_TOKENS = frozenset({"<s>", "</s>", "<unk>", "<pad>", "<mask>"})


class AddedTokenPieces:
    """Base of :class:`~mluke_jax.tokenizers.fairseq_pieces.FairseqSentencePiece` and
    :class:`~mluke_jax.tokenizers.byte_level_bpe.ByteLevelBPE`; call :meth:`_set_added_tokens`."""

    added_tokens: dict[str, int]
    mask_token_id: int
    appended_specials: dict[str, int] = {}  # special tokens the vocabulary lacked, added after it

    def _set_added_tokens(self, added_tokens: dict[str, int]) -> None:
        self.added_tokens = dict(added_tokens)
        self._added_by_id = {i: t for t, i in self.added_tokens.items()}
        self._added_split = re.compile(
            "(" + "|".join(re.escape(t) for t in sorted(self.added_tokens, key=len, reverse=True)) + ")"
        )

    # ------------------------------------------------------------- what a subclass gives
    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def encode_strings(self, strings: list[str]) -> list[list[int]]:
        """Ids of every string (no added tokens in them), in one call to the subword model."""
        raise NotImplementedError

    def string_tokens(self, string: str) -> list[str]:
        """Token names of one string without added tokens."""
        raise NotImplementedError

    # ------------------------------------------------------------------------- shared
    def __len__(self) -> int:
        return max(self.vocab_size, max(self.added_tokens.values()) + 1)

    @property
    def all_special_ids(self) -> list[int]:
        return sorted(set(self.added_tokens.values()))

    def units(self, text: str) -> list[Unit]:
        """``text`` split at the added tokens, which become ids; ``<mask>`` also takes the spaces
        before it (transformers' ``lstrip``)."""
        if "<" not in text:
            return [text] if text else []
        parts = self._added_split.split(text)
        for i in range(1, len(parts), 2):
            if parts[i] == "<mask>" and parts[i - 1]:
                parts[i - 1] = parts[i - 1].rstrip()
        return [self.added_tokens[p] if i % 2 else p for i, p in enumerate(parts) if p]

    def encode_units(
        self, sequences: Sequence[Sequence[Unit]], with_starts: Sequence[bool] | None = None
    ) -> list[tuple[list[int], list[int] | None]]:
        """Ids of every sequence of units, with one subword-model call for all of them:
        ``(ids, starts)``, ``starts`` (where each unit's ids start, plus the end) for the sequences
        ``with_starts`` marks, else None."""
        strings = [u for units in sequences for u in units if u.__class__ is str]
        encoded = iter(self.encode_strings(strings) if strings else [])
        out = []
        for n, units in enumerate(sequences):
            ids: list[int] = []
            starts: list[int] | None = [] if with_starts is not None and with_starts[n] else None
            for unit in units:
                if starts is not None:
                    starts.append(len(ids))
                if unit.__class__ is str:
                    ids += next(encoded)
                else:
                    ids.append(unit)
            if starts is not None:
                starts.append(len(ids))
            out.append((ids, starts))
        return out

    def tokenize(self, text: str) -> list[str]:
        """Token names of ``text`` (added tokens whole), as transformers' ``tokenize``."""
        out = []
        for unit in self.units(text):
            out.extend(self.string_tokens(unit) if isinstance(unit, str) else [self._added_by_id[unit]])
        return out

    def token_id(self, token: str) -> int:
        """Id of a token that is not an added token (the unknown token's id when missing)."""
        raise NotImplementedError

    def token_name(self, token_id: int) -> str:
        """Name of an id that is not an added token's; raises for an id outside the vocabulary."""
        raise NotImplementedError

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        def one(token: str) -> int:
            return self.added_tokens[token] if token in self.added_tokens else self.token_id(token)

        return one(tokens) if isinstance(tokens, str) else [one(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        def one(i: int) -> str:
            i = int(i)
            return self._added_by_id[i] if i in self._added_by_id else self.token_name(i)

        if isinstance(ids, int) or (hasattr(ids, "ndim") and ids.ndim == 0):
            return one(ids)
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [one(i) for i in ids if int(i) not in special]

    def tokens_to_string(self, tokens: list[str]) -> str:
        """Text of a run of tokens without added tokens after the vocabulary."""
        raise NotImplementedError

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` as transformers 4.x's slow tokenizers decode it: runs of tokens turned to
        text, and the tokens added after the vocabulary (``<ent>``, ``<ent2>``; not ``<s>``, ``<mask>``,
        ... that a vocabulary lacked) set apart by spaces."""
        parts, run = [], []
        for token in self.convert_ids_to_tokens(list(ids), skip_special_tokens=skip_special_tokens):
            if (
                token in self.added_tokens
                and token not in WORD_SPECIAL_TOKENS
                and self.added_tokens[token] >= self.vocab_size
            ):
                if run:
                    text = self.tokens_to_string(run)
                    if text:
                        parts.append(text)
                    run = []
                parts.append(token)
            else:
                run.append(token)
        if run:
            parts.append(self.tokens_to_string(run))
        return " ".join(parts)
