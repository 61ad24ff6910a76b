"""The pretraining runs' working directory: relative paths, as a user types them."""

import json

import pytest

from helpers import TINY_LUKE

# a tiny XLM for the xlm command (vocabulary and languages come from the data's tokenizer)
TINY_XLM_CONFIG = {
    "emb_dim": 32,
    "n_layers": 2,
    "n_heads": 4,
    "max_position_embeddings": 64,
    "dropout": 0.1,
    "attention_dropout": 0.1,
}


@pytest.fixture
def workdir(tmp_path, tmp_path_factory, monkeypatch):
    """A fresh working directory holding ``tiny.json`` (LUKE) and ``tiny-xlm.json`` configs. The runs
    of one worker share a compilation cache: a run of the same model and shapes loads its compiled
    steps instead of compiling them (as a resumed run does)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLUKE_JAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "pretrain-xla-cache"))
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY_LUKE, "type_vocab_size": 1}))
    (tmp_path / "tiny-xlm.json").write_text(json.dumps(TINY_XLM_CONFIG))
    return tmp_path
