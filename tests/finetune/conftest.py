import shutil

import pytest

# small but able to learn the generated tasks in a few hundred steps
SIZES = dict(
    hidden_size=48,
    entity_emb_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=96,
    max_position_embeddings=80,
    type_vocab_size=1,
)


@pytest.fixture(scope="session")
def mluke_dir(tmp_path_factory):
    """A random mLUKE (entity-aware attention) sized for the test tokenizer, converted, with its tokenizer files."""
    pytest.importorskip("torch")
    from helpers import convert, save_luke_with_test_tokenizer

    root = tmp_path_factory.mktemp("finetune-mluke")
    return convert(save_luke_with_test_tokenizer(root / "hf", "LukeModel", **SIZES), root / "jax")


@pytest.fixture(scope="session")
def xlm_dir(tmp_path_factory):
    """A random XLM with three languages and a BPE learned from the generated corpus, converted."""
    pytest.importorskip("torch")
    import json

    from helpers import convert, hf_xlm, save_hf
    from mluke_jax.testing.toy_data import write_toy_xlm_tokenizer

    root = tmp_path_factory.mktemp("finetune-xlm")
    tokenizer_dir = write_toy_xlm_tokenizer(root / "tok", sentences=1500, merges=300)
    vocab = json.loads((tokenizer_dir / "vocab.json").read_text(encoding="utf-8"))
    lang2id = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))["lang2id"]
    model = hf_xlm(
        "XLMModel",
        vocab_size=len(vocab),
        emb_dim=48,
        n_layers=2,
        n_heads=4,
        n_langs=len(lang2id),
        lang2id=lang2id,
        max_position_embeddings=80,
    )
    src = save_hf(model, root / "hf")
    for path in tokenizer_dir.iterdir():
        shutil.copy(path, src / path.name)
    return convert(src, root / "jax")


@pytest.fixture(scope="session")
def head_dir(tmp_path_factory):
    """``head_dir(architecture, labels)``: a random mLUKE task head with those labels (converted,
    with the test tokenizer), made once per session for each architecture."""
    pytest.importorskip("torch")
    from helpers import convert, save_luke_with_test_tokenizer

    made = {}

    def make(architecture: str, labels: list[str]):
        if architecture not in made:
            root = tmp_path_factory.mktemp(architecture)
            id2label = dict(enumerate(labels))
            src = save_luke_with_test_tokenizer(
                root / "hf",
                architecture,
                num_labels=len(labels),
                id2label=id2label,
                label2id={v: k for k, v in id2label.items()},
                **SIZES,
            )
            made[architecture] = convert(src, root / "jax")
        return made[architecture]

    return make
