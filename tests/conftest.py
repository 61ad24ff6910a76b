import contextlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never download
# gcsfs reads this when imported: no probe of the storage control API (gRPC), which the GCS emulator lacks
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# The suite is bound by XLA compile time (tiny models, many programs): LLVM's -O1 instead of -O2
# compiles about a quarter faster and runs these models as fast (a training step's numbers move by
# ~1e-7). Set before jax is imported; the processes that tests start inherit it. README, Development.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=1").strip()


@pytest.fixture
def tiny_luke_dict():
    from helpers import TINY_LUKE

    return dict(TINY_LUKE)


@pytest.fixture(scope="session")
def wikis(tmp_path_factory):
    """``{"en": DIR, "de": DIR, "en-shards": [DIR, DIR], "root": DIR}``, corpus stage 1 run on two
    tiny wikis (English and German), for the corpus and pretraining tests."""
    from helpers import DE_PAGES, EN_PAGES, write_dump
    from mluke_jax.corpus.wikipedia import build_wikipedia

    root = tmp_path_factory.mktemp("wikis")
    out = {"root": root}
    for language, pages in (("en", EN_PAGES), ("de", DE_PAGES)):
        dump = write_dump(root / f"{language}wiki-pages-articles.xml.bz2", language, pages)
        out[language] = root / f"{language}-pages"
        build_wikipedia(dump, language, out[language], progress=False)
    out["en-shards"] = []
    for index in range(2):
        shard = root / f"en-shard{index}"
        build_wikipedia(
            root / "enwiki-pages-articles.xml.bz2", "en", shard, num_shards=2, shard_index=index, progress=False
        )
        out["en-shards"].append(shard)
    return out


@pytest.fixture(scope="session")
def example_sets(wikis):
    """Stage 4 at 16 tokens on copies of both wikis' pages, sentences without entities kept (a few
    examples a language): ``{"en": DIR, "de": DIR, "tokenizer": DIR, "entity_vocab": FILE}``."""
    from corpus.wikidata import write_wikidata_tsv

    from helpers import DE_PAGES, EN_PAGES, write_dump
    from mluke_jax.corpus.entity_vocab import build_entity_vocab
    from mluke_jax.corpus.examples import ExampleSettings, build_examples
    from mluke_jax.corpus.wikipedia import build_wikipedia, read_pages
    from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer

    root = wikis["root"]
    texts = [p["text"] for language in ("en", "de") for r in read_pages(wikis[language]) for p in r["paragraphs"]]
    out = {"tokenizer": write_toy_mluke_tokenizer(root / "tokenizer", sentences=300, lite=True, extra_texts=texts * 20)}
    out["entity_vocab"] = root / "entity_vocab.json"
    build_entity_vocab(
        [wikis["en"], wikis["de"]],
        out["entity_vocab"],
        interwiki=write_wikidata_tsv(root / "sitelinks.tsv"),
        progress=False,
    )
    settings = ExampleSettings(
        max_seq_length=16, max_entity_length=4, min_sentence_length=1, include_sentences_without_entities=True
    )
    for language, pages, copies in (("en", EN_PAGES, 4), ("de", DE_PAGES, 2)):
        dump = write_dump(root / f"{language}-x{copies}.xml", language, pages * copies)  # the ids differ per copy
        build_wikipedia(dump, language, root / f"{language}-x{copies}", progress=False)
        out[language] = root / f"{language}-examples"
        build_examples(
            [root / f"{language}-x{copies}"],
            out["tokenizer"],
            out["entity_vocab"],
            out[language],
            settings=settings,
            records_per_shard=5,
            progress=False,
        )
    return out


@pytest.fixture(scope="session")
def xlm_data(tmp_path_factory):
    """XLM data of a toy tokenizer: ``en-stream``, ``de-stream`` (xlm-text), ``pairs`` (xlm-parallel en-de)."""
    from mluke_jax.corpus.xlm_text import build_xlm_parallel, build_xlm_text
    from mluke_jax.testing.toy_data import multilingual_sentences, write_toy_xlm_tokenizer

    root = tmp_path_factory.mktemp("xlm-pretrain")
    tokenizer = write_toy_xlm_tokenizer(root / "tokenizer", sentences=400)
    sentences = multilingual_sentences(600, seed=5)
    for language in ("en", "de"):
        (root / f"{language}.txt").write_text("\n".join(s.text for s in sentences if s.language == language))
        build_xlm_text(
            [root / f"{language}.txt"],
            tokenizer,
            language,
            root / f"{language}-stream",
            chunk_tokens=100,
            progress=False,
        )
    n = min(sum(s.language == lang for s in sentences) for lang in ("en", "de"))
    en = [s.text for s in sentences if s.language == "en"][:n]
    de = [s.text for s in sentences if s.language == "de"][:n]
    (root / "p.en").write_text("\n".join(en) + "\n")
    (root / "p.de").write_text("\n".join(de) + "\n")
    build_xlm_parallel(root / "p.en", root / "p.de", "en-de", tokenizer, root / "pairs", progress=False)
    return root


# The files that take a minute or more, longest first: run before the rest so that the two xdist
# workers (--dist loadfile --no-loadscope-reorder hands out files in collection order) share them
# instead of one worker ending the run alone on the last of them. The order inside a file is kept.
SLOWEST_FILES = (
    "test_notebooks.py",
    "test_readme.py",
    "test_distributed_runs.py",
    "test_recipes.py",
    "test_tensor_parallel.py",
    "test_precision_and_remat.py",
    "test_luke_run.py",
    "test_luke_full_size.py",
    "test_resume.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: number for number, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def gcs_server():
    """A real GCS emulator (``fake-gcs-server``) on 127.0.0.1 for the session, stopped at its end."""
    from gcs_emulator import FakeGCS

    server = FakeGCS()
    yield server
    server.stop()


@pytest.fixture
def bucket(gcs_server, request):
    """A fresh bucket ``gs://NAME`` of the emulator, with this process's client libraries pointed at
    it (and kept off every other address) for the test; ``bucket.env`` for the processes it starts."""
    import re

    from gcs_emulator import activate

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + f"-{os.getpid()}"
    uri = gcs_server.create_bucket(name)
    with contextlib.contextmanager(activate)(gcs_server):
        yield Bucket(uri, gcs_server.env)


class Bucket(str):
    """``gs://NAME`` with ``env``: the variables a subprocess needs to reach the emulator."""

    def __new__(cls, uri: str, env: dict[str, str]):
        self = super().__new__(cls, uri)
        self.env = env
        return self
