"""Pruning the entity vocabulary of a converted mLUKE checkpoint: same outputs on kept entities."""

import json
from pathlib import Path

import numpy as np
import pytest

from convert.prune_entities import choose_entities, main, renumber
from helpers import convert, save_luke_with_test_tokenizer
from mluke_jax import LukeForMaskedLM, MLukeTokenizer
from mluke_jax.tokenizers.entity_vocab import read_entity_vocab

DATA = Path(__file__).resolve().parents[1] / "data" / "mluke_tokenizer"
TEXTS = ["Tokyo and New York are far from Marie Curie.", "Mount Everest  and the Beatles; München"]
SPANS = [[(0, 5), (10, 18), (32, 43)], [(0, 13), (19, 30), (32, 39)]]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A random LukeForMaskedLM sized for the test tokenizer, converted, tokenizer files alongside."""
    root = tmp_path_factory.mktemp("prune")
    return convert(
        save_luke_with_test_tokenizer(root / "hf", "LukeForMaskedLM", max_position_embeddings=64), root / "jax"
    )


@pytest.mark.torch
def test_pruned_model_gives_the_same_outputs_on_kept_entities(converted, tmp_path):
    assert main([str(converted), str(tmp_path / "en"), "--languages", "en", "--quiet"]) == 0
    full_tok, en_tok = MLukeTokenizer.from_pretrained(converted), MLukeTokenizer.from_pretrained(tmp_path / "en")
    assert set(en_tok.entity_vocab) == {n for n in full_tok.entity_vocab if n.startswith("en:") or n.startswith("[")}
    entities = [["en:Tokyo", "en:New York", "en:Marie Curie"], ["en:Mount Everest", "en:the Beatles", "de:München"]]
    full_in = full_tok(TEXTS, entity_spans=SPANS, entities=entities, padding=True, return_tensors="np")
    en_in = en_tok(TEXTS, entity_spans=SPANS, entities=entities, padding=True, return_tensors="np")
    assert (full_in["input_ids"] == en_in["input_ids"]).all()
    # the German entity is no longer known: [UNK] in the pruned vocabulary; give the full model the same
    assert en_in["entity_ids"][1, 2] == en_tok.entity_unk_token_id
    full_in["entity_ids"][1, 2] = full_tok.entity_unk_token_id
    old_ids = np.array(json.loads((tmp_path / "en" / "pruned_entities.json").read_text())["old_ids"])
    assert (old_ids[en_in["entity_ids"]] == full_in["entity_ids"]).all()

    full, pruned = LukeForMaskedLM.from_pretrained(converted), LukeForMaskedLM.from_pretrained(tmp_path / "en")
    assert pruned.config.entity_vocab_size == len(old_ids) < full.config.entity_vocab_size
    a, b = full(**full_in), pruned(**en_in)
    np.testing.assert_allclose(np.asarray(a.logits), np.asarray(b.logits), atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        np.asarray(a.entity_logits)[..., old_ids], np.asarray(b.entity_logits), atol=1e-5, rtol=0
    )


@pytest.mark.torch
def test_entity_list_and_errors(converted, tmp_path, capsys):
    names = tmp_path / "keep.txt"
    names.write_text("# two entities\nen:Tokyo\n\nja:東京\n", encoding="utf-8")
    assert main([str(converted), str(tmp_path / "two"), "--entities", str(names), "--quiet"]) == 0
    vocab = read_entity_vocab(tmp_path / "two" / "entity_vocab.json")
    assert set(vocab) == {"[PAD]", "[UNK]", "[MASK]", "[MASK2]", "en:Tokyo", "ja:東京"} and sorted(
        vocab.values()
    ) == list(range(6))
    names.write_text("en:Atlantis\n")
    assert main([str(converted), str(tmp_path / "x"), "--entities", str(names), "--quiet"]) == 1
    assert "1 entities are not in the vocabulary, e.g. ['en:Atlantis']" in capsys.readouterr().err
    assert main([str(converted), str(tmp_path / "x"), "--languages", "xx", "--quiet"]) == 1
    assert "no entity of language(s) ['xx']" in capsys.readouterr().err
    assert main([str(DATA), str(tmp_path / "x"), "--languages", "en", "--quiet"]) == 1
    assert "not a converted mluke-jax checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_shared_ids_stay_shared():
    vocab = {
        "[PAD]": 0,
        "[UNK]": 1,
        "[MASK]": 2,
        "en:Tokyo": 3,
        "ja:東京": 3,
        "de:Köln": 4,
        "en:Cologne": 4,
        "fr:Paris": 5,
        "[MASK2]": 6,
    }
    kept = choose_entities(vocab, languages=["en", "ja"])
    old_ids, new = renumber(kept)
    assert old_ids.tolist() == [0, 1, 2, 3, 4, 6]
    assert new == {"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "en:Tokyo": 3, "ja:東京": 3, "en:Cologne": 4, "[MASK2]": 5}
    with pytest.raises(ValueError, match="choose the entities"):
        choose_entities(vocab)


@pytest.mark.torch
def test_readme_tokenizing_example_runs(converted):
    """The README's "text with entities" example, on the test model: tokenizer output feeds the model."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("### mLUKE: text with entities", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(block.replace('"mluke-jax-dir"', repr(str(converted))), scope)
    texts, spans = scope["texts"], scope["spans"]
    for text, row in zip(texts, spans):
        assert [text[s:e] for s, e in row] in (["Tokyo", "Japan"], ["Marie Curie", "Warschau"])
    assert scope["out"].entity_last_hidden_state.shape[:2] == (2, 2)
    assert scope["batch"]["entity_ids"][0, 0] == scope["tok"].entity_vocab["en:Tokyo"]
