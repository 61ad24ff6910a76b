"""The one full-size LUKE check: the real studio-ousia/mluke-base-lite dimensions.

vocab 250004, 4 entities of size 256, hidden 768, 12 layers, 12 heads, eps 1e-5, 514 positions,
one token type, entity-aware attention off with its weights in the file, and the masked-LM decoders
missing from the file (as released): converted, loaded and compared on every output field
(fp32, max abs diff <= 1e-4). About a minute and 5 GiB on two cores.
"""

import numpy as np
import pytest

import mluke_jax
from helpers import MLUKE_BASE_LITE_CONFIG, compare_outputs, convert, luke_inputs, save_hf, to_torch

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.torch


def test_mluke_base_lite_dimensions(tmp_path):
    torch.manual_seed(0)
    hf_config = {k: v for k, v in MLUKE_BASE_LITE_CONFIG.items() if k not in ("transformers_version", "model_type")}
    # Written with the entity-aware weights, read with the released config (EAA off).
    writer_config = transformers.LukeConfig(**{**hf_config, "use_entity_aware_attention": True})
    model = transformers.LukeForMaskedLM(writer_config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    drop = ("lm_head.decoder.weight", "lm_head.decoder.bias", "entity_predictions.decoder.weight")
    src = save_hf(
        model, tmp_path / "hf", fmt="safetensors", drop=drop, config_changes={"use_entity_aware_attention": False}
    )

    # The reference: the same weights with plain attention and the decoders tied (transformers 4.x).
    model.config.use_entity_aware_attention = False
    for layer in model.luke.encoder.layer:
        layer.attention.self.use_entity_aware_attention = False
    with torch.no_grad():
        model.lm_head.decoder.weight = model.luke.embeddings.word_embeddings.weight
        model.lm_head.decoder.bias = model.lm_head.bias
        model.entity_predictions.decoder.weight = model.luke.entity_embeddings.entity_embeddings.weight

    dst = convert(src, tmp_path / "jax")
    ours = mluke_jax.LukeForMaskedLM.from_pretrained(dst)
    assert ours.config.vocab_size == 250004 and ours.luke.encoder.layers.attention.w2e_query is not None
    assert ours.lm_head.decoder.kernel is None  # tied, as the released checkpoint intends

    config = dict(MLUKE_BASE_LITE_CONFIG)
    inputs = luke_inputs(config, batch=2, length=24, entities=3, mention=30)
    with torch.no_grad():
        expected = model(**to_torch(inputs), output_hidden_states=True, output_attentions=True)
    got = ours(**inputs, output_hidden_states=True, output_attentions=True)
    diffs = compare_outputs(got, expected, atol=1e-4)
    print("mluke-base-lite dims, max abs diff per field:", {k: f"{v:.2e}" for k, v in diffs.items()})
    assert np.asarray(got.logits).shape == (2, 24, 250004)


# studio-ousia/luke-large-finetuned-conll-2003's config.json (the English LUKE NER checkpoint).
LUKE_LARGE_CONLL_CONFIG = dict(
    vocab_size=50267,
    entity_vocab_size=500000,
    entity_emb_size=256,
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    hidden_act="gelu",
    max_position_embeddings=514,
    type_vocab_size=1,
    layer_norm_eps=1e-5,
    use_entity_aware_attention=True,
    bos_token_id=0,
    pad_token_id=1,
    eos_token_id=2,
    id2label={0: "NIL", 1: "MISC", 2: "PER", 3: "ORG", 4: "LOC"},
    label2id={"NIL": 0, "MISC": 1, "PER": 2, "ORG": 3, "LOC": 4},
)


def test_luke_large_conll_dimensions_and_the_model_card_example(tmp_path):
    """luke-large-finetuned-conll-2003's dimensions (vocab 50267, hidden 1024, 24 layers, 500k x 256
    entities, entity-aware attention, the span-classification head over 3 x 1024) on random weights:
    converted, loaded, and run as its model card runs it: LukeTokenizer over every span of words
    of a sentence, the logits compared with transformers' on the same inputs (fp32, <= 1e-4)."""
    from helpers import copy_luke_tokenizer

    torch.manual_seed(0)
    model = transformers.LukeForEntitySpanClassification(transformers.LukeConfig(**LUKE_LARGE_CONLL_CONFIG)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    src = save_hf(model, tmp_path / "hf", fmt="safetensors")
    copy_luke_tokenizer(src, task="entity_span_classification")
    dst = convert(src, tmp_path / "jax")

    ours = mluke_jax.LukeForEntitySpanClassification.from_pretrained(dst)
    tokenizer = mluke_jax.LukeTokenizer.from_pretrained(dst)
    assert ours.config.vocab_size == 50267 and ours.config.entity_vocab_size == 500000
    assert ours.config.id2label[2] == "PER" and tokenizer.task == "entity_span_classification"

    # The model card's example, as written there (character spans of every run of words).
    text = "Beyoncé lives in Los Angeles"
    word_start_positions = [0, 8, 14, 17, 21]
    word_end_positions = [7, 13, 16, 20, 28]
    entity_spans = [(s, e) for i, s in enumerate(word_start_positions) for e in word_end_positions[i:]]
    inputs = tokenizer(text, entity_spans=entity_spans, return_tensors="np")
    assert inputs["entity_ids"].shape == (1, 15)
    with torch.no_grad():
        expected = model(**to_torch(inputs))
    got = ours(**inputs)
    diffs = compare_outputs(got, expected, atol=1e-4)
    print("luke-large-conll dims, max abs diff per field:", diffs)
    predicted = np.asarray(got.logits).argmax(-1)[0]
    assert predicted.tolist() == expected.logits.argmax(-1)[0].tolist()
    labels = [(text[s:e], ours.config.id2label[int(c)]) for (s, e), c in zip(entity_spans, predicted) if c != 0]
    print("model card output:", labels)
