"""Build the MLukeTokenizer test data: a tiny tokenizer and transformers 4.46.3's outputs on it.

The reference is transformers **4.x** (the slow sentencepiece ``MLukeTokenizer`` the released
checkpoints were trained with); transformers 5 changed the ids. Run once, in its own venv:

    python3 -m venv /tmp/v4 && /tmp/v4/bin/pip install transformers==4.46.3 sentencepiece torch==2.13.0
    /tmp/v4/bin/python tests/data/make_mluke_tokenizer_data.py

(torch is not used by the tokenizer; it is the pin the issue names.) It writes
``tests/data/mluke_tokenizer/``: the sentencepiece model, ``entity_vocab.json`` (and the same
vocabulary in the original ``entity_vocab.jsonl`` form), ``added_tokens.json``,
``tokenizer_config.json`` — trained only when the model file is missing, since a retrained model
changes every id — and ``goldens.json``: every call, its arguments and transformers' output.
"""

import importlib.util
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "mluke_tokenizer"
ROOT = HERE.parents[1]

# The corpus generator, loaded by path: importing the package would import jax.
_spec = importlib.util.spec_from_file_location("toy", ROOT / "mluke_jax" / "testing" / "toy_data.py")
toy = importlib.util.module_from_spec(_spec)
sys.modules["toy"] = toy
_spec.loader.exec_module(toy)

EDGE_TEXTS = [
    "",
    " ",
    "Tokyo",
    "  Tokyo   is  big ",
    "ＴＯＫＹＯ　２０２０ is Ｔｏｋｙｏ",
    "<mask>",
    "Tokyo <mask> is big",
    "Tokyo<mask>is   <mask>",
    "a <s> b </s> c <pad> <unk> d",
    "<ent>Tokyo<ent2> and <ent> Köln <ent2>",
    "[MASK] [UNK] [PAD] literal",
    "😀😀 unknown ☃ ⅻ 🎉",
    "tab\tnew\nline  \u3000 ideographic space",
    "naïve café Köln ﬁne x²",
    "Москва — столица, «Байкал»!",
    "東京は日本の首都です。フジテレビジョン",
    "Αθήνα και Όλυμπος…",
    "e-mail (note) 2020-03-01 ３月 １２３",
]

SPAN_EDGES = [
    # (text, spans): edges, adjacency, mid-word cuts, nesting, spaces inside the mention
    ("Tokyo is big", [(0, 5)]),
    ("big city Tokyo", [(9, 14)]),
    ("Tokyo", [(0, 5)]),
    ("TokyoKöln", [(0, 5), (5, 9)]),
    ("Tokyo Köln", [(0, 5), (6, 10)]),
    ("Tokyoites love Tokyo", [(0, 5), (2, 4)]),
    ("Tokyoites love Tokyo", [(2, 7)]),
    ("New York and Tokyo", [(0, 8), (0, 3), (4, 8), (13, 18)]),
    ("Tokyo  is  big", [(0, 9)]),
    ("Tokyo   Köln", [(8, 12)]),
    ("Tokyo is big", [(0, 6)]),
    ("Tokyo <mask> Köln", [(0, 5), (13, 17)]),
    ("Tokyo <mask> Köln", [(6, 12)]),
    ("ＴＯＫＹＯ is Ｔｏｋｙｏ", [(0, 5), (9, 14)]),
    ("東京は日本の首都です", [(0, 2), (3, 5)]),
    ("Москва — столица", [(0, 6), (9, 16)]),
    ("Marie Curie met Marie Curie", [(0, 11), (16, 27), (0, 11)]),
    ("a b c d e f g h", [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15)]),
    ("😀 Tokyo 😀", [(0, 1), (2, 7), (8, 9)]),
]


