"""Stage 2 of a corpus: the entity vocabulary (``corpus entity-vocab``), as the LUKE recipes build it.

An entity is an article linked from others; its count is the number of links to it once redirects
are resolved (links to pages that do not exist are not counted). The special entities come first,
``[PAD]`` = 0, ``[UNK]`` = 1, ``[MASK]`` = 2, ``[MASK2]`` = 3, then the entities by count (ties by
name). With an interwiki file (:mod:`mluke_jax.corpus.interwiki`) the titles of one Wikidata item
in several languages share one id and their counts add up, and ``min_languages`` keeps the items
linked in at least that many languages: the mLUKE recipe is 24 Wikipedias, ``min_languages=3`` and
1.2M ids. Without one, every (language, title) is an entity of its own.

The file is written in the format its name says:

- ``*.jsonl``: the original code's format, one ``{"id", "entities": [[title, lang], ...], "count"}``
  a line (read by the original LUKE code and by ``MLukeTokenizer``);
- ``*.json``: transformers' ``entity_vocab.json``, ``{"[PAD]": 0, ..., "en:Tokyo": 4, "de:Tokio": 4}``.
"""

import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mluke_jax.corpus.collection import WikipediaLanguage, open_wikipedia
from mluke_jax.corpus.files import atomic_file
from mluke_jax.corpus.interwiki import read_interwiki
from mluke_jax.paths import local_path
from mluke_jax.progress import progress_bar
from mluke_jax.tokenizers.entity_vocab import SPECIAL_ENTITIES, write_entity_vocab

FORMATS = (".jsonl", ".json")


@dataclass
class EntityGroup:
    """One id of the vocabulary: its (title, language) names and their summed link count."""

    names: list[tuple[str, str]]
    count: int

    @property
    def languages(self) -> set[str]:
        return {language for _, language in self.names}


def count_links(corpus: WikipediaLanguage, progress: bool = True) -> Counter:
    """Title -> links pointing at it (redirects resolved, only targets that are articles)."""
    titles, counts = corpus.titles, Counter()
    bar = progress_bar(desc=f"{corpus.language} links", unit="pages", total=corpus.num_pages, enabled=progress)
    for record in corpus.pages():
        for paragraph in record["paragraphs"]:
            for _start, _end, target in paragraph["links"]:
                target = corpus.resolve(target)
                if target in titles:
                    counts[target] += 1
        bar.update()
    bar.close()
    return counts


def group_entities(
    counts: dict[str, Counter], interwiki: dict[tuple[str, str], str] | None = None
) -> list[EntityGroup]:
    """The names that share an item merged into one group (each name its own group without
    ``interwiki``)."""
    groups: dict[Any, EntityGroup] = {}
    for language in sorted(counts):
        for title, count in counts[language].items():
            key = (interwiki or {}).get((language, title), (language, title))
            group = groups.get(key)
            if group is None:
                groups[key] = EntityGroup([(title, language)], count)
            else:
                group.names.append((title, language))
                group.count += count
    return list(groups.values())


def select_entities(groups: Iterable[EntityGroup], size: int | None, min_languages: int = 1) -> list[EntityGroup]:
    """The ``size - 4`` most linked groups in at least ``min_languages`` languages (all without
    ``size``), most linked first, ties by their first name."""
    kept = [g for g in groups if len(g.languages) >= min_languages]
    for group in kept:
        group.names.sort(key=lambda name: (name[1], name[0]))
    kept.sort(key=lambda g: (-g.count, g.names[0][1], g.names[0][0]))
    if size is not None:
        kept = kept[: max(0, size - len(SPECIAL_ENTITIES))]
    return kept


def write_vocab(entities: list[EntityGroup], path: Path, monolingual_language: str | None) -> None:
    """``entities`` after the special ones, in the format of ``path``'s suffix (see the module)."""
    if path.name.endswith(".jsonl"):
        with open(path, "w", encoding="utf-8") as f:
            for entity_id, name in enumerate(SPECIAL_ENTITIES):
                f.write(json.dumps({"id": entity_id, "entities": [[name, monolingual_language]], "count": 0}) + "\n")
            for entity_id, group in enumerate(entities, len(SPECIAL_ENTITIES)):
                item = {"id": entity_id, "entities": [list(n) for n in group.names], "count": group.count}
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    vocab = {name: i for i, name in enumerate(SPECIAL_ENTITIES)}
    for entity_id, group in enumerate(entities, len(SPECIAL_ENTITIES)):
        for title, language in group.names:
            vocab[f"{language}:{title}"] = entity_id
    write_entity_vocab(vocab, path)


def build_entity_vocab(
    directories: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    size: int | None = None,
    interwiki: str | os.PathLike | None = None,
    min_languages: int = 1,
    min_count: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Count the links of the stage-1 ``directories`` and write the vocabulary to ``out``.

    ``size`` counts every id, the four special entities included (mluke-base: 1200001). Returns a
    summary (entities, names, languages, seconds).
    """
    out = local_path(out)
    if not out.name.endswith(FORMATS):
        raise ValueError(f"{out}: the entity vocabulary is written as .jsonl (original LUKE) or .json (transformers)")
    if size is not None and size <= len(SPECIAL_ENTITIES):
        raise ValueError(f"size must be more than the {len(SPECIAL_ENTITIES)} special entities, got {size}")
    if min_languages > 1 and interwiki is None:
        raise ValueError(
            f"--min-languages {min_languages} needs --interwiki: without it every entity is in one language"
        )
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite (--overwrite) to replace it")
    start = time.perf_counter()
    corpora = open_wikipedia(directories)
    counts = {}
    for language, corpus in corpora.items():
        counted = count_links(corpus, progress)
        counts[language] = Counter({t: c for t, c in counted.items() if c >= min_count})
    mapping = None
    if interwiki is not None:
        wanted = {language: set(c) for language, c in counts.items()}
        mapping = read_interwiki(interwiki, wanted, progress)
    entities = select_entities(group_entities(counts, mapping), size, min_languages)
    with atomic_file(out, overwrite, "the entity vocabulary") as tmp:
        write_vocab(entities, tmp, next(iter(corpora)) if len(corpora) == 1 else None)
    return {
        "entities": len(entities) + len(SPECIAL_ENTITIES),
        "names": sum(len(g.names) for g in entities),
        "languages": sorted(corpora),
        "interwiki_titles": len(mapping) if mapping is not None else 0,
        "seconds": round(time.perf_counter() - start, 3),
    }
