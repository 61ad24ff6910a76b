"""Generated Wikipedia dumps in the real ``pages-articles`` format, and a small world of facts to learn.

- :func:`write_dump`: pages (title, namespace, redirect target, wikitext) as a MediaWiki XML
  export with the wiki's namespaces (``.bz2`` compressed when the name says so).
- :func:`fact_pages`: one article per entity of a generated world (countries with a capital and
  cities, rivers, people born in cities), every sentence a fact with its entities linked,
  written from English and German templates. A second draw (``seed``) words the same facts
  anew: pages for held-out evaluation.
- :func:`build_fact_corpus`: the corpus stages on such dumps (``corpus wikipedia``,
  ``entity-vocab``, ``examples``) with a sentencepiece tokenizer trained on their text: the data
  of the pretraining test that must learn far above chance, and of notebook 06.

An entity is predictable from the words around it (``[[X]] is the capital of [MASK]``: the
country of X), so a model that learns shows it in masked-entity accuracy; chance is one in the
number of entities.
"""

import bz2
import random
from pathlib import Path
from xml.sax.saxutils import escape

NAMESPACES = {
    "en": {1: "Talk", 6: "File", 10: "Template", 14: "Category"},
    "de": {1: "Diskussion", 6: "Datei", 10: "Vorlage", 14: "Kategorie"},
    "ja": {1: "ノート", 6: "ファイル", 10: "Template", 14: "Category"},
}


def write_dump(path: str | Path, language: str, pages: list[tuple[str, int, str | None, str]]) -> Path:
    """A ``pages-articles`` export: siteinfo with the wiki's namespaces, then one <page> each."""
    path = Path(path)
    namespaces = "".join(
        f'      <namespace key="{key}" case="first-letter">{name}</namespace>\n'
        for key, name in NAMESPACES[language].items()
    )
    body = [
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="' + language + '">\n',
        f"  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <dbname>{language}wiki</dbname>\n"
        f'    <namespaces>\n      <namespace key="0" case="first-letter" />\n{namespaces}    </namespaces>\n'
        "  </siteinfo>\n",
    ]
    for page_id, (title, namespace, redirect, text) in enumerate(pages, start=10):
        redirect_tag = f'    <redirect title="{escape(redirect)}" />\n' if redirect else ""
        body.append(
            f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{namespace}</ns>\n    <id>{page_id}</id>\n"
            f"{redirect_tag}    <revision>\n      <id>{page_id * 100}</id>\n"
            f'      <text bytes="{len(text.encode())}" xml:space="preserve">{escape(text)}</text>\n'
            "    </revision>\n  </page>\n"
        )
    body.append("</mediawiki>\n")
    data = "".join(body).encode("utf-8")
    path.write_bytes(bz2.compress(data) if path.suffix == ".bz2" else data)
    return path


_SYLLABLES = "ka lo mi ra su te vo na ri de ba sol ven tor mar lin gal dor fen pra".split()

# Templates of each fact, by language: {a} / {b} are the linked entities.
TEMPLATES = {
    "en": {
        "capital": [
            "[[{a}]] is the capital of [[{b}]].",
            "The capital of [[{b}]] is [[{a}]].",
            "[[{b}]] has its capital in [[{a}]].",
        ],
        "city": [
            "[[{a}]] is a city in [[{b}]].",
            "[[{a}]] lies in the north of [[{b}]].",
            "Many people in [[{b}]] live in [[{a}]].",
        ],
        "river": ["The [[{a}]] flows through [[{b}]].", "[[{b}]] is crossed by the river [[{a}]]."],
        "born": [
            "[[{a}]] was born in [[{b}]].",
            "[[{a}]] grew up in the city of [[{b}]].",
            "The writer [[{a}]] came from [[{b}]].",
        ],
    },
    "de": {
        "capital": [
            "[[{a}]] ist die Hauptstadt von [[{b}]].",
            "Die Hauptstadt von [[{b}]] ist [[{a}]].",
            "[[{b}]] hat seine Hauptstadt in [[{a}]].",
        ],
        "city": [
            "[[{a}]] ist eine Stadt in [[{b}]].",
            "[[{a}]] liegt im Norden von [[{b}]].",
            "Viele Menschen in [[{b}]] wohnen in [[{a}]].",
        ],
        "river": ["Der [[{a}]] fließt durch [[{b}]].", "[[{b}]] wird vom Fluss [[{a}]] durchquert."],
        "born": [
            "[[{a}]] wurde in [[{b}]] geboren.",
            "[[{a}]] wuchs in der Stadt [[{b}]] auf.",
            "Der Schriftsteller [[{a}]] stammte aus [[{b}]].",
        ],
    },
}


