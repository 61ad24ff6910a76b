"""EntityLinker: loading a mention database of millions of surface forms, and mentions per second.

    python benchmarks/linker.py [--forms 3000000] [--texts 2000]

The database: ``--forms`` English surface forms of 1-4 words drawn from a 50,000-word vocabulary
(Zipf-like), each with 1-3 candidate titles, written in the file format of
``python -m mluke_jax.corpus mention-db``; an entity vocabulary of 1.2M names (mluke-base's size)
holding two thirds of the titles. Then:

- load: ``EntityLinker.from_pretrained`` the first time (reading the gzip file, building the
  tries, writing the index beside the file) and the second time (mapping the index), seconds and
  the growth of the process's peak resident memory;
- link: ``--texts`` paragraphs of about 120 words, drawn from the same vocabulary, one at a time;
  mentions found per second and words per second.
"""

import argparse
import gzip
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(sys.path.pop(0))  # this directory must not shadow the standard library
sys.path.append(str(Path(__file__).resolve().parent))

from common import machine  # noqa: E402

from mluke_jax import EntityLinker  # noqa: E402
from mluke_jax.linking.mention_db import FORMAT, FORMAT_VERSION, header_line  # noqa: E402


def vocabulary(size: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def write_database(path: Path, forms: int, words: list[str], rng: random.Random) -> list[str]:
    """Write ``forms`` surface forms; returns the titles."""
    weights = [1 / (rank + 1) for rank in range(len(words))]
    seen, titles = set(), []
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "languages": ["en"],
              "max_mention_length": 20, "mentions": {"en": forms}}
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        f.write(header_line(header))
        while len(seen) < forms:
            batch = rng.choices(words, weights, k=4 * 4096)
            for start in range(0, len(batch) - 4, 4):
                key = " ".join(batch[start : start + rng.randint(1, 4)])
                if key in seen:
                    continue
                seen.add(key)
                docs = rng.randint(1, 1000)
                fields = ["en", key, str(docs), "0"]
                links = 0
                for _ in range(rng.randint(1, 3)):
                    title = key.title() + ("" if rng.random() < 0.7 else f" ({rng.choice(words)})")
                    count = rng.randint(1, docs)
                    links += count
                    fields += [title, str(count)]
                    titles.append(title)
                fields[3] = str(min(links, docs))
                f.write("\t".join(fields) + "\n")
                if len(seen) == forms:
                    break
    return titles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=3_000_000)
    parser.add_argument("--texts", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(0)
    print(machine())
    words = vocabulary(50_000, rng)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mentions.tsv.gz"
        start = time.perf_counter()
        titles = write_database(path, args.forms, words, rng)
        print(f"database: {args.forms:,} surface forms, {path.stat().st_size / 2**20:.0f} MiB gzip "
              f"(written in {time.perf_counter() - start:.0f} s)")
        vocab = {f"en:{t}": i for i, t in enumerate(sorted(set(titles))[: 1_200_000]) if i % 3}
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        EntityLinker.from_pretrained(path, vocab)
        load = time.perf_counter() - start
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20
        index = sum(p.stat().st_size for p in Path(f"{path}.index").iterdir()) / 2**20
        print(f"first load (file, index written): {load:.1f} s, peak resident memory +{grown:.2f} GiB, "
              f"index {index:.0f} MiB")
        start = time.perf_counter()
        linker = EntityLinker.from_pretrained(path, vocab)
        print(f"second load (index mapped): {time.perf_counter() - start:.3f} s "
              f"({linker.mention_db.header['loaded_from']})")
        weights = [1 / (rank + 1) for rank in range(len(words))]
        texts = [" ".join(rng.choices(words, weights, k=120)) + "." for _ in range(args.texts)]
        linker(texts[0], "en")
        start = time.perf_counter()
        mentions = sum(len(linker(text, "en")) for text in texts)
        seconds = time.perf_counter() - start
        print(f"link: {args.texts} texts of 120 words, {mentions / seconds:,.0f} mentions/s, "
              f"{args.texts * 120 / seconds:,.0f} words/s, {args.texts / seconds:,.0f} texts/s "
              f"({mentions / args.texts:.1f} mentions a text)")


if __name__ == "__main__":
    main()