def corpus_cases(rng: random.Random, sentences) -> list[dict]:
    cases = []
    names = toy.entity_names()

    def some_names(count):
        out = []
        for _ in range(count):
            r = rng.random()
            out.append(
                rng.choice(names)
                if r < 0.6
                else rng.choice(["en:Nowhere", "Tokyo", "[MASK]", "[MASK2]", "[UNK]", "de:köln"])
            )
        return out

    with_spans = [s for s in sentences if s.spans]
    for s in sentences[:40]:
        cases.append({"call": {"text": s.text}})
    for text in EDGE_TEXTS:
        cases.append({"call": {"text": text}})
    for s in with_spans[:40]:
        cases.append({"call": {"text": s.text, "entity_spans": s.spans}})
    for s in with_spans[40:80]:
        cases.append(
            {
                "call": {
                    "text": s.text,
                    "entity_spans": s.spans,
                    "entities": s.entities if rng.random() < 0.5 else some_names(len(s.spans)),
                }
            }
        )
    for text, spans in SPAN_EDGES:
        cases.append({"call": {"text": text, "entity_spans": spans}})
        cases.append({"call": {"text": text, "entity_spans": spans, "entities": some_names(len(spans))}})
    # pairs
    for a, b in zip(with_spans[80:100], with_spans[100:120]):
        cases.append({"call": {"text": a.text, "text_pair": b.text}})
        cases.append(
            {"call": {"text": a.text, "text_pair": b.text, "entity_spans": a.spans, "entity_spans_pair": b.spans}}
        )
        cases.append(
            {
                "call": {
                    "text": a.text,
                    "text_pair": b.text,
                    "entity_spans": a.spans,
                    "entity_spans_pair": b.spans,
                    "entities": a.entities,
                    "entities_pair": some_names(len(b.spans)),
                }
            }
        )
        cases.append({"call": {"text": a.text, "text_pair": b.text, "entity_spans": a.spans}})
    # truncation and entity truncation on single texts and pairs
    for s in with_spans[120:140]:
        cases.append(
            {"call": {"text": s.text, "entity_spans": s.spans, "truncation": True, "max_length": rng.randint(4, 20)}}
        )
        cases.append({"call": {"text": s.text, "entity_spans": s.spans, "truncation": True, "max_entity_length": 1}})
        cases.append(
            {"call": {"text": s.text, "entity_spans": s.spans, "max_length": rng.randint(6, 20)}}
        )  # max_length alone truncates
    for a, b in zip(with_spans[140:155], with_spans[155:170]):
        for strategy in (True, "only_first", "only_second"):
            longest = max(len(a.text), len(b.text))
            call = {
                "text": a.text,
                "text_pair": b.text,
                "entity_spans": a.spans,
                "entity_spans_pair": b.spans,
                "truncation": strategy,
                "max_length": 14 + longest // 3,
            }
            if strategy is True:
                call["max_entity_length"] = rng.randint(1, 3)
            cases.append({"call": call})
    # equal-length pairs: the odd token comes off the second text
    for n in (5, 6, 7):
        cases.append(
            {"call": {"text": "a b c d e f", "text_pair": "g h i j k l", "truncation": True, "max_length": 4 + 12 - n}}
        )
    # tasks
    for s in with_spans[170:200]:
        i = rng.randrange(len(s.spans))
        cases.append(
            {"init": {"task": "entity_classification"}, "call": {"text": s.text, "entity_spans": [s.spans[i]]}}
        )
    pairs = [s for s in with_spans[200:] if len(s.spans) >= 2][:30]
    for s in pairs:
        head, tail = rng.sample(s.spans, 2)
        cases.append(
            {"init": {"task": "entity_pair_classification"}, "call": {"text": s.text, "entity_spans": [head, tail]}}
        )
    cases.append(
        {
            "init": {"task": "entity_pair_classification"},
            "call": {"text": "Tokyo Köln", "entity_spans": [(6, 10), (0, 5)]},
        }
    )
    cases.append(
        {
            "init": {"task": "entity_pair_classification"},
            "call": {"text": "TokyoKöln", "entity_spans": [(0, 5), (5, 9)]},
        }
    )
    for s in with_spans[260:280]:
        spans = enumerate_word_spans(s.text, 3)
        cases.append({"init": {"task": "entity_span_classification"}, "call": {"text": s.text, "entity_spans": spans}})
    cases.append(
        {
            "init": {"task": "entity_span_classification"},
            "call": {
                "text": "a b c d e f g h",
                "entity_spans": enumerate_word_spans("a b c d e f g h", 2),
                "truncation": True,
                "max_length": 8,
                "max_entity_length": 5,
            },
        }
    )
    # long mentions under a small max_mention_length
    cases.append(
        {
            "init": {"max_mention_length": 4},
            "call": {"text": "New York and Marie Curie met in Mount Everest", "entity_spans": [(0, 24), (32, 45)]},
        }
    )
    cases.append(
        {
            "init": {"max_mention_length": 4},
            "call": {
                "text": [s.text for s in with_spans[280:284]],
                "entity_spans": [s.spans for s in with_spans[280:284]],
                "padding": True,
            },
        }
    )
    # batches
    batch = with_spans[290:298]
    texts, spans, ents = [s.text for s in batch], [s.spans for s in batch], [s.entities for s in batch]
    cases.append({"call": {"text": texts}})
    cases.append({"call": {"text": texts, "padding": True}})
    cases.append({"call": {"text": texts, "entity_spans": spans, "padding": True}})
    cases.append(
        {
            "call": {
                "text": texts,
                "entity_spans": spans,
                "entities": ents,
                "padding": "max_length",
                "max_length": 64,
                "max_entity_length": 6,
            }
        }
    )
    cases.append(
        {"call": {"text": texts, "entity_spans": spans, "padding": True, "truncation": True, "max_length": 10}}
    )
    cases.append({"call": {"text": texts, "entity_spans": spans, "padding": True, "pad_to_multiple_of": 8}})
    cases.append({"call": {"text": texts, "entity_spans": spans, "padding": True, "padding_side": "left"}})
    cases.append({"call": {"text": texts, "entity_spans": spans, "padding": True, "return_token_type_ids": True}})
    cases.append({"call": {"text": texts, "entity_spans": spans, "padding": True, "return_special_tokens_mask": True}})
    cases.append({"call": {"text": texts, "entity_spans": spans, "add_special_tokens": False, "padding": True}})
    cases.append({"call": {"text": texts, "entity_spans": spans, "return_attention_mask": False}})
    pair_batch = with_spans[300:306]
    cases.append(
        {
            "call": {
                "text": texts[:6],
                "text_pair": [s.text for s in pair_batch],
                "entity_spans": spans[:6],
                "entity_spans_pair": [s.spans for s in pair_batch],
                "padding": True,
                "truncation": True,
                "max_length": 30,
            }
        }
    )
    cases.append(
        {
            "call": {
                "text": texts[:3],
                "text_pair": [s.text for s in pair_batch[:3]],
                "padding": "max_length",
                "max_length": 48,
            }
        }
    )
    for task in ("entity_classification", "entity_span_classification"):
        rows = with_spans[310:316]
        cases.append(
            {
                "init": {"task": task},
                "call": {
                    "text": [s.text for s in rows],
                    "entity_spans": [s.spans[:1] if task == "entity_classification" else s.spans for s in rows],
                    "padding": True,
                },
            }
        )
    cases.append(
        {
            "init": {"task": "entity_pair_classification"},
            "call": {
                "text": [s.text for s in pairs[:5]],
                "entity_spans": [s.spans[:2] for s in pairs[:5]],
                "padding": "max_length",
                "max_length": 40,
            },
        }
    )
    cases.append(
        {
            "call": {
                "text": "Tokyo is big",
                "entity_spans": [(0, 5)],
                "padding": "max_length",
                "max_length": 10,
                "max_entity_length": 3,
            }
        }
    )
    cases.append({"call": {"text": "Tokyo is big", "entity_spans": [(0, 5)], "return_token_type_ids": True}})
    return cases


