"""Corpus throughput: stage 1 (pages/s), stage 4 (examples/s) and the loader (batches/s).

    python benchmarks/corpus.py [--pages 3000] [--workers 1 2] [--no-train-step]

The dump: ``--pages`` articles of about 6 KB of wikitext each (an infobox template, paragraphs
with links and piped links, bold/italic markup, references with citation templates, a table, a
file with a caption, categories and interlanguage links), plus one redirect per ten articles.

- Stage 1: the bare mwparserfromhell parse of every page (the floor: the parser's own cost) and
  the whole stage (reading the bz2 dump, walking the nodes, writing the gzip shards) per worker
  count.
- Stage 4 (``corpus examples``, 512 tokens): against ``MLukeTokenizer`` alone on the same
  paragraphs (one batched call per 256 paragraphs, with their links as ``entity_spans`` and
  without), with a sentencepiece model of 8000 pieces learned from the corpus.
- Loader: ``EntityExampleStream`` batches of 8 x 512 words (+128 entities) per second, and the
  training step they feed (``LukeForMaskedLM`` at mluke-base-lite size with this corpus's entity
  vocabulary, fp32, AdamW; batch ``--train-batch``, 2 by default, as its full 250k-word logits
  do not fit 24 GB at 8 x 512) timed in the same run for the ratio.
"""

import sys

# This directory holds a tokenize.py: it must not shadow the standard library's tokenize.
sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from common import machine  # noqa: E402

from helpers import write_dump  # noqa: E402
from mluke_jax.corpus.dump import DumpReader  # noqa: E402
from mluke_jax.corpus.wikipedia import build_wikipedia  # noqa: E402

WORDS = "the of and in was city river famous old new is a on with by from its as an were which".split()


def page_text(rng: random.Random, titles: list[str]) -> str:
    def sentence() -> str:
        words = []
        for _ in range(rng.randint(12, 28)):
            r = rng.random()
            if r < 0.08:
                words.append(f"[[{rng.choice(titles)}]]")
            elif r < 0.12:
                words.append(f"[[{rng.choice(titles)}|{rng.choice(WORDS)} {rng.choice(WORDS)}]]")
            elif r < 0.14:
                words.append(f"'''{rng.choice(WORDS)}'''")
            else:
                words.append(rng.choice(WORDS))
        ref = "<ref>{{cite web|url=http://example.org|title=Source|date=2020}}</ref>" if rng.random() < 0.3 else ""
        return " ".join(words).capitalize() + "." + ref

    parts = ["{{Infobox settlement|name=X|population=1000|area_km2=12.5|website=[http://x.org x]}}"]
    for section in range(rng.randint(3, 5)):
        if section:
            parts.append(f"== Section {section} ==")
        for _ in range(rng.randint(2, 4)):
            parts.append(" ".join(sentence() for _ in range(rng.randint(3, 6))))
    parts.append('{| class="wikitable"\n! A !! B\n|-\n| 1 || [[' + rng.choice(titles) + "]]\n|}")
    parts.append(f"[[File:Photo{rng.randint(0, 99)}.jpg|thumb|A view of [[{rng.choice(titles)}]]]]")
    parts.append("[[Category:Places]] [[Category:Examples]] [[de:Beispiel]] [[fr:Exemple]]")
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-train-step", dest="train_step", action="store_false", help="loader rate only")
    parser.add_argument("--train-batch", type=int, default=2, help="batch of the training step (8 x 512 full "
                        "logits of 250k words do not fit 24 GB)")
    args = parser.parse_args()
    rng = random.Random(0)
    # link targets: mostly articles of the dump (entities), some pages it does not have
    titles = [f"Article {i}" for i in range(min(args.pages, 500))] + [f"Place {i}" for i in range(100)]
    pages = []
    for i in range(args.pages):
        pages.append((f"Article {i}", 0, None, page_text(rng, titles)))
        if i % 10 == 0:
            pages.append((f"Alias {i}", 0, f"Article {i}", f"#REDIRECT [[Article {i}]]"))
    work = Path(tempfile.mkdtemp())
    dump = write_dump(work / "bench-pages-articles.xml.bz2", "en", pages)
    size = sum(len(t) for _, _, _, t in pages) / args.pages
    print(f"# {machine()}")
    print(
        f"dump: {args.pages} articles, {size / 1000:.1f} KB of wikitext each, {dump.stat().st_size / 1e6:.1f} MB bz2\n"
    )

    import mwparserfromhell

    texts = [page.text for page in DumpReader(dump) if page.redirect is None]
    start = time.perf_counter()
    for text in texts:
        mwparserfromhell.parse(text)
    parse_rate = len(texts) / (time.perf_counter() - start)
    print("| stage 1 | pages/s |")
    print("|---|---|")
    print(f"| mwparserfromhell.parse alone (1 process) | {parse_rate:,.0f} |")
    for workers in args.workers:
        start = time.perf_counter()
        build_wikipedia(dump, "en", work / f"out-{workers}", workers=workers, progress=False)
        rate = args.pages / (time.perf_counter() - start)
        print(f"| corpus wikipedia, {workers} worker{'s' if workers > 1 else ''} | {rate:,.0f} |")
    stage1 = work / f"out-{args.workers[0]}"
    examples_dir = stage4(stage1, work, args)
    loader(examples_dir, work, args)


