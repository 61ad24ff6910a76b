"""fill_mask gives transformers' ``pipeline("fill-mask")`` answers (the same top-k tokens, scores to
1e-5, filled texts) for XLM and mLUKE, in two languages each, and the predict command writes them."""

import json
import shutil

import numpy as np
import pytest
import torch
import transformers

from helpers import MLUKE_TOKENIZER_DATA, convert, hf_luke, hf_xlm, save_hf
from mluke_jax import LukeForMaskedLM, MLukeTokenizer, XLMTokenizer, XLMWithLMHeadModel
from mluke_jax.mask_filling import fill_mask

pytestmark = pytest.mark.torch

SCORE_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def xlm(tmp_path_factory):
    """A random XLMWithLMHeadModel with three languages and the toy BPE: transformers' and ours."""
    from mluke_jax.testing.toy_data import write_toy_xlm_tokenizer

    root = tmp_path_factory.mktemp("fill-mask-xlm")
    tokenizer_dir = write_toy_xlm_tokenizer(root / "tok", sentences=800, merges=200)
    vocab = json.loads((tokenizer_dir / "vocab.json").read_text(encoding="utf-8"))
    lang2id = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))["lang2id"]
    model = hf_xlm("XLMWithLMHeadModel", vocab_size=len(vocab), n_langs=len(lang2id), lang2id=lang2id,
                   noise=0.5)  # fmt: skip
    src = save_hf(model, root / "hf")
    for path in tokenizer_dir.iterdir():
        shutil.copy(path, src / path.name)
    ours = convert(src, root / "jax")
    hf_tokenizer = transformers.XLMTokenizer(str(src / "vocab.json"), str(src / "merges.txt"))
    return model, hf_tokenizer, XLMWithLMHeadModel.from_pretrained(ours), XLMTokenizer.from_pretrained(ours), ours


@pytest.fixture(scope="module")
def mluke(tmp_path_factory):
    """A random LukeForMaskedLM on the mLUKE test vocabulary; transformers' pipeline reads its words
    with XLMRobertaTokenizer (the same sentencepiece model and ids on plain text)."""
    root = tmp_path_factory.mktemp("fill-mask-mluke")
    tok = MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    sizes = dict(vocab_size=len(tok), entity_vocab_size=max(tok.entity_vocab.values()) + 1)
    model = hf_luke("LukeForMaskedLM", noise=0.5, **sizes)
    src = save_hf(model, root / "hf")
    for name in ("sentencepiece.bpe.model", "entity_vocab.json", "added_tokens.json", "tokenizer_config.json"):
        shutil.copy(MLUKE_TOKENIZER_DATA / name, src / name)
    ours = convert(src, root / "jax")
    words = root / "xlm-r"  # the sentencepiece model alone: transformers builds XLM-R's tokenizer from it
    words.mkdir()
    shutil.copy(src / "sentencepiece.bpe.model", words / "sentencepiece.bpe.model")
    hf_tokenizer = transformers.XLMRobertaTokenizer.from_pretrained(words)
    return model, hf_tokenizer, LukeForMaskedLM.from_pretrained(ours), MLukeTokenizer.from_pretrained(ours), ours


def assert_same(ours: list[dict], theirs: list[dict], compare_text: bool = True) -> None:
    assert [o["token"] for o in ours] == [t["token"] for t in theirs]
    np.testing.assert_allclose([o["score"] for o in ours], [t["score"] for t in theirs], atol=SCORE_TOLERANCE)
    if compare_text:
        assert [o["token_str"] for o in ours] == [t["token_str"] for t in theirs]
        assert [o["sequence"] for o in ours] == [t["sequence"] for t in theirs]


def test_xlm_without_a_language_is_the_pipeline(xlm):
    hf_model, hf_tokenizer, model, tokenizer, _ = xlm
    pipe = transformers.pipeline("fill-mask", model=hf_model, tokenizer=hf_tokenizer, device="cpu")
    texts = ["the city <special1> is famous .", "Tokyo and <special1> river was old and new ."]
    ours = fill_mask(model, tokenizer, texts, top_k=5)
    for text, found in zip(texts, ours):
        (only_mask,) = found
        assert_same(only_mask, pipe(text, top_k=5))