def enumerate_word_spans(text: str, max_words: int) -> list[tuple[int, int]]:
    """Every run of 1..max_words whitespace-separated words, as character spans."""
    words, start = [], None
    for i, c in enumerate(text + " "):
        if c.isspace():
            if start is not None:
                words.append((start, i))
                start = None
        elif start is None:
            start = i
    return [(words[i][0], words[j][1]) for i in range(len(words)) for j in range(i, min(i + max_words, len(words)))]


def tupled(call: dict) -> dict:
    """transformers wants spans as tuples (lists are rejected)."""
    call = dict(call)
    for key in ("entity_spans", "entity_spans_pair"):
        if call.get(key) is not None:
            value = call[key]
            batched = not isinstance(call["text"], str)
            call[key] = [[tuple(s) for s in row] for row in value] if batched else [tuple(s) for s in value]
    return call


def record_expected(cases: list[dict], tokenizer_for) -> None:
    """Each case's transformers output (``tokenizer_for(case)``: the reference tokenizer of its
    vocabulary and ``init``), and the flags where mluke_jax does otherwise on purpose."""
    for case in cases:
        output = tokenizer_for(case)(**tupled(case["call"]))
        case["expected"] = dict(output)
        call = case["call"]
        if call.get("truncation") in ("only_first", "only_second") and len(output["input_ids"]) > call["max_length"]:
            # transformers logs an error and returns the pair untruncated; mluke_jax raises
            case["transformers_cannot_truncate"] = True
        if not isinstance(call["text"], str) and call.get("padding") == "max_length" and "max_entity_length" in call:
            # transformers' batch padding forgets the call's max_entity_length (pads to the
            # tokenizer's, 32); mluke_jax pads to the one asked for
            case["transformers_ignores_max_entity_length"] = True