def _name(rng: random.Random, used: set[str], parts: int) -> str:
    while True:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()
        if name not in used:
            used.add(name)
            return name


def fact_world(countries: int = 6, cities: int = 3, people: int = 12, seed: int = 0) -> list[tuple[str, str, str]]:
    """The facts ``(relation, a, b)`` of a generated world: each country's capital (its first city)
    and other cities, a river each, ``people`` born in random cities. Names are made of syllables,
    the same in every language (as titles linked by interwiki)."""
    rng, used = random.Random(seed), set()
    facts = []
    towns = []
    for _ in range(countries):
        country = _name(rng, used, 2) + "ia"
        for k in range(cities):
            town = _name(rng, used, 2)
            towns.append(town)
            facts.append(("capital" if k == 0 else "city", town, country))
        facts.append(("river", _name(rng, used, 2) + "au", country))
    for _ in range(people):
        person = f"{_name(rng, used, 2)} {_name(rng, used, 2)}"
        facts.append(("born", person, rng.choice(towns)))
    return facts


def fact_pages(
    facts: list[tuple[str, str, str]], language: str, seed: int = 0, sentences: int = 6
) -> list[tuple[str, int, str | None, str]]:
    """One article per entity: ``sentences`` facts about it (its own and its neighbours'), each in
    a template drawn by ``seed``, as ``write_dump`` pages."""
    rng = random.Random(seed)
    about: dict[str, list[tuple[str, str, str]]] = {}
    for fact in facts:
        for entity in fact[1:]:
            about.setdefault(entity, []).append(fact)
    pages = []
    for title, own in about.items():
        chosen = [rng.choice(own) for _ in range(sentences)]
        text = " ".join(rng.choice(TEMPLATES[language][r]).format(a=a, b=b) for r, a, b in chosen)
        pages.append(
            (
                title,
                0,
                None,
                f"'''{title}''' is an article. {text}"
                if language == "en"
                else f"'''{title}''' ist ein Artikel. {text}",
            )
        )
    return pages


def build_fact_corpus(
    directory: str | Path,
    languages: tuple[str, ...] = ("en", "de"),
    *,
    seed: int = 0,
    max_seq_length: int = 32,
    max_entity_length: int = 8,
    vocab_size: int = 400,
    progress: bool = False,
    **world: int,
) -> dict[str, Path]:
    """Dumps of the world's facts (``train``: seed ``seed``, ``held-out``: the same facts worded by
    another draw) through the corpus stages. Returns ``{"tokenizer", "entity_vocab",
    f"{language}-train", f"{language}-held-out"}`` paths (the last two: ``corpus examples`` data)."""
    from mluke_jax.corpus.entity_vocab import build_entity_vocab
    from mluke_jax.corpus.examples import ExampleSettings, build_examples
    from mluke_jax.corpus.wikipedia import build_wikipedia, read_pages
    from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    facts = fact_world(seed=seed, **world)
    wikis = {}
    for language in languages:
        for split, draw in (("train", seed), ("held-out", seed + 1000)):
            dump = write_dump(directory / f"{language}-{split}.xml.bz2", language, fact_pages(facts, language, draw))
            wikis[language, split] = directory / f"{language}-{split}-wiki"
            build_wikipedia(dump, language, wikis[language, split], progress=progress)
    texts = [
        p["text"]
        for (_, split), wiki in wikis.items()
        if split == "train"
        for record in read_pages(wiki)
        for p in record["paragraphs"]
    ]
    out = {
        "tokenizer": write_toy_mluke_tokenizer(
            directory / "tokenizer", sentences=200, vocab_size=vocab_size, lite=True, extra_texts=texts * 3
        )
    }
    # the interwiki links of the world: a title names one entity in every language
    entities = sorted({entity for fact in facts for entity in fact[1:]})
    sitelinks = directory / "sitelinks.tsv"
    sitelinks.write_text(
        "".join(f"Q{n}\t{language}\t{title}\n" for n, title in enumerate(entities, start=1) for language in languages),
        encoding="utf-8",
    )
    out["entity_vocab"] = directory / "entity_vocab.json"
    build_entity_vocab(
        [wikis[language, "train"] for language in languages],
        out["entity_vocab"],
        interwiki=sitelinks,
        progress=progress,
    )
    settings = ExampleSettings(
        max_seq_length=max_seq_length, max_entity_length=max_entity_length, min_sentence_length=1
    )
    for (language, split), wiki in wikis.items():
        out[f"{language}-{split}"] = directory / f"{language}-{split}"
        build_examples(
            [wiki],
            out["tokenizer"],
            out["entity_vocab"],
            out[f"{language}-{split}"],
            settings=settings,
            progress=progress,
        )
    return out
