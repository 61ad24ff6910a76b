"""Build the LukeTokenizer test data: a tiny English LUKE tokenizer and transformers 4.46.3's outputs on it.

The reference is transformers **4.x**'s slow ``LukeTokenizer`` (the released checkpoints' ids;
transformers 5 drops ``<s>``/``</s>`` on plain text, its issue 48544). Run once, in its own venv:

    python3 -m venv /tmp/v4 && /tmp/v4/bin/pip install transformers==4.46.3 sentencepiece
    /tmp/v4/bin/python tests/data/make_luke_tokenizer_data.py

It writes ``tests/data/luke_tokenizer/``: ``vocab.json`` + ``merges.txt`` (a byte-level BPE learnt
from the generated English corpus), ``entity_vocab.json`` (plain titles), ``added_tokens.json``,
``tokenizer_config.json`` — made only when ``vocab.json`` is missing, since a retrained BPE changes
every id — and ``goldens.json``: every call, its arguments and transformers' output. The calls are
the ones of the MLukeTokenizer goldens (every task, pairs, padding, truncation, batches) on English
sentences, plus byte-level edge cases.
"""

import importlib.util
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "luke_tokenizer"
ROOT = HERE.parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Loaded by path: importing the package would import jax.
toy = _load("toy", ROOT / "mluke_jax" / "testing" / "toy_data.py")
mluke_data = _load("make_mluke_tokenizer_data", HERE / "make_mluke_tokenizer_data.py")

BYTE_LEVEL_TEXTS = [
    "don't stop, it's Tokyo's and they'll we've I'm you're he'd",
    "DON'T 'S 'Ll",
    "Hello<s>world</s> <pad>x <unk>",
    "two  spaces,   three and trailing   ",
    "\ttab\n\nnewlines\r\n and \u00a0nbsp \u2003em",
    "   leading spaces",
    "<mask> first and last <mask>",
    "a<mask>b  <mask>c",
    "numbers 1234567 3.14 1,000,000 and x²",
    "symbols @#$%^&*()_+=[]{}|\\;:'\",.<>/?`~",
    "emoji 😀🎉 and combining e\u0301 and ﬁ",
    "Москва 東京 Αθήνα mixed",
]

BYTE_LEVEL_SPANS = [
    ("don't stop Tokyo's", [(0, 5), (11, 16)]),
    ("Tokyo's New York", [(0, 5), (8, 16)]),
    ("x  Tokyo  y", [(3, 8)]),
    ("x  Tokyo  y", [(1, 8)]),
    ("New\tYork\nTokyo", [(0, 8), (9, 14)]),
    ("café Köln 東京", [(0, 4), (5, 9), (10, 12)]),
    ("1234567", [(2, 5)]),
]


def english(sentence):
    """The corpus sentence with plain titles, as English LUKE's entity vocabulary spells them."""
    return toy.Sentence(sentence.text, sentence.spans, [e.split(":", 1)[1] for e in sentence.entities], "en")


def main() -> None:
    import transformers

    assert transformers.__version__ == "4.46.3", (
        f"the reference is transformers 4.46.3, this is {transformers.__version__}"
    )
    from transformers import LukeTokenizer

    transformers.logging.set_verbosity_error()
    if not (OUT / "vocab.json").is_file():
        toy.write_toy_luke_tokenizer(OUT)
    rng = random.Random(2)
    sentences = [english(s) for s in toy.multilingual_sentences(1200, seed=2, max_entities=4, languages=["en"])]
    cases = mluke_data.corpus_cases(rng, sentences)
    for text in BYTE_LEVEL_TEXTS:
        cases.append({"call": {"text": text}})
    for text, spans in BYTE_LEVEL_SPANS:
        cases.append({"call": {"text": text, "entity_spans": spans}})
        cases.append({"call": {"text": text, "entity_spans": spans, "entities": ["Tokyo"] * len(spans)}})
        cases.append({"init": {"task": "entity_span_classification"}, "call": {"text": text, "entity_spans": spans}})
    tokenizers = {}

    def tokenizer_for(case):
        key = json.dumps(case.get("init", {}), sort_keys=True)
        if key not in tokenizers:
            tokenizers[key] = LukeTokenizer.from_pretrained(str(OUT), **case.get("init", {}))
        return tokenizers[key]

    mluke_data.record_expected(cases, tokenizer_for)
    texts = mluke_data.EDGE_TEXTS + BYTE_LEVEL_TEXTS + [s.text for s in sentences[:30]]
    mluke_data.write_goldens(OUT, transformers.__version__, cases, tokenizer_for({}), texts)


if __name__ == "__main__":
    main()
