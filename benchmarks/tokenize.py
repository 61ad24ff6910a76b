"""Tokenizer throughput, mluke_jax vs transformers, on one generated 10k-sentence multilingual corpus.

    python benchmarks/tokenize.py [--sentences 10000] [--v4-python /path/to/venv/bin/python]

Tokenizers: small ones learned from the generated corpus (no download): a unigram sentencepiece
model for mLUKE (XLM-R layout) with an entity vocabulary, a BPE for XLM. Corpus: 10k sentences in
seven languages and scripts, 0-4 entity mentions each (character spans).

Rows: batch calls (one call for the whole corpus, no padding), sentences per second, best of
``--repeats``. transformers 5's MLukeTokenizer gives other ids (README, differences) but is timed
as what users have installed; transformers 4.46.3 (the reference the ids match) runs in another
Python given by ``--v4-python`` (a venv with ``transformers==4.46.3 sentencepiece``).
"""

import sys

# This file is named tokenize.py: its directory must not shadow the standard library's tokenize.
sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import machine  # noqa: E402

from mluke_jax import MLukeTokenizer, XLMTokenizer  # noqa: E402
from mluke_jax.testing.toy_data import multilingual_sentences, write_toy_mluke_tokenizer, write_toy_xlm_tokenizer  # noqa: E402