def write_goldens(out: Path, version: str, cases: list[dict], full, texts: list[str], decodable=lambda case: True):
    """``out/goldens.json``: the cases, ``full``'s decoding of every 7th case's ids (of the cases
    ``decodable`` keeps), its ``tokenize`` of ``texts``, and its sizes."""
    decode = []
    for case in cases[::7]:
        if not decodable(case):
            continue
        ids = case["expected"]["input_ids"]
        if ids and isinstance(ids[0], list):
            ids = ids[0]
        for skip in (False, True):
            decode.append(
                {"ids": ids, "skip_special_tokens": skip, "expected": full.decode(ids, skip_special_tokens=skip)}
            )
    tokenize = [{"text": t, "expected": full.tokenize(t)} for t in texts]
    golden = {
        "transformers": version,
        "cases": cases,
        "decode": decode,
        "tokenize": tokenize,
        "vocab_size": full.vocab_size,
        "len": len(full),
    }
    (out / "goldens.json").write_text(
        json.dumps(golden, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    print(f"{len(cases)} calls, {len(decode)} decodes, {len(tokenize)} tokenizations -> {out / 'goldens.json'}")


def main() -> None:
    import transformers

    assert transformers.__version__ == "4.46.3", (
        f"the reference is transformers 4.46.3, this is {transformers.__version__}"
    )
    from transformers import MLukeTokenizer

    transformers.logging.set_verbosity_error()
    if not (OUT / "sentencepiece.bpe.model").is_file():
        toy.write_toy_mluke_tokenizer(OUT)
        write_jsonl_vocab(OUT)
    lite = Path(tempfile.mkdtemp())
    for name in ("sentencepiece.bpe.model", "added_tokens.json", "tokenizer_config.json"):
        shutil.copy(OUT / name, lite / name)
    (lite / "entity_vocab.json").write_text(json.dumps(toy.LITE_ENTITY_VOCAB))

    rng = random.Random(1)
    sentences = toy.multilingual_sentences(1200, seed=1, max_entities=4)
    cases = corpus_cases(rng, sentences)
    for s in sentences[400:420]:  # the -lite vocabulary: every title is [UNK]
        if s.spans:
            cases.append({"vocab": "lite", "call": {"text": s.text, "entity_spans": s.spans, "entities": s.entities}})
    cases.append(
        {
            "vocab": "lite",
            "init": {"task": "entity_pair_classification"},
            "call": {"text": "Tokyo and Köln", "entity_spans": [(0, 5), (10, 14)]},
        }
    )

    tokenizers = {}

    def tokenizer_for(case):
        key = (case.get("vocab", "full"), json.dumps(case.get("init", {}), sort_keys=True))
        if key not in tokenizers:
            directory = OUT if key[0] == "full" else lite
            tokenizers[key] = MLukeTokenizer.from_pretrained(str(directory), **case.get("init", {}))
        return tokenizers[key]

    record_expected(cases, tokenizer_for)
    full = tokenizer_for({})
    texts = EDGE_TEXTS + [s.text for s in sentences[:30]]
    write_goldens(OUT, transformers.__version__, cases, full, texts, lambda case: case.get("vocab") != "lite")
    shutil.rmtree(lite)


def write_jsonl_vocab(directory: Path) -> None:
    """The same entity vocabulary in the original mLUKE form (``[MASK2]`` left out: readers append it)."""
    vocab = json.loads((directory / "entity_vocab.json").read_text(encoding="utf-8"))
    lines = []
    for name, entity_id in sorted(vocab.items(), key=lambda item: item[1]):
        if name == "[MASK2]":
            continue
        if name.startswith("["):
            entities = [[name, "en"], [name, "ja"]]
        else:
            language, title = name.split(":", 1)
            entities = [[title, language]]
        lines.append(json.dumps({"id": entity_id, "entities": entities, "count": 0}, ensure_ascii=False))
    (directory / "entity_vocab.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
