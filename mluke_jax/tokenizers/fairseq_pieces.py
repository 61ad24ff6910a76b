"""XLM-R's word pieces: a sentencepiece model with fairseq's id layout and added tokens.

fairseq's four specials take ids 0-3 (``<s>``, ``<pad>``, ``</s>``, ``<unk>``); sentencepiece's own
``<unk>``/``<s>``/``</s>`` are 0/1/2 and every other piece moves up by one; ``<mask>`` follows the
pieces, then any added tokens (mLUKE's ``<ent>`` and ``<ent2>``). This is the layout transformers
4.x's slow ``XLMRobertaTokenizer`` / ``MLukeTokenizer`` give and the released checkpoints use.
"""

import os
from pathlib import Path

from mluke_jax.tokenizers.added_tokens import AddedTokenPieces, Unit

WORD_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
FAIRSEQ_OFFSET = 1

__all__ = ["FAIRSEQ_OFFSET", "WORD_SPECIALS", "FairseqSentencePiece", "Unit"]


class FairseqSentencePiece(AddedTokenPieces):
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
        added = {**WORD_SPECIALS, "<mask>": self.mask_token_id}
        for n, (name, token_id) in enumerate((extra_tokens or {}).items()):
            added[name] = token_id if token_id is not None else self.mask_token_id + 1 + n
        self._set_added_tokens(added)

    @property
    def vocab_size(self) -> int:
        """Pieces + specials + ``<mask>`` (transformers' ``vocab_size``; ``len()`` adds the extra tokens)."""
        return self.sp_model.get_piece_size() + FAIRSEQ_OFFSET + 1

    def encode_strings(self, strings: list[str]) -> list[list[int]]:
        """One sentencepiece call for all strings (it spreads a list over all cores)."""
        unk = WORD_SPECIALS["<unk>"]
        return [[i + FAIRSEQ_OFFSET if i else unk for i in ids] for ids in self.sp_model.encode(strings)]

    def string_tokens(self, string: str) -> list[str]:
        return self.sp_model.encode(string, out_type=str)

    def token_id(self, token: str) -> int:
        spm_id = self.sp_model.piece_to_id(token)
        return spm_id + FAIRSEQ_OFFSET if spm_id else WORD_SPECIALS["<unk>"]

    def token_name(self, token_id: int) -> str:
        if not FAIRSEQ_OFFSET <= token_id - FAIRSEQ_OFFSET < self.sp_model.get_piece_size():
            raise ValueError(f"token id {token_id} is outside this vocabulary (0..{len(self) - 1})")
        return self.sp_model.id_to_piece(token_id - FAIRSEQ_OFFSET)

    def tokens_to_string(self, tokens: list[str]) -> str:
        """Pieces joined with ``▁`` as spaces."""
        return "".join(tokens).replace("\u2581", " ").strip()