def best_rate(fn, count: int, repeats: int) -> float:
    """Sentences per second of the fastest of ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def best_rate_fresh(make, run, count: int, repeats: int) -> float:
    """Like ``best_rate``, each run on a fresh object from ``make()`` (built outside the timing)."""
    best = float("inf")
    for _ in range(repeats):
        target = make()
        start = time.perf_counter()
        run(target)
        best = min(best, time.perf_counter() - start)
    return count / best


V4_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import transformers
    transformers.logging.set_verbosity_error()
    directory, corpus_file, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    corpus = json.load(open(corpus_file, encoding="utf-8"))
    tok = transformers.MLukeTokenizer.from_pretrained(directory)
    texts = [c["text"] for c in corpus]
    spans = [[tuple(s) for s in c["spans"]] for c in corpus]
    entities = [c["entities"] for c in corpus]
    def rate(fn):
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
        return len(texts) / best
    out = {
        "plain": rate(lambda: tok(texts)),
        "spans": rate(lambda: tok(texts, entity_spans=spans)),
        "entities": rate(lambda: tok(texts, entity_spans=spans, entities=entities)),
        "ids": dict(tok(texts[:500], entity_spans=spans[:500], entities=entities[:500])),
    }
    print(json.dumps({"version": transformers.__version__, **out}))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--v4-python", default=None, help="a Python with transformers==4.46.3 (the reference) to time too"
    )
    args = parser.parse_args()

    import transformers

    transformers.logging.set_verbosity_error()
    work = Path(tempfile.mkdtemp())
    mluke_dir = write_toy_mluke_tokenizer(work / "mluke")
    xlm_dir = write_toy_xlm_tokenizer(work / "xlm")
    corpus = multilingual_sentences(args.sentences, seed=7, max_entities=4)
    texts = [s.text for s in corpus]
    spans = [s.spans for s in corpus]
    entities = [s.entities for s in corpus]
    mentions = sum(len(s) for s in spans)
    print(f"# {machine()}")
    print(
        f"corpus: {len(texts)} sentences, {sum(map(len, texts)) / len(texts):.0f} characters and "
        f"{mentions / len(texts):.1f} entity mentions per sentence, 7 languages\n"
    )

    ours = MLukeTokenizer.from_pretrained(mluke_dir)
    v5 = transformers.MLukeTokenizer.from_pretrained(str(mluke_dir))
    tuple_spans = [[tuple(x) for x in row] for row in spans]
    rows = []
    rates = {
        "plain": (
            best_rate(lambda: ours(texts), len(texts), args.repeats),
            best_rate(lambda: v5(texts), len(texts), args.repeats),
        ),
        "spans": (
            best_rate(lambda: ours(texts, entity_spans=spans), len(texts), args.repeats),
            best_rate(lambda: v5(texts, entity_spans=tuple_spans), len(texts), args.repeats),
        ),
        "entities": (
            best_rate(lambda: ours(texts, entity_spans=spans, entities=entities), len(texts), args.repeats),
            best_rate(lambda: v5(texts, entity_spans=tuple_spans, entities=entities), len(texts), args.repeats),
        ),
    }
    v4 = None
    if args.v4_python:
        corpus_file = work / "corpus.json"
        corpus_file.write_text(
            json.dumps(
                [{"text": s.text, "spans": s.spans, "entities": s.entities} for s in corpus], ensure_ascii=False
            ),
            encoding="utf-8",
        )
        done = subprocess.run(
            [args.v4_python, "-c", V4_SCRIPT, str(mluke_dir), str(corpus_file), str(args.repeats)],
            capture_output=True,
            text=True,
            check=True,
        )
        v4 = json.loads(done.stdout.strip().splitlines()[-1])
        expected = v4.pop("ids")
        got = ours(texts[:500], entity_spans=spans[:500], entities=entities[:500])
        same = all(got[k] == expected[k] for k in expected)
        print(
            f"ids vs transformers {v4['version']} on the first 500 sentences (all output fields): "
            f"{'identical' if same else 'DIFFERENT'}\n"
        )
    labels = {
        "plain": "text only",
        "spans": "text + entity spans ([MASK] entities)",
        "entities": "text + spans + entity names",
    }
    header = "| MLukeTokenizer | mluke_jax (sent/s) | transformers 5.23 (sent/s) | speed-up |"
    if v4:
        header += f" transformers {v4['version']} (sent/s) | speed-up vs {v4['version']} |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for key, (a, b) in rates.items():
        line = f"| {labels[key]} | {a:,.0f} | {b:,.0f} | {a / b:.1f}x |"
        if v4:
            line += f" {v4[key]:,.0f} | {a / v4[key]:.1f}x |"
        rows.append(line)
        print(line)

    def xlm_ours():
        return XLMTokenizer.from_pretrained(xlm_dir)

    def xlm_theirs():
        return transformers.XLMTokenizer(str(xlm_dir / "vocab.json"), str(xlm_dir / "merges.txt"))

    sample = texts[:2000]
    same = xlm_ours()(sample)["input_ids"] == xlm_theirs()(sample)["input_ids"]
    print(
        f"\nXLM ids vs transformers {transformers.__version__} on 2000 sentences: "
        f"{'identical' if same else 'DIFFERENT'}"
    )
    print("(each run on a fresh tokenizer: word and BPE caches start empty for both)\n")
    print("| XLMTokenizer | mluke_jax (sent/s) | transformers 5.23 (sent/s) | speed-up |")
    print("|---|---|---|---|")
    a = best_rate_fresh(xlm_ours, lambda t: t(texts), len(texts), args.repeats)
    b = best_rate_fresh(xlm_theirs, lambda t: t(texts), len(texts), args.repeats)
    print(f"| English rules (transformers' default) | {a:,.0f} | {b:,.0f} | {a / b:.1f}x |")
    by_language: dict[str, list[str]] = {}
    for s in corpus:
        by_language.setdefault(s.language, []).append(s.text)

    def each_language(xlm):
        for lang, group in by_language.items():
            # Chinese and Japanese need optional segmenters (rjieba, KyTea): default rules there
            xlm(group, lang=None if lang in ("zh", "ja") else lang)

    c = best_rate_fresh(xlm_ours, each_language, len(texts), args.repeats)
    print(f"| each sentence's own Moses rules (lang=, + langs; zh/ja default rules) | {c:,.0f} | - | - |")


if __name__ == "__main__":
    main()