def stage4(stage1: Path, work: Path, args: argparse.Namespace) -> Path:
    from mluke_jax.corpus.entity_vocab import build_entity_vocab
    from mluke_jax.corpus.examples import build_examples
    from mluke_jax.corpus.wikipedia import read_pages
    from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer
    from mluke_jax.tokenizers.entity_vocab import read_entity_vocab
    from mluke_jax.tokenizers.mluke import MLukeTokenizer

    paragraphs = [p for record in read_pages(stage1) for p in record["paragraphs"]]
    write_toy_mluke_tokenizer(work / "tokenizer", sentences=100, vocab_size=8000, lite=True,
                              extra_texts=[p["text"] for p in paragraphs[:20000]])
    build_entity_vocab([stage1], work / "entity_vocab.json", progress=False)
    vocab = read_entity_vocab(work / "entity_vocab.json")
    tokenizer = MLukeTokenizer.from_pretrained(work / "tokenizer", entity_vocab=vocab)
    texts = [p["text"] for p in paragraphs]
    spans = [[(s, e) for s, e, _ in p["links"]] for p in paragraphs]
    rates = {}
    for name, with_spans in (("plain", False), ("spans", True)):
        start = time.perf_counter()
        for i in range(0, len(texts), 256):
            if with_spans:
                rows = [(t, sp) for t, sp in zip(texts[i : i + 256], spans[i : i + 256]) if sp]
                tokenizer([t for t, _ in rows], entity_spans=[sp for _, sp in rows], max_entity_length=512)
                tokenizer([t for t, sp in zip(texts[i : i + 256], spans[i : i + 256]) if not sp])
            else:
                tokenizer(texts[i : i + 256])
        rates[name] = args.pages / (time.perf_counter() - start)
    print(f"\nstage 4: {len(paragraphs)} paragraphs, {sum(map(len, texts)) / 1e6:.1f} M characters, "
          f"{len(vocab)} entities, 8000 pieces\n")
    print("| stage 4 | pages/s | examples/s | vs MLukeTokenizer alone (plain / with entity_spans) |")
    print("|---|---|---|---|")
    print(f"| MLukeTokenizer(paragraphs) alone | {rates['plain']:,.0f} | | 1.00x / - |")
    print(f"| MLukeTokenizer(paragraphs, entity_spans=links) alone | {rates['spans']:,.0f} | | - / 1.00x |")
    out = None
    for workers in args.workers:
        out = work / f"examples-{workers}"
        start = time.perf_counter()
        metadata = build_examples([stage1], work / "tokenizer", work / "entity_vocab.json", out, workers=workers,
                                  progress=False)
        seconds = time.perf_counter() - start
        rate = args.pages / seconds
        print(f"| corpus examples, {workers} worker{'s' if workers > 1 else ''} | {rate:,.0f} | "
              f"{metadata['examples'] / seconds:,.0f} | {rates['plain'] / rate:.2f}x / {rates['spans'] / rate:.2f}x "
              "slower |")
    return work / f"examples-{args.workers[0]}"


def loader(examples_dir: Path, work: Path, args: argparse.Namespace) -> None:
    from mluke_jax.corpus.loader import EntityExampleStream

    print("\n| loader | batches/s | ms per batch | ms per example |\n|---|---|---|---|")
    per_example = {}
    for batch_size in (8, args.train_batch):
        stream = EntityExampleStream([examples_dir], batch_size, seed=0, max_entity_length=128)
        for _ in range(5):
            next(stream)
        start = time.perf_counter()
        count = 100
        for _ in range(count):
            next(stream)
        per_batch = (time.perf_counter() - start) / count
        per_example[batch_size] = per_batch / batch_size
        print(f"| EntityExampleStream, {batch_size} x 512 (+128 entities) | {1 / per_batch:,.1f} | "
              f"{per_batch * 1000:.1f} | {per_batch / batch_size * 1000:.2f} |")
    if not args.train_step:
        return
    import json

    import jax.numpy as jnp
    import numpy as np

    from helpers import MLUKE_BASE_LITE_CONFIG
    from mluke_jax import LukeConfig, LukeForMaskedLM
    from mluke_jax.train import OptimizerConfig, Trainer

    entities = max(json.loads((examples_dir / "entity_vocab.json").read_text()).values()) + 1
    config = LukeConfig.from_hf_dict({**MLUKE_BASE_LITE_CONFIG, "entity_vocab_size": entities})
    trainer = Trainer(LukeForMaskedLM.build(config), OptimizerConfig(learning_rate=1e-4, total_steps=100))
    rng = np.random.default_rng(0)

    def with_labels(batch):
        inputs = {k: jnp.asarray(v) for k, v in batch.items() if k not in ("page_id", "language")}
        chosen = (rng.random(batch["input_ids"].shape) < 0.15) & (batch["attention_mask"] == 1)
        labels = np.where(chosen, batch["input_ids"], -100)
        entity_labels = np.where(batch["entity_attention_mask"] == 1, batch["entity_ids"], -100)
        return {**inputs, "labels": jnp.asarray(labels), "entity_labels": jnp.asarray(entity_labels)}

    stream = EntityExampleStream([examples_dir], args.train_batch, seed=0, max_entity_length=128)
    start = time.perf_counter()
    jax_block(trainer.train_step(with_labels(next(stream))))
    first = time.perf_counter() - start
    times = []
    for _ in range(3):
        start = time.perf_counter()
        jax_block(trainer.train_step(with_labels(next(stream))))
        times.append(time.perf_counter() - start)
    step = sorted(times)[1]
    name = f"LukeForMaskedLM training step, mluke-base-lite size + {entities} entities, fp32, {args.train_batch} x 512"
    print(f"| {name} (first step {first:.1f} s) | {1 / step:.3f} | {step * 1000:,.0f} | "
          f"{step / args.train_batch * 1000:,.0f} |")
    ratio = per_example[args.train_batch] * args.train_batch / step
    print(f"\nthe loader's batch takes {ratio * 100:.2f} % of the step it feeds ({1 / ratio:,.0f}x faster)")


def jax_block(tree):
    import jax

    return jax.block_until_ready(tree)


if __name__ == "__main__":
    main()
