"""A generated multilingual corpus with entity mentions, and small tokenizer files learned from it.

Used where no real vocabulary can be downloaded: the demo, the tokenizer tests and the tokenizer
benchmark. The text mixes Latin (with accents), Cyrillic, Greek, Chinese, Japanese, emoji, digits,
full-width characters, repeated spaces and punctuation, so that normalisation and unknown
characters are exercised. Everything is deterministic given the seed.
"""

import collections
import json
import random
from dataclasses import dataclass
from pathlib import Path

# (language, entity titles, filler words). Titles are what mentions look like in the text.
_LANGUAGES = {
    "en": (
        ["Tokyo", "New York", "Marie Curie", "Mount Everest", "the Beatles"],
        "the of and in was city river famous old new is a on with".split(),
    ),
    "de": (["München", "Köln", "Goethe", "Bodensee"], "der die das und ist eine Stadt über schön groß".split()),
    "fr": (["Paris", "Élysée", "Côte d'Azur"], "le la et est une ville près très été où".split()),
    "ru": (["Москва", "Пушкин", "Байкал"], "и в на это город река был очень".split()),
    "el": (["Αθήνα", "Όλυμπος"], "και η το είναι πόλη στο".split()),
    "zh": (["北京", "长江"], "的 是 在 城市 很 大".split()),
    "ja": (["東京", "富士山", "フジテレビジョン"], "は の に です 日本 とても".split()),
}
_EXTRAS = [
    "2020",
    "３月",
    "ＴＯＫＹＯ",
    "１２３",
    "😀",
    "🎉",
    "«quoted»",
    "(note)",
    "e-mail",
    "x²",
    "ﬁne",
    "Ⅻ",
    "…",
    "!!",
    "?",
    "—",
]
LITE_ENTITY_VOCAB = {"[MASK]": 0, "[UNK]": 1, "[PAD]": 2, "[MASK2]": 3}  # mluke-base-lite's
_SEPARATORS = [" "] * 12 + ["  ", "   ", " , ", ". ", "; "]


@dataclass
class Sentence:
    """A text with entity mentions: ``spans[i]`` = character offsets ``(start, end)`` of the mention
    of ``entities[i]`` (``"lang:title"``)."""

    text: str
    spans: list[tuple[int, int]]
    entities: list[str]
    language: str


def entity_names() -> list[str]:
    """Every entity of the corpus as ``"lang:title"``."""
    return [f"{lang}:{title}" for lang, (titles, _) in _LANGUAGES.items() for title in titles]


def multilingual_sentences(
    count: int, seed: int = 0, max_entities: int = 3, languages: list[str] | None = None
) -> list[Sentence]:
    """``count`` sentences of 4-25 words, each with 0-``max_entities`` non-overlapping mentions, in
    ``languages`` (default: all of them; a mention is in another of them 15% of the time)."""
    rng = random.Random(seed)
    languages = sorted(languages or _LANGUAGES)
    out = []
    for _ in range(count):
        language = rng.choice(languages)
        titles, words = _LANGUAGES[language]
        pieces = []
        mention_slots = set(rng.sample(range(12), rng.randint(0, max_entities)))
        for i in range(rng.randint(4, 25)):
            if i in mention_slots:
                other = rng.random() < 0.15  # a mention in another language's script
                lang = rng.choice(languages) if other else language
                pieces.append((rng.choice(_LANGUAGES[lang][0]), lang))
            elif rng.random() < 0.12:
                pieces.append((rng.choice(_EXTRAS), None))
            else:
                word = rng.choice(words)
                pieces.append((word.capitalize() if rng.random() < 0.1 else word, None))
        text, spans, entities = "", [], []
        for j, (piece, lang) in enumerate(pieces):
            if j:
                text += rng.choice(_SEPARATORS)
            if lang is not None:
                spans.append((len(text), len(text) + len(piece)))
                entities.append(f"{lang}:{piece}")
            text += piece
        out.append(Sentence(text + rng.choice(["", ".", "!", " ?", "。"]), spans, entities, language))
    return out


def train_sentencepiece(directory: str | Path, sentences: list[str], vocab_size: int = 400) -> Path:
    """Learn a unigram sentencepiece model laid out as XLM-R's (``<unk>``=0, ``<s>``=1, ``</s>``=2,
    ``nmt_nfkc`` normaliser); rare characters stay unknown. Returns ``sentencepiece.bpe.model``."""
    import io

    import sentencepiece as spm

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        normalization_rule_name="nmt_nfkc",
        character_coverage=0.995,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    path = directory / "sentencepiece.bpe.model"
    path.write_bytes(model.getvalue())
    return path


