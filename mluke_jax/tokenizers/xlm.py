"""XLM's tokenizer: Moses pre-processing and tokenisation, optional lowercasing, BPE with ``</w>``.

Gives transformers' ``XLMTokenizer`` ids when no language is given (transformers always applies the
English Moses rules: its ``lang`` argument never reaches the tokenizer). With ``lang="de"`` the
German rules really apply (and Sennrich's Romanian normalisation for ``ro``), and the output has
``langs`` ids from ``lang2id``. Needs ``sacremoses``; Chinese (``rjieba``) and Thai (``pythainlp``)
segmenters and Japanese (KyTea) are optional and asked for by name when missing.

A vocabulary without some of the 14 special tokens is accepted as transformers 4.x accepts it: the
missing ones are added after it, in 4.x's order (``<s>``, ``<unk>``, ``</s>``, ``<pad>``,
``<special1>``, ``<special0>``, ``<special2>`` ... ``<special9>``), with a warning.
"""

import json
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax.hf.hub import tokenizer_directory
from mluke_jax.tokenizers.common import (
    check_pad_to_multiple_of,
    pad_columns,
    padding_strategy,
    round_up,
    to_arrays,
    truncate_pair,
    truncation_strategy,
    without_garbage_collection,
)
from mluke_jax.tokenizers.moses import (
    MosesTools,
    romanian_preprocessing,
)
from mluke_jax.warn import warn

SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<unk>"] + [f"<special{i}>" for i in range(10)]
# The order transformers 4.x adds the specials a vocabulary lacks: bos, unk, sep, pad, mask
# (<special1>), then the other additional special tokens.
APPEND_ORDER = ("<s>", "<unk>", "</s>", "<pad>", "<special1>", "<special0>", *(f"<special{i}>" for i in range(2, 10)))
# Added after the vocabulary, these are set apart by spaces in decode (4.x's "additional" specials).
_ADDITIONAL = frozenset(t for t in SPECIAL_TOKENS[4:] if t != "<special1>")
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS, key=len, reverse=True)) + ")")


def lowercase_and_remove_accent(words: list[str]) -> list[str]:
    """XLM's ``tools/lowercase_and_remove_accent.py`` over a list of words."""
    text = " ".join(words).lower()
    if not text.isascii():  # ASCII has no decomposition and no combining marks
        text = unicodedata.normalize("NFD", text)
        text = "".join(c for c in text if unicodedata.category(c) != "Mn").lower()
    return text.split(" ")


