"""Corpus stage 1 throughput: pages/s of ``corpus wikipedia`` on a generated dump of realistic pages.

    python benchmarks/corpus.py [--pages 3000] [--workers 1 2]

The dump: ``--pages`` articles of about 6 KB of wikitext each (an infobox template, paragraphs
with links and piped links, bold/italic markup, references with citation templates, a table, a
file with a caption, categories and interlanguage links), plus one redirect per ten articles.
Rows: the bare mwparserfromhell parse of every page (the floor: the parser's own cost) and the
whole stage (reading the bz2 dump, walking the nodes, writing the gzip shards) per worker count.
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
    args = parser.parse_args()
    rng = random.Random(0)
    titles = [f"Place {i}" for i in range(500)]
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


if __name__ == "__main__":
    main()
