"""XLM-R's word pieces: a sentencepiece model with fairseq's id layout and added tokens.

fairseq's four specials take ids 0-3 (``<s>``, ``<pad>``, ``</s>``, ``<unk>``); sentencepiece's own
``<unk>``/``<s>``/``</s>`` are 0/1/2 and every other piece moves up by one; ``<mask>`` follows the
pieces, then any added tokens (mLUKE's ``<ent>`` and ``<ent2>``). This is the layout transformers
4.x's slow ``XLMRobertaTokenizer`` / ``MLukeTokenizer`` give and the released checkpoints use.
"""

import os
import re
from collections.abc import Sequence
from pathlib import Path

WORD_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
FAIRSEQ_OFFSET = 1

Unit = str | int  # a piece of text for sentencepiece, or the id of an added token


class FairseqSentencePiece:
    """Pieces and ids of text, added tokens kept whole.

    Args:
        model: path to a ``sentencepiece.bpe.model`` or its bytes.
        extra_tokens: added tokens after ``<mask>`` (name -> id; default ids follow ``<mask>``).
    """

    def __init__(self, model: str | os.PathLike | bytes, extra_tokens: dict[str, int | None] | None = None):
        import sentencepiece as spm

        if isinstance(model, bytes):
            self.model_bytes = model
        else:
            path = Path(model)
            if not path.is_file():
                raise FileNotFoundError(f"sentencepiece model {path} not found")
            self.model_bytes = path.read_bytes()
        self.sp_model = spm.SentencePieceProcessor(model_proto=self.model_bytes)
        pieces = self.sp_model.get_piece_size()
        self.mask_token_id = pieces + FAIRSEQ_OFFSET
        self.added_tokens = {**WORD_SPECIALS, "<mask>": self.mask_token_id}
        for n, (name, token_id) in enumerate((extra_tokens or {}).items()):
            self.added_tokens[name] = token_id if token_id is not None else self.mask_token_id + 1 + n
        self._added_by_id = {i: t for t, i in self.added_tokens.items()}
        self._added_split = re.compile(
            "(" + "|".join(re.escape(t) for t in sorted(self.added_tokens, key=len, reverse=True)) + ")"
        )

    @property
    def vocab_size(self) -> int:
        """Pieces + specials + ``<mask>`` (transformers' ``vocab_size``; ``len()`` adds the extra tokens)."""
        return self.sp_model.get_piece_size() + FAIRSEQ_OFFSET + 1

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
        """Ids of every sequence of units, with one sentencepiece call for all of them (it spreads
        a list over all cores): ``(ids, starts)``, ``starts`` (where each unit's ids start, plus the
        end) for the sequences ``with_starts`` marks, else None."""
        strings = [u for units in sequences for u in units if u.__class__ is str]
        encoded = iter(self.sp_model.encode(strings) if strings else [])
        unk = WORD_SPECIALS["<unk>"]
        out = []
        for n, units in enumerate(sequences):
            ids: list[int] = []
            if with_starts is None or not with_starts[n]:
                for unit in units:
                    if unit.__class__ is str:
                        ids += [i + FAIRSEQ_OFFSET if i else unk for i in next(encoded)]
                    else:
                        ids.append(unit)
                out.append((ids, None))
                continue
            starts = []
            for unit in units:
                starts.append(len(ids))
                if unit.__class__ is str:
                    ids += [i + FAIRSEQ_OFFSET if i else unk for i in next(encoded)]
                else:
                    ids.append(unit)
            starts.append(len(ids))
            out.append((ids, starts))
        return out

    def tokenize(self, text: str) -> list[str]:
        """Pieces of ``text`` (added tokens whole), as transformers' ``tokenize``."""
        out = []
        for unit in self.units(text):
            out.extend(self.sp_model.encode(unit, out_type=str) if isinstance(unit, str) else [self._added_by_id[unit]])
        return out

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        def one(token: str) -> int:
            if token in self.added_tokens:
                return self.added_tokens[token]
            spm_id = self.sp_model.piece_to_id(token)
            return spm_id + FAIRSEQ_OFFSET if spm_id else WORD_SPECIALS["<unk>"]

        return one(tokens) if isinstance(tokens, str) else [one(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        pieces = self.sp_model.get_piece_size()

        def one(i: int) -> str:
            i = int(i)
            if i in self._added_by_id:
                return self._added_by_id[i]
            if not FAIRSEQ_OFFSET <= i - FAIRSEQ_OFFSET < pieces:
                raise ValueError(f"token id {i} is outside this vocabulary (0..{len(self) - 1})")
            return self.sp_model.id_to_piece(i - FAIRSEQ_OFFSET)

        if isinstance(ids, int) or (hasattr(ids, "ndim") and ids.ndim == 0):
            return one(ids)
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [one(i) for i in ids if int(i) not in special]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` as transformers 4.x decodes it: pieces joined with ``▁`` as spaces; extra
        tokens added after the vocabulary set apart by spaces."""
        parts, run = [], []
        fairseq_specials = set(WORD_SPECIALS) | {"<mask>"}
        for token in self.convert_ids_to_tokens(list(ids), skip_special_tokens=skip_special_tokens):
            if (
                token in self.added_tokens
                and token not in fairseq_specials
                and self.added_tokens[token] >= self.vocab_size
            ):
                if run:
                    text = "".join(run).replace("\u2581", " ").strip()
                    if text:
                        parts.append(text)
                    run = []
                parts.append(token)
            else:
                run.append(token)
        if run:
            parts.append("".join(run).replace("\u2581", " ").strip())
        return " ".join(parts)
