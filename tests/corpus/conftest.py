"""Stage-1 outputs of two tiny wikis (English and German), built once for the later stages' tests."""

import pytest

from helpers import DE_PAGES, EN_PAGES, write_dump
from mluke_jax.corpus.wikipedia import build_wikipedia


@pytest.fixture(scope="session")
def wikis(tmp_path_factory):
    """``{"en": DIR, "de": DIR, "en-shards": [DIR, DIR], "root": DIR}``, stage 1 run on both dumps."""
    root = tmp_path_factory.mktemp("wikis")
    out = {"root": root}
    for language, pages in (("en", EN_PAGES), ("de", DE_PAGES)):
        dump = write_dump(root / f"{language}wiki-pages-articles.xml.bz2", language, pages)
        out[language] = root / f"{language}-pages"
        build_wikipedia(dump, language, out[language], progress=False)
    out["en-shards"] = []
    for index in range(2):
        shard = root / f"en-shard{index}"
        build_wikipedia(root / "enwiki-pages-articles.xml.bz2", "en", shard, num_shards=2, shard_index=index,
                        progress=False)
        out["en-shards"].append(shard)
    return out
