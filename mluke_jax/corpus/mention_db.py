"""Stage 3 of a corpus: the mention database (``corpus mention-db``), as the original LUKE builds it.

For every anchor text of a wiki (its surface key, :mod:`mluke_jax.linking.surface`): the articles
it links to with their counts, the number of links with that text, and the number of articles
whose text contains it anywhere (linked or not). Its **link probability** is links / articles
containing it (at most 1): "the" is linked rarely for how often it occurs, "Mount Fuji" nearly
always. The articles containing each anchor are found in one pass with an Aho-Corasick automaton
(pyahocorasick) over the normalised text, matches kept at word boundaries.

The file's format is described, and read, by :mod:`mluke_jax.linking.mention_db`
(:class:`~mluke_jax.linking.mention_db.MentionDB`, which :class:`~mluke_jax.linking.EntityLinker` uses).
"""

import os
import time
from collections import Counter, defaultdict
from typing import Any

from mluke_jax.corpus.collection import WikipediaLanguage, open_wikipedia
from mluke_jax.corpus.files import atomic_file
from mluke_jax.linking.mention_db import FORMAT, FORMAT_VERSION, header_line, open_text
from mluke_jax.linking.surface import surface_key
from mluke_jax.paths import local_path
from mluke_jax.progress import progress_bar


def _import_automaton():
    try:
        import ahocorasick
    except ImportError:
        raise ImportError("the mention database needs pyahocorasick: pip install 'mluke-jax[corpus]'") from None
    return ahocorasick


def anchor_counts(corpus: WikipediaLanguage, max_mention_length: int, progress: bool = True) -> dict[str, Counter]:
    """Surface key -> Counter(title -> links), targets resolved and only articles."""
    titles, anchors = corpus.titles, defaultdict(Counter)
    bar = progress_bar(desc=f"{corpus.language} anchors", unit="pages", total=corpus.num_pages, enabled=progress)
    for record in corpus.pages():
        for paragraph in record["paragraphs"]:
            for start, end, target in paragraph["links"]:
                target = corpus.resolve(target)
                key = surface_key(paragraph["text"][start:end])
                if target in titles and key and key.count(" ") < max_mention_length:
                    anchors[key][target] += 1
        bar.update()
    bar.close()
    return anchors


def document_counts(corpus: WikipediaLanguage, keys: list[str], progress: bool = True) -> Counter:
    """Surface key -> articles whose normalised text contains it at word boundaries."""
    ahocorasick = _import_automaton()
    automaton = ahocorasick.Automaton()
    for key in keys:
        automaton.add_word(key, key)
    counts: Counter = Counter()
    if not keys:
        return counts
    automaton.make_automaton()
    bar = progress_bar(desc=f"{corpus.language} occurrences", unit="pages", total=corpus.num_pages, enabled=progress)
    for record in corpus.pages():
        found = set()
        for paragraph in record["paragraphs"]:
            text = surface_key(paragraph["text"])
            last = len(text) - 1
            for end, key in automaton.iter(text):
                start = end - len(key) + 1
                if (start == 0 or text[start - 1] == " ") and (end == last or text[end + 1] == " "):
                    found.add(key)
        counts.update(found)
        bar.update()
    bar.close()
    return counts


def build_mention_db(
    directories: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    min_link_prob: float = 0.01,
    max_candidates: int = 100,
    min_link_count: int = 1,
    max_mention_length: int = 20,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the mention database of the stage-1 ``directories`` to ``out`` (the defaults are the
    original code's); returns the header (counts per language, seconds)."""
    out = local_path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite (--overwrite) to replace it")
    if not 0 <= min_link_prob <= 1:
        raise ValueError(f"min_link_prob must be within 0..1, got {min_link_prob}")
    start = time.perf_counter()
    corpora = open_wikipedia(directories)
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "languages": sorted(corpora),
        "normalization": "surface_key: lower-cased, U+0300-U+036F accents stripped, punctuation/symbols/unspaced "
        "scripts one word a character, words joined by one space",
        "min_link_prob": min_link_prob,
        "max_candidates": max_candidates,
        "min_link_count": min_link_count,
        "max_mention_length": max_mention_length,
        "mentions": {},
    }
    with atomic_file(out, overwrite, "the mention database") as tmp, open_text(tmp, "wt") as f:
        rows = []
        for language in sorted(corpora):
            corpus = corpora[language]
            anchors = anchor_counts(corpus, max_mention_length, progress)
            docs = document_counts(corpus, list(anchors), progress)
            kept = 0
            for key in sorted(anchors):
                entities, doc_count = anchors[key], docs[key]
                total = sum(entities.values())
                if doc_count == 0 or min(1.0, total / doc_count) < min_link_prob:
                    continue
                ranked = sorted(entities.items(), key=lambda item: (-item[1], item[0]))[:max_candidates]
                ranked = [(title, count) for title, count in ranked if count >= min_link_count]
                if ranked:
                    fields = [language, key, str(doc_count), str(total)]
                    fields += [value for title, count in ranked for value in (title, str(count))]
                    rows.append("\t".join(fields) + "\n")
                    kept += 1
            header["mentions"][language] = kept
        header["seconds"] = round(time.perf_counter() - start, 3)
        f.write(header_line(header))
        f.writelines(rows)
    return header