@pytest.mark.parametrize("language", ["en", "de"])
def test_xlm_with_each_texts_language(xlm, language):
    """The pipeline cannot pass ``langs``: its post-processing on transformers' logits with them."""
    hf_model, hf_tokenizer, model, tokenizer, _ = xlm
    pipe = transformers.pipeline("fill-mask", model=hf_model, tokenizer=hf_tokenizer, device="cpu")
    texts = {"en": "the <special1> of the river was famous .", "de": "die Stadt <special1> ist schön und groß ."}
    (found,) = fill_mask(model, tokenizer, [texts[language]], top_k=4, lang=language)
    encoded = tokenizer(texts[language], lang=language, return_tensors="np")
    with torch.no_grad():
        logits = hf_model(input_ids=torch.tensor(encoded["input_ids"]), langs=torch.tensor(encoded["langs"])).logits
    theirs = pipe.postprocess({"input_ids": torch.tensor(encoded["input_ids"]), "logits": logits}, top_k=4)
    assert_same(found[0], theirs)
    # the language matters: without it the scores differ
    (without,) = fill_mask(model, tokenizer, [texts[language]], top_k=4)
    assert not np.allclose([o["score"] for o in found[0]], [o["score"] for o in without[0]])


@pytest.mark.parametrize("text", ["Tokyo is the <mask> of Japan.", "Marie Curie lebte in <mask> und Paris."])
def test_mluke_is_the_pipeline(mluke, text):
    hf_model, hf_tokenizer, model, tokenizer, _ = mluke
    assert hf_tokenizer(text)["input_ids"] == list(tokenizer(text)["input_ids"])
    pipe = transformers.pipeline("fill-mask", model=hf_model, tokenizer=hf_tokenizer, device="cpu")
    ((found,),) = fill_mask(model, tokenizer, [text], top_k=5)
    assert_same(found, pipe(text, top_k=5))


def test_several_masks_and_batches_of_mixed_lengths(mluke):
    hf_model, hf_tokenizer, model, tokenizer, _ = mluke
    pipe = transformers.pipeline("fill-mask", model=hf_model, tokenizer=hf_tokenizer, device="cpu")
    texts = ["<mask> is in <mask>.", " ".join(["Tokyo is a city."] * 4) + " It is <mask>.", "A <mask> b."]
    ours = fill_mask(model, tokenizer, texts, top_k=3, batch_size=2)
    for text, found in zip(texts, ours):
        theirs = pipe(text, top_k=3)
        theirs = [theirs] if isinstance(theirs[0], dict) else theirs
        assert len(found) == len(theirs)
        for mine, reference in zip(found, theirs):
            # several masks: the pipeline's sequence keeps the specials, whose spacing its v5
            # tokenizer writes apart from 4.x; the tokens and scores are what the model says
            assert_same(mine, reference, compare_text=len(found) == 1)


def test_texts_without_a_mask_or_with_a_language_luke_has_not_are_errors(mluke):
    _, _, model, tokenizer, _ = mluke
    with pytest.raises(ValueError, match=r"text 1: 'no blank here' has no mask token <mask>"):
        fill_mask(model, tokenizer, ["a <mask>.", "no blank here"])
    with pytest.raises(ValueError, match="lang is XLM's language embedding"):
        fill_mask(model, tokenizer, ["a <mask>."], lang="de")
    with pytest.raises(ValueError, match=r"text 0: \d+ tokens, longer than the model's 38 positions"):
        fill_mask(model, tokenizer, ["Tokyo is a city. " * 12 + "<mask>"])


def test_predict_fill_mask_writes_a_record_per_line(xlm, tmp_path):
    from mluke_jax.finetune.__main__ import main

    _, _, model, tokenizer, model_dir = xlm
    source = tmp_path / "texts.txt"
    source.write_text('the city <special1> is famous .\n{"text": "die <special1> ist groß .", "language": "de"}\n'
                      "no mask here\n", encoding="utf-8")  # fmt: skip
    output = tmp_path / "filled.jsonl"
    code = main(["predict", "fill-mask", "--model", str(model_dir), "--input", str(source), "--output", str(output),
                 "--language", "en", "--top-k", "3", "--quiet"])  # fmt: skip
    assert code == 1  # the third line has no mask: reported, the others written
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["language"]) for r in records] == [(1, "en"), (2, "de")]
    expected = fill_mask(model, tokenizer, ["the city <special1> is famous .", "die <special1> ist groß ."],
                         top_k=3, lang=["en", "de"])  # fmt: skip
    for record, masks in zip(records, expected):
        assert [[f["token"] for f in m] for m in record["masks"]] == [[f["token"] for f in m] for m in masks]