def write_toy_mluke_tokenizer(
    directory: str | Path,
    sentences: int = 2000,
    vocab_size: int = 400,
    seed: int = 0,
    lite: bool = False,
    extra_texts: list[str] = (),
) -> Path:
    """A complete mLUKE tokenizer directory in the hub layout (no ``tokenizer.json``).

    ``lite=True`` writes the -lite entity vocabulary (the four special entities only); otherwise
    every corpus entity gets an id after ``[PAD]``, ``[UNK]``, ``[MASK]``, and ``[MASK2]`` comes last
    (as transformers' mLUKE converter numbers them). ``extra_texts`` join the generated corpus the
    sentencepiece model learns from.
    """
    directory = Path(directory)
    corpus = multilingual_sentences(sentences, seed=seed)
    pieces = train_sentencepiece(directory, [s.text for s in corpus] + list(extra_texts), vocab_size)
    import sentencepiece as spm

    size = spm.SentencePieceProcessor(model_file=str(pieces)).get_piece_size()
    if lite:
        entity_vocab = dict(LITE_ENTITY_VOCAB)
    else:
        names = ["[PAD]", "[UNK]", "[MASK]"] + entity_names() + ["[MASK2]"]
        entity_vocab = {name: i for i, name in enumerate(names)}
    (directory / "entity_vocab.json").write_text(
        json.dumps(entity_vocab, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (directory / "added_tokens.json").write_text(json.dumps({"<ent>": size + 2, "<ent2>": size + 3}) + "\n")
    config = _tokenizer_config("MLukeTokenizer")
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return directory


def _tokenizer_config(tokenizer_class: str) -> dict:
    """``tokenizer_config.json`` of a (m)LUKE tokenizer as the hub repositories hold it."""
    return {
        "tokenizer_class": tokenizer_class,
        "model_max_length": 512,
        "max_entity_length": 32,
        "max_mention_length": 30,
        "task": None,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": {
            "content": "<mask>",
            "lstrip": True,
            "rstrip": False,
            "single_word": False,
            "normalized": True,
            "__type": "AddedToken",
        },
        "entity_token_1": {
            "content": "<ent>",
            "lstrip": False,
            "rstrip": False,
            "single_word": False,
            "normalized": True,
            "__type": "AddedToken",
        },
        "entity_token_2": {
            "content": "<ent2>",
            "lstrip": False,
            "rstrip": False,
            "single_word": False,
            "normalized": True,
            "__type": "AddedToken",
        },
        "entity_unk_token": "[UNK]",
        "entity_pad_token": "[PAD]",
        "entity_mask_token": "[MASK]",
        "entity_mask2_token": "[MASK2]",
    }


def write_toy_luke_tokenizer(
    directory: str | Path, sentences: int = 2000, vocab_size: int = 800, seed: int = 0
) -> Path:
    """A complete English LUKE tokenizer directory in the hub layout: a byte-level BPE trained on
    the corpus (``vocab.json`` with RoBERTa's specials first and
    ``<mask>`` last, ``merges.txt``), ``<ent>``/``<ent2>`` after it, and an entity vocabulary of
    plain titles (``[PAD]``, ``[UNK]``, ``[MASK]``, the titles, ``[MASK2]``)."""
    from tokenizers import ByteLevelBPETokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    corpus = [s.text for s in multilingual_sentences(sentences, seed=seed)]  # every script: multi-byte merges
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        corpus + _EXTRAS, vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False
    )
    bpe.save_model(str(directory))
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    vocab["<mask>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    titles = _LANGUAGES["en"][0]
    names = ["[PAD]", "[UNK]", "[MASK]", *titles, "[MASK2]"]
    (directory / "entity_vocab.json").write_text(
        json.dumps({name: i for i, name in enumerate(names)}, indent=1) + "\n", encoding="utf-8"
    )
    (directory / "added_tokens.json").write_text(json.dumps({"<ent>": len(vocab), "<ent2>": len(vocab) + 1}) + "\n")
    config = {**_tokenizer_config("LukeTokenizer"), "add_prefix_space": False, "errors": "replace"}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return directory


def learn_bpe(
    corpus: list[str], num_merges: int, special_tokens: list[str]
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A small XLM-style BPE (``</w>`` word ends) learned from lowercased ``corpus``: vocab and merges."""

    words = collections.Counter()
    for line in corpus:
        for w in line.lower().split():
            words[tuple(w[:-1]) + (w[-1] + "</w>",)] += 1
    merges = []
    for _ in range(num_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += c
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        merged = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
    vocab = {t: i for i, t in enumerate(special_tokens)}
    for c in sorted({c for line in corpus for c in line.lower() if not c.isspace()}):
        for t in (c, c + "</w>"):
            vocab.setdefault(t, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


def write_toy_xlm_tokenizer(directory: str | Path, sentences: int = 2000, merges: int = 400, seed: int = 0) -> Path:
    """An XLM tokenizer directory in transformers' layout (``vocab.json``, ``merges.txt``,
    ``tokenizer_config.json`` with the corpus languages in ``lang2id``), lowercased as the en-de model."""
    from mluke_jax.tokenizers.xlm import SPECIAL_TOKENS

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, pairs = learn_bpe([s.text for s in multilingual_sentences(sentences, seed=seed)], merges, SPECIAL_TOKENS)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs), encoding="utf-8")
    languages = sorted(_LANGUAGES)
    config = {
        "do_lowercase_and_remove_accent": True,
        "lang2id": {lang: i for i, lang in enumerate(languages)},
        "id2lang": {str(i): lang for i, lang in enumerate(languages)},
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return directory
