"""The corpus stages on a ``gs://`` bucket: the dump and every stage's input read from it, every
output written to it (complete only with its marker), the same files as a local build; and an
entity linker loading its mention database from the bucket. Against a real GCS emulator
(``tests/gcs_emulator.py``)."""

import json

import numpy as np
from etils import epath

from helpers import EN_PAGES, write_dump
from mluke_jax import remote
from mluke_jax.corpus.__main__ import main
from mluke_jax.corpus.loader import read_records
from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer


def test_every_stage_from_and_into_a_bucket(tmp_path, bucket, capsys):
    dump = write_dump(tmp_path / "enwiki.xml.bz2", "en", EN_PAGES)
    tokenizer = write_toy_mluke_tokenizer(tmp_path / "tokenizer", sentences=200, lite=True)
    remote.copy_file(dump, epath.Path(f"{bucket}/dumps/enwiki.xml.bz2"))
    remote.copy_tree(tokenizer, epath.Path(f"{bucket}/tokenizer"))
    local, there = str(tmp_path / "corpus"), f"{bucket}/corpus"
    stages = [
        lambda at, src: ["wikipedia", src("dumps/enwiki.xml.bz2"), "--language", "en", "--out", f"{at}/en"],
        lambda at, src: ["entity-vocab", f"{at}/en", "--out", f"{at}/entity_vocab.json"],
        lambda at, src: ["mention-db", f"{at}/en", "--out", f"{at}/mentions.tsv.gz", "--min-link-prob", "0"],
        lambda at, src: ["examples", f"{at}/en", "--tokenizer", src("tokenizer"), "--entity-vocab",
                         f"{at}/entity_vocab.json", "--out", f"{at}/examples", "--max-seq-length", "32"],
    ]  # fmt: skip
    for stage in stages:
        assert main([*stage(local, lambda name: str(tmp_path / name.split("/")[-1])), "--quiet"]) == 0
        assert main([*stage(there, lambda name: f"{bucket}/{name}"), "--quiet"]) == 0, capsys.readouterr().err
    assert f"{there}/examples:" in capsys.readouterr().out  # the messages name the bucket's paths
    for name in ("entity_vocab.json", "en/metadata.json"):
        assert epath.Path(f"{there}/{name}").read_bytes() != b""
    assert json.loads(epath.Path(f"{there}/entity_vocab.json").read_text()) == json.loads(
        (tmp_path / "corpus" / "entity_vocab.json").read_text()
    )
    ours, theirs = list(read_records(f"{there}/examples")), list(read_records(f"{local}/examples"))
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs):
        assert all(np.array_equal(a[k], b[k]) for k in a)

    # an earlier output is refused without --overwrite, replaced with it
    assert main(["entity-vocab", f"{there}/en", "--out", f"{there}/entity_vocab.json", "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main([*stages[0](there, lambda name: f"{bucket}/{name}"), "--quiet"]) == 1
    assert "already holds a corpus" in capsys.readouterr().err
    assert main([*stages[0](there, lambda name: f"{bucket}/{name}"), "--quiet", "--overwrite"]) == 0

    from mluke_jax import EntityLinker

    linker = EntityLinker.from_pretrained(f"{there}/mentions.tsv.gz")
    assert linker("Tokyo is big.", language="en").mentions == EntityLinker.from_pretrained(
        f"{local}/mentions.tsv.gz"
    )("Tokyo is big.", language="en").mentions


def test_a_failed_stage_uploads_nothing(tmp_path, bucket, capsys):
    (tmp_path / "broken.xml").write_text("<mediawiki><page><title>A", encoding="utf-8")
    remote.copy_file(tmp_path / "broken.xml", epath.Path(f"{bucket}/broken.xml"))
    assert main(["wikipedia", f"{bucket}/broken.xml", "--language", "en", "--out", f"{bucket}/out", "--quiet"]) == 1
    assert not epath.Path(f"{bucket}/out").exists()