def read_merges(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``merges.txt`` / fastBPE ``codes`` lines ``a b [count]``.

    As transformers reads it: the text split at newlines with the last piece dropped (so a last
    line without a trailing newline is ignored), the first two fields of each line.
    """
    lines = Path(path).read_text(encoding="utf-8").split("\n")[:-1]
    return [tuple(line.split()[:2]) for line in lines]


def read_original_vocab(path: str | os.PathLike) -> dict[str, int]:
    """An original XLM ``vocab`` file (``word count`` lines, fastBPE ``@@`` markers) as transformers'
    ``vocab.json``: the 14 specials first, then file order; ``@@`` dropped, word ends ``</w>``."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        if not line.strip() or "\u2028" in line:
            continue
        word = line.rstrip().rsplit(" ", 1)[0] if " " in line.strip() else line.strip()
        token = word.replace("@@", "") if "@@" in word else word + "</w>"
        if token not in vocab:
            vocab[token] = len(vocab)
    return vocab


def _append_specials(vocab: dict[str, int], given: dict[str, int]) -> dict[str, int]:
    """The special tokens ``vocab`` lacks -> their ids after it: ``given`` ones as given, the
    others numbered on from ``len(vocab)`` in transformers 4.x's order."""
    taken = set(vocab.values()) | set(given.values())
    next_id, out = len(vocab), {}
    for token in APPEND_ORDER:
        if token in vocab:
            continue
        if token in given:
            out[token] = given[token]
            continue
        while next_id in taken:
            next_id += 1
        out[token] = next_id
        taken.add(next_id)
    return out


class XLMTokenizer:
    """transformers-compatible XLM tokenizer (see the module docstring).

    Args:
        vocab: token -> id (``vocab.json``).
        merges: BPE merges in rank order.
        do_lowercase_and_remove_accent: the model's setting (true for the en-de/en-fr/en-ro/xnli15
            models, false for the cased 17/100-language models).
        lang2id: language code -> ``langs`` id.
        model_max_length: longest sequence (512 for XLM).
        added_token_ids: ids of special tokens the vocabulary lacks (``added_tokens.json``); the
            others it lacks are numbered after it as transformers 4.x numbers them (with a warning).
            ``vocab_size`` counts them (transformers' ``len()``).
    """

    def __init__(
        self,
        vocab: dict[str, int],
        merges: list[tuple[str, str]],
        *,
        do_lowercase_and_remove_accent: bool = True,
        lang2id: dict[str, int] | None = None,
        model_max_length: int = 512,
        added_token_ids: dict[str, int] | None = None,
    ):
        self.word_vocab = dict(vocab)
        given = added_token_ids or {}
        self.appended_specials = _append_specials(self.word_vocab, given)
        numbered = {t: i for t, i in self.appended_specials.items() if t not in given}  # not from added_tokens.json
        if numbered:
            warn(
                f"the XLM vocabulary lacks the special tokens {list(numbered)}: added after it as {numbered}, as "
                "transformers 4.x does"
            )
        self.encoder = {**self.word_vocab, **self.appended_specials}
        self.decoder = {i: t for t, i in self.encoder.items()}
        self._set_apart = frozenset(t for t in self.appended_specials if t in _ADDITIONAL)
        self.bpe_ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.do_lowercase_and_remove_accent = do_lowercase_and_remove_accent
        self.lang2id = dict(lang2id) if lang2id else None
        self.model_max_length = model_max_length
        self._cache: dict[str, list[str]] = {}
        self._word_cache: dict[str, list[str]] = {}
        self._ja_segmenter = None
        self._moses = MosesTools()

    # ----------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, revision: str | None = None) -> "XLMTokenizer":
        """Read a transformers directory (``vocab.json``, ``merges.txt``, ``tokenizer_config.json``),
        the original XLM files (``vocab`` / ``vocab_*`` and ``codes`` / ``codes_*``) or a hub repository."""
        path = tokenizer_directory(name_or_path, revision)
        settings = {}
        if (path / "tokenizer_config.json").is_file():
            settings = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
        elif (path / "config.json").is_file():  # a converted model directory: languages from the model
            settings = {
                k: v
                for k, v in json.loads((path / "config.json").read_text(encoding="utf-8")).items()
                if k == "lang2id"
            }
        added = {}
        if (path / "added_tokens.json").is_file():
            added = json.loads((path / "added_tokens.json").read_text(encoding="utf-8"))
        if (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
            vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
            merges = read_merges(path / "merges.txt")
        else:
            vocab_file = next(iter(sorted(path.glob("vocab")) + sorted(path.glob("vocab_*"))), None)
            codes_file = next(iter(sorted(path.glob("codes")) + sorted(path.glob("codes_*"))), None)
            if vocab_file is None or codes_file is None:
                raise FileNotFoundError(
                    f"{path} has neither vocab.json + merges.txt (transformers) nor vocab + codes (original XLM)"
                )
            vocab, merges = read_original_vocab(vocab_file), read_merges(codes_file)
        return cls(
            vocab,
            merges,
            do_lowercase_and_remove_accent=settings.get("do_lowercase_and_remove_accent", True),
            lang2id=settings.get("lang2id"),
            model_max_length=min(int(settings.get("model_max_length", 512)), 10**6),
            added_token_ids={t: int(i) for t, i in added.items() if t in SPECIAL_TOKENS},
        )

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json`` (transformers' layout),
        and ``added_tokens.json`` when special tokens were added after the vocabulary."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "vocab.json").write_text(
            json.dumps(self.word_vocab, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        if self.appended_specials:
            (path / "added_tokens.json").write_text(json.dumps(self.appended_specials, indent=2) + "\n")
        merges = sorted(self.bpe_ranks, key=self.bpe_ranks.get)
        (path / "merges.txt").write_text("".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
        config = {
            "tokenizer_class": "XLMTokenizer",
            "do_lowercase_and_remove_accent": self.do_lowercase_and_remove_accent,
            "model_max_length": self.model_max_length,
        }
        if self.lang2id:
            config["lang2id"] = self.lang2id
            config["id2lang"] = {str(i): lang for lang, i in self.lang2id.items()}
        (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    # ------------------------------------------------------------------------ tokenising
    @property
    def vocab_size(self) -> int:
        """Every id, the special tokens added after the vocabulary included."""
        return len(self.encoder)

    def __len__(self) -> int:
        return len(self.encoder)

    def fingerprint_state(self) -> dict[str, Any]:
        """What decides the ids (for data set fingerprints): vocabulary, merges, casing, languages."""
        merges = [list(pair) for pair, _ in sorted(self.bpe_ranks.items(), key=lambda item: item[1])]
        return {
            "vocab": sorted(self.encoder.items()),
            "merges": merges,
            "do_lowercase_and_remove_accent": self.do_lowercase_and_remove_accent,
            "lang2id": sorted((self.lang2id or {}).items()),
        }

    def _check_lang(self, lang: str | None) -> None:
        if lang is not None and self.lang2id is not None and lang not in self.lang2id:
            raise ValueError(f"unknown language {lang!r}: this tokenizer knows {sorted(self.lang2id)}")

    def _normalise(self, text: str, lang: str) -> str:
        return self._moses.normalise(text, lang)

    def _words(self, text: str, lang: str) -> list[str]:
        """Pre-tokenised words of a text without special tokens."""
        if lang == "zh":
            try:
                import rjieba
            except ImportError:
                raise ImportError("Chinese tokenisation needs rjieba: pip install rjieba") from None
            return self._normalise(" ".join(rjieba.cut(text)), lang).split()
        if lang == "th":
            try:
                from pythainlp.tokenize import word_tokenize
            except ImportError:
                raise ImportError("Thai tokenisation needs pythainlp: pip install pythainlp") from None
            return word_tokenize(self._normalise(text, lang))
        if lang == "ja":
            return list(self._kytea().getWS(self._normalise(text, lang)))
        text = self._normalise(text, lang)
        if lang == "ro":
            text = romanian_preprocessing(text)
        return self._moses.tokenize(text, lang)

    def _kytea(self):
        """KyTea's word segmenter (``pip install kytea`` after installing KyTea), with its model at
        ``$KYTEA_MODEL`` or transformers' default ``~/local/share/kytea/model.bin``."""
        if self._ja_segmenter is None:
            try:
                import Mykytea
            except ImportError:
                raise ImportError(
                    "Japanese tokenisation needs KyTea and its Python wrapper: install KyTea "
                    "(github.com/neubig/kytea), then pip install kytea"
                ) from None
            model = os.environ.get("KYTEA_MODEL", os.path.expanduser("~/local/share/kytea/model.bin"))
            if not os.path.isfile(model):
                raise FileNotFoundError(f"KyTea model {model} not found: set KYTEA_MODEL to its model.bin")
            self._ja_segmenter = Mykytea.Mykytea(f"-model {model}")
        return self._ja_segmenter

    def bpe(self, word: str) -> list[str]:
        """Greedy lowest-rank merges; pieces inside a word plain, the last one ending ``</w>``."""
        if word in self._cache:
            return self._cache[word]
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            pairs = {(a, b) for a, b in zip(symbols, symbols[1:])}
            best = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if best not in self.bpe_ranks:
                break
            merged, i = [], 0
            while i < len(symbols):
                if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        if symbols == ["\n  </w>"]:
            symbols = ["\n</w>"]
        self._cache[word] = symbols
        return symbols

    def tokenize(self, text: str, lang: str | None = None) -> list[str]:
        """Tokens of ``text``; special tokens (``<s>``, ``<special1>``, ...) in the text stay whole.

        ``lang=None`` applies the English rules, as transformers always does.
        """
        self._check_lang(lang)
        rules = lang or "en"
        tokens = []
        for piece in _SPECIAL_SPLIT.split(text):
            if not piece:
                continue
            if piece in SPECIAL_TOKENS:
                tokens.append(piece)
                continue
            for word in self._words(piece, rules):
                tokens.extend(self._word_pieces(word))
        return tokens

    def _word_pieces(self, word: str) -> list[str]:
        """BPE pieces of one pre-tokenised word, after lowercasing and accent removal when the model
        wants them (word by word, which is what the whole-text form amounts to); cached."""
        pieces = self._word_cache.get(word)
        if pieces is None:
            plain = lowercase_and_remove_accent([word])[0] if self.do_lowercase_and_remove_accent else word
            pieces = self.bpe(plain) if plain else []
            if len(self._word_cache) > 500_000:
                self._word_cache.clear()
            self._word_cache[word] = pieces
        return pieces

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        unk = self.encoder["<unk>"]
        if isinstance(tokens, str):
            return self.encoder.get(tokens, unk)
        return [self.encoder.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | list[int]) -> str | list[str]:
        if isinstance(ids, (int, np.integer)):
            return self.decoder.get(int(ids), "<unk>")
        return [self.decoder.get(int(i), "<unk>") for i in ids]

    # transformers' XLMTokenizer special tokens (the original XLM's: <special1> is the mask)
    bos_token, eos_token, sep_token, cls_token = "<s>", "</s>", "</s>", "</s>"
    pad_token, unk_token, mask_token = "<pad>", "<unk>", "<special1>"

    @property
    def pad_token_id(self) -> int:
        return self.encoder[self.pad_token]

    @property
    def mask_token_id(self) -> int:
        return self.encoder[self.mask_token]

    @property
    def unk_token_id(self) -> int:
        return self.encoder[self.unk_token]

    @property
    def bos_token_id(self) -> int:
        return self.encoder[self.bos_token]

    @property
    def eos_token_id(self) -> int:
        return self.encoder[self.eos_token]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids``; ``<special0>``, ``<special2>``... added after the vocabulary are set
        apart by spaces (transformers 4.x's rule for its additional special tokens)."""
        tokens = self.convert_ids_to_tokens(list(ids))
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in SPECIAL_TOKENS]
        parts, run = [], []
        for token in tokens:
            if token in self._set_apart:
                text = "".join(run).replace("</w>", " ").strip()
                if text:
                    parts.append(text)
                parts.append(token)
                run = []
            else:
                run.append(token)
        if run or not parts:
            parts.append("".join(run).replace("</w>", " ").strip())
        return " ".join(parts)

    def build_inputs_with_special_tokens(self, ids_0: list[int], ids_1: list[int] | None = None) -> list[int]:
        """``<s> A </s>`` or ``<s> A </s> B </s>``."""
        bos, sep = [self.encoder["<s>"]], [self.encoder["</s>"]]
        return bos + ids_0 + sep if ids_1 is None else bos + ids_0 + sep + ids_1 + sep

    # ----------------------------------------------------------------------------- batches
    @without_garbage_collection
    def __call__(
        self,
        text: str | list[str],
        text_pair: str | list[str] | None = None,
        *,
        lang: str | None = None,
        lang_pair: str | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool = True,
        return_token_type_ids: bool = False,
    ) -> dict[str, Any]:
        """Encode one text (or pair) or a batch, with transformers' keyword names.

        ``lang`` / ``lang_pair`` pick the Moses rules of the first / second text and add ``langs``
        (the language id of every token; special tokens take the language of the text they close).
        ``padding``: ``True``/``"longest"`` or ``"max_length"`` (right side, ``<pad>``).
        ``truncation``: ``True``/``"longest_first"`` (transformers' split between the two texts of a
        pair), ``"only_first"``, ``"only_second"``; ``max_length`` alone also truncates.
        ``pad_to_multiple_of``: padded lengths rounded up to a multiple of it (with truncation,
        ``max_length`` must be one, as in transformers).
        ``token_type_ids`` only when asked (XLM looks them up in the *word* table).
        """
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        if text_pair is not None:
            pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
            if len(pairs) != len(texts):
                raise ValueError(f"text has {len(texts)} entries but text_pair has {len(pairs)}")
        else:
            pairs = [None] * len(texts)
        self._check_lang(lang)
        self._check_lang(lang_pair)
        if (lang is not None or lang_pair is not None) and not self.lang2id:
            raise ValueError("this tokenizer has no lang2id (tokenizer_config.json): it cannot return langs")
        strategy = truncation_strategy(truncation, max_length, padding)
        padding = padding_strategy(padding)
        if max_length is None and (strategy != "do_not_truncate" or padding == "max_length"):
            max_length = self.model_max_length
        check_pad_to_multiple_of(padding, strategy, max_length, pad_to_multiple_of)
        rows = [
            self._encode_row(a, b, lang, lang_pair, add_special_tokens, strategy, max_length)
            for a, b in zip(texts, pairs)
        ]
        out = {"input_ids": [r[0] for r in rows]}
        if return_token_type_ids:
            out["token_type_ids"] = [r[1] for r in rows]
        if lang is not None or lang_pair is not None:
            out["langs"] = [r[2] for r in rows]
        if return_attention_mask:
            out["attention_mask"] = [[1] * len(r[0]) for r in rows]
        if padding != "do_not_pad" and rows:
            width = max_length if padding == "max_length" else max(len(r[0]) for r in rows)
            width = round_up(width, pad_to_multiple_of)
            # Padded positions are masked; their language is the row's last one (any valid id).
            fills = {
                "input_ids": (self.encoder["<pad>"], width),
                "attention_mask": (0, width),
                "token_type_ids": (0, width),
                "langs": (lambda row: row[-1] if row else 0, width),
            }
            out = pad_columns(out, fills)
        if return_tensors is not None:
            padded_to = round_up(max_length, pad_to_multiple_of) if padding == "max_length" else None
            out = to_arrays(out, return_tensors, padded_to)
        elif single:
            out = {k: v[0] for k, v in out.items()}
        return out

    def _encode_row(self, a, b, lang, lang_pair, add_special_tokens, strategy, max_length):
        ids_a = self.convert_tokens_to_ids(self.tokenize(a, lang))
        ids_b = (
            None
            if b is None
            else self.convert_tokens_to_ids(self.tokenize(b, lang_pair if lang_pair is not None else lang))
        )
        if strategy != "do_not_truncate":
            total = len(ids_a) + len(ids_b or []) + (0 if not add_special_tokens else 2 if ids_b is None else 3)
            ids_a, ids_b = truncate_pair(ids_a, ids_b, total - max_length, strategy)
        lang_a = None if lang is None else self.lang2id[lang]
        lang_b = lang_a if lang_pair is None else self.lang2id[lang_pair]
        if add_special_tokens:
            ids = self.build_inputs_with_special_tokens(ids_a, ids_b)
            types = [0] * (len(ids_a) + 2) + ([] if ids_b is None else [1] * (len(ids_b) + 1))
            langs = [lang_a] * (len(ids_a) + 2) + ([] if ids_b is None else [lang_b] * (len(ids_b) + 1))
        else:
            ids = ids_a + (ids_b or [])
            types = [0] * len(ids_a) + [1] * len(ids_b or [])
            langs = [lang_a] * len(ids_a) + [lang_b] * len(ids_b or [])
        return ids, types, langs
