"""Reference builders for the tests: random transformers models, checkpoints on disk, LUKE inputs."""

import json
from pathlib import Path

import numpy as np

from mluke_jax.testing.toy_wiki import NAMESPACES, write_dump  # noqa: F401 (the tests' dumps)


def fake_cpu_devices(count: int) -> dict[str, str]:
    """Environment variables for ``count`` fake CPU devices, to set before jax is imported.

    XLA:CPU runs every device's share of a sharded program on one client thread pool, sized by the
    core count (or ``NPROC``). With 8 devices on 2 cores and many programs in flight (asynchronous
    dispatch), the pool's threads all wait at a collective while a device's share is still queued
    behind them: a deadlock, which XLA reports as "only 7 of them arrived" and aborts. Measured with
    a sharded matmul + all-gather dispatched 3000 times without blocking: it hangs with a pool of 2,
    8 or 12 threads and runs with 16 (two per device); we give four per device. A hang that remains
    aborts after 120 s instead of at the test timeout.

    These sharded programs are tiny and many: their tests are bound by compile time (80 % of the
    sharded-training test), which LLVM's -O0 halves (the numbers move by ~1e-7)."""
    return {
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={count} "
        "--xla_cpu_collective_call_terminate_timeout_seconds=120 --xla_backend_optimization_level=0",
        "NPROC": str(4 * count),
    }


# Tiny dimensions, all different, so that a swapped axis shows as a shape error.
TINY_LUKE = dict(
    vocab_size=37,
    entity_vocab_size=11,
    hidden_size=24,
    entity_emb_size=16,
    num_hidden_layers=2,
    num_attention_heads=3,
    intermediate_size=40,
    max_position_embeddings=40,
    type_vocab_size=2,
    layer_norm_eps=1e-5,
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    use_entity_aware_attention=True,
    pad_token_id=1,
)

# The real studio-ousia/mluke-base-lite config.json (hub commit 63ce17c), extra keys included.
MLUKE_BASE_LITE_CONFIG = {
    "architectures": ["LukeForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "bert_model_name": "xlm-roberta-base",
    "bos_token_id": 0,
    "cls_entity_prediction": False,
    "entity_emb_size": 256,
    "entity_vocab_size": 4,
    "eos_token_id": 2,
    "gradient_checkpointing": False,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 514,
    "model_type": "luke",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "output_past": True,
    "pad_token_id": 1,
    "position_embedding_type": "absolute",
    "transformers_version": "4.15.0",
    "type_vocab_size": 1,
    "use_cache": True,
    "use_entity_aware_attention": False,
    "vocab_size": 250004,
}


def hf_luke(architecture: str, seed: int = 0, noise: float = 0.05, **config):
    """A random transformers LUKE model in eval mode, every parameter perturbed.

    transformers initialises biases to 0 and LayerNorm scales to 1; the noise makes a bias or scale
    that is mapped to the wrong place show up in the outputs.
    """
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.LukeConfig(**{**TINY_LUKE, **config})
    model = getattr(transformers, architecture)(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * noise)
    return model


# The shape of the xlm-mlm-ende-1024 hub config: 2019 alias keys, training extras, string id2lang keys.
ENDE_HUB_CONFIG = {
    "architectures": ["XLMWithLMHeadModel"],
    "asm": False,
    "attention_dropout": 0.1,
    "bos_index": 0,
    "causal": False,
    "dropout": 0.1,
    "emb_dim": 1024,
    "embed_init_std": 0.02209708691207961,
    "end_n_top": 5,
    "eos_index": 1,
    "gelu_activation": True,
    "id2lang": {"0": "de", "1": "en"},
    "init_std": 0.02,
    "is_encoder": True,
    "lang2id": {"de": 0, "en": 1},
    "layer_norm_eps": 1e-12,
    "mask_index": 5,
    "max_position_embeddings": 512,
    "max_vocab": -1,
    "min_count": 0,
    "model_type": "xlm",
    "n_heads": 8,
    "n_langs": 2,
    "n_layers": 6,
    "n_words": 64699,
    "pad_index": 2,
    "same_enc_dec": True,
    "share_inout_emb": True,
    "sinusoidal_embeddings": False,
    "start_n_top": 5,
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "first",
    "summary_use_proj": True,
    "unk_index": 3,
    "use_lang_emb": True,
}


# Tiny XLM: three languages, odd sizes; dropouts on so that eval mode is exercised.
TINY_XLM = dict(
    vocab_size=37,
    emb_dim=24,
    n_layers=2,
    n_heads=3,
    n_langs=3,
    lang2id={"de": 0, "en": 1, "fr": 2},
    max_position_embeddings=40,
    dropout=0.1,
    attention_dropout=0.1,
    pad_token_id=2,
    layer_norm_eps=1e-12,
    start_n_top=3,
    end_n_top=2,
)


MLUKE_TOKENIZER_DATA = Path(__file__).resolve().parent / "data" / "mluke_tokenizer"


def save_luke_with_test_tokenizer(directory: Path, architecture: str, **config) -> Path:
    """A random transformers LUKE sized for the test tokenizer (``tests/data/mluke_tokenizer``:
    vocabulary and entity vocabulary), saved to ``directory`` with the tokenizer files."""
    import shutil

    from mluke_jax import MLukeTokenizer

    tok = MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    sizes = dict(vocab_size=len(tok), entity_vocab_size=max(tok.entity_vocab.values()) + 1)
    directory = save_hf(hf_luke(architecture, **{**sizes, **config}), directory)
    for name in ("sentencepiece.bpe.model", "entity_vocab.json", "added_tokens.json", "tokenizer_config.json"):
        shutil.copy(MLUKE_TOKENIZER_DATA / name, directory / name)
    return directory


LUKE_TOKENIZER_DATA = Path(__file__).resolve().parent / "data" / "luke_tokenizer"
LUKE_TOKENIZER_FILES = ("vocab.json", "merges.txt", "entity_vocab.json", "added_tokens.json", "tokenizer_config.json")


def copy_luke_tokenizer(directory: Path, **config_changes) -> Path:
    """The English LUKE test tokenizer's files (``tests/data/luke_tokenizer``) in ``directory``, its
    ``tokenizer_config.json`` changed by ``config_changes`` (e.g. ``task=...``)."""
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    for name in LUKE_TOKENIZER_FILES:
        shutil.copy(LUKE_TOKENIZER_DATA / name, directory / name)
    if config_changes:
        config = json.loads((directory / "tokenizer_config.json").read_text())
        (directory / "tokenizer_config.json").write_text(json.dumps({**config, **config_changes}, indent=2))
    return directory


def hf_xlm(architecture: str, seed: int = 0, noise: float = 0.05, **config):
    """A random transformers XLM model in eval mode, every parameter perturbed (see ``hf_luke``)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    values = {**TINY_XLM, **config}
    if "lang2id" in values and values["lang2id"] is not None:
        values["lang2id"] = {k: v for k, v in values["lang2id"].items() if v < values["n_langs"]}
        values["id2lang"] = {v: k for k, v in values["lang2id"].items()}
    model = getattr(transformers, architecture)(transformers.XLMConfig(**values)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * noise)
    return model


def xlm_inputs(config: dict, batch: int = 3, length: int = 9, seed: int = 0, right_padding_only: bool = False) -> dict:
    """Inputs with right (and, unless ``right_padding_only``, left) padding and mixed languages."""
    rs = np.random.RandomState(seed)
    pad = config["pad_token_id"]
    ids = rs.randint(4, config["vocab_size"], (batch, length))
    ids[:, 0] = 0
    mask = np.ones((batch, length), np.int64)
    if batch > 1:
        ids[1, length - 3 :] = pad
        mask[1, length - 3 :] = 0
    if batch > 2 and not right_padding_only:
        ids[2, :2] = pad
        mask[2, :2] = 0
    n_langs = config.get("n_langs", 1)
    langs = np.zeros((batch, length), np.int64)
    langs[:, length // 2 :] = n_langs - 1  # two languages in one row (translation-LM style)
    if batch > 1:
        langs[1] = min(1, n_langs - 1)
    return dict(input_ids=ids, attention_mask=mask, langs=langs)


def save_original_xlm(
    model, path: Path, *, objective: str = "mlm", module_prefix: bool = True, legacy: bool = False
) -> Path:
    """Write an ``XLMWithLMHeadModel`` as facebookresearch/XLM saved its models (the inverse mapping).

    ``{"model": state dict without "transformer." (``module.`` added by DataParallel), "params":
    training parameters with numpy arrays, numpy scalars and a tensor, "dico_*": the vocabulary}``.
    ``objective`` sets ``clm_steps`` / ``mlm_steps``; ``legacy`` uses torch's pre-1.6 (non-zip) format.
    """
    import torch

    config = model.config
    state = {}
    for key, tensor in model.state_dict().items():
        if key.endswith("position_ids"):
            continue
        name = key[len("transformer.") :] if key.startswith("transformer.") else key
        state[("module." if module_prefix else "") + name] = tensor.detach().clone()
    state[("module." if module_prefix else "") + "pred_layer.proj.weight"] = (
        model.transformer.embeddings.weight.detach().clone()
    )
    langs = sorted(config.lang2id) if getattr(config, "lang2id", None) else ["en"]
    steps = [(lang, None) for lang in langs]
    params = {
        "emb_dim": config.emb_dim,
        "n_layers": config.n_layers,
        "n_heads": config.n_heads,
        "dropout": config.dropout,
        "attention_dropout": config.attention_dropout,
        "gelu_activation": config.gelu_activation,
        "sinusoidal_embeddings": config.sinusoidal_embeddings,
        "use_lang_emb": config.use_lang_emb,
        "share_inout_emb": True,
        "asm": False,
        "encoder_only": True,
        "n_langs": config.n_langs,
        "langs": langs,
        "lang2id": {lang: i for i, lang in enumerate(langs)},
        "id2lang": dict(enumerate(langs)),
        "n_words": config.vocab_size,
        "bos_index": 0,
        "eos_index": 1,
        "pad_index": config.pad_token_id,
        "unk_index": 3,
        "mask_index": 5,
        "clm_steps": steps if objective == "clm" else [],
        "mlm_steps": steps if objective == "mlm" else [],
        "pred_probs": torch.FloatTensor([0.8, 0.1, 0.1]),
        "mask_scores": np.ones(config.vocab_size),
        "sample_alpha": np.float64(0.0),
        "word_keep": np.float32(0.1),
        "command": "python train.py --exp_name tiny",
    }
    specials = ["<s>", "</s>", "<pad>", "<unk>"] + [f"<special{i}>" for i in range(10)]
    words = specials + [f"w{i}@@" if i % 2 else f"w{i}" for i in range(config.vocab_size - len(specials))]
    data = {
        "model": state,
        "params": params,
        "dico_id2word": dict(enumerate(words)),
        "dico_word2id": {w: i for i, w in enumerate(words)},
        "dico_counts": {w: 1 for w in words},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path, _use_new_zipfile_serialization=not legacy)
    return path


def save_hf(
    model, directory: Path, fmt: str = "save_pretrained", drop: tuple[str, ...] = (), config_changes: dict | None = None
) -> Path:
    """Write ``model`` to ``directory``.

    ``fmt``: ``save_pretrained`` (transformers' own writer: safetensors without the tied duplicates),
    ``safetensors`` (the whole state dict), ``bin`` (legacy ``torch.save``, as transformers 4 wrote),
    ``sharded-safetensors`` / ``sharded-bin`` (three shards and an index). ``drop`` removes keys
    from the file (as the released mLUKE checkpoints lack their tied decoders); ``config_changes``
    edits config.json afterwards.
    """
    import torch
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(directory)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if k not in drop}
    if fmt == "save_pretrained":
        assert not drop, "save_pretrained writes what transformers writes; use fmt='safetensors' to drop keys"
        model.save_pretrained(directory)
    elif fmt == "safetensors":
        save_file(state, directory / "model.safetensors", metadata={"format": "pt"})
    elif fmt == "bin":
        torch.save(state, directory / "pytorch_model.bin")
    elif fmt in ("sharded-safetensors", "sharded-bin"):
        keys = sorted(state)
        shards = [keys[i::3] for i in range(3)]
        ext = "safetensors" if fmt == "sharded-safetensors" else "bin"
        base = "model" if ext == "safetensors" else "pytorch_model"
        weight_map = {}
        for n, shard in enumerate(shards):
            name = f"{base}-{n + 1:05d}-of-{len(shards):05d}.{ext}"
            part = {k: state[k] for k in shard}
            if ext == "safetensors":
                save_file(part, directory / name, metadata={"format": "pt"})
            else:
                torch.save(part, directory / name)
            weight_map.update({k: name for k in shard})
        index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
        (directory / f"{base}.{ext}.index.json").write_text(json.dumps(index))
    else:
        raise ValueError(fmt)
    if config_changes:
        path = directory / "config.json"
        data = json.loads(path.read_text())
        data.update(config_changes)
        path.write_text(json.dumps(data))
    return directory


def convert(src: Path, dst: Path, *extra: str) -> Path:
    """Run the ``python -m convert`` entry point in-process; fail the test on a non-zero exit."""
    from convert.__main__ import main

    code = main([str(src), str(dst), "--quiet", *extra])
    assert code == 0, f"python -m convert {src} {dst} exited with {code}"
    return dst


def luke_inputs(
    config: dict, batch: int = 3, length: int = 9, entities: int = 3, mention: int = 4, seed: int = 0
) -> dict:
    """Inputs with right and left padding, multi-token mentions, a padded entity and token types."""
    rs = np.random.RandomState(seed)
    pad = config["pad_token_id"]
    ids = rs.randint(3, config["vocab_size"], (batch, length))
    ids[:, 0] = 0
    ids[:, -1] = 2
    mask = np.ones((batch, length), np.int64)
    if batch > 1:  # right padding
        ids[1, length - 3 :] = pad
        ids[1, length - 4] = 2
        mask[1, length - 3 :] = 0
    if batch > 2:  # left padding
        ids[2, :2] = pad
        ids[2, 2] = 0
        mask[2, :2] = 0
    entity_ids = rs.randint(0, config["entity_vocab_size"], (batch, entities))
    positions = -np.ones((batch, entities, mention), np.int64)
    entity_mask = np.ones((batch, entities), np.int64)
    for b in range(batch):
        first = 3 if b == 2 else 1
        spans = [(first, first + 3), (first + 3, first + 4), (first + 1, first + 3)]
        for e in range(entities):
            start, end = spans[e % len(spans)]
            positions[b, e, : end - start] = np.arange(start, end)
    if batch > 1 and entities > 2:  # a padded entity
        positions[1, -1] = -1
        entity_mask[1, -1] = 0
        entity_ids[1, -1] = 0
    out = dict(
        input_ids=ids,
        attention_mask=mask,
        entity_ids=entity_ids,
        entity_position_ids=positions,
        entity_attention_mask=entity_mask,
    )
    if config.get("type_vocab_size", 2) > 1:
        types = np.zeros((batch, length), np.int64)
        types[:, length // 2 :] = 1
        out["token_type_ids"] = types
        entity_types = np.zeros((batch, entities), np.int64)
        entity_types[:, 1::2] = 1
        out["entity_token_type_ids"] = entity_types
    return out


def to_torch(arrays: dict) -> dict:
    import torch

    return {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}


def max_abs_diff(ours, theirs) -> float:
    """Largest absolute difference between an array (or tuple of arrays) and its torch reference."""
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs), f"{len(ours)} vs {len(theirs)} entries"
        return max((max_abs_diff(a, b) for a, b in zip(ours, theirs)), default=0.0)
    theirs = theirs.detach().numpy()
    ours = np.asarray(ours, dtype=np.float32)
    assert ours.shape == theirs.shape, f"shape {ours.shape} vs reference {theirs.shape}"
    return float(np.max(np.abs(ours - theirs))) if ours.size else 0.0


def compare_outputs(ours, theirs, atol: float = 1e-4) -> dict[str, float]:
    """Every field transformers returned (not None) must match ours within ``atol``; returns the diffs."""
    diffs = {}
    for name, ref in theirs.items():
        if ref is None or (isinstance(ref, tuple) and all(r is None for r in ref)):
            assert getattr(ours, name) is None, f"{name}: reference has none, we returned one"
            continue
        mine = getattr(ours, name)
        assert mine is not None, f"{name}: missing from our output"
        diffs[name] = max_abs_diff(mine, ref)
    bad = {k: d for k, d in diffs.items() if not d <= atol}
    assert not bad, f"fields off by more than {atol}: {bad} (all: {diffs})"
    return diffs


def luke_task_labels(architecture: str, inputs: dict, config: dict, rs: np.random.RandomState) -> dict:
    batch, length = (
        inputs["input_ids"].shape[-2:] if architecture != "LukeForMultipleChoice" else inputs["input_ids"].shape[::2]
    )
    entities = inputs["entity_ids"].shape[-1]
    num_labels = config.get("num_labels", 2)
    if architecture == "LukeForMaskedLM":
        labels = np.full((batch, length), -100)
        labels[:, 1:4] = rs.randint(0, config["vocab_size"], (batch, 3))
        entity_labels = np.full((batch, entities), -100)
        entity_labels[:, 0] = rs.randint(0, config["entity_vocab_size"], batch)
        return dict(labels=labels, entity_labels=entity_labels)
    if architecture in (
        "LukeForEntityClassification",
        "LukeForEntityPairClassification",
        "LukeForSequenceClassification",
    ):
        return dict(labels=rs.randint(0, num_labels, batch))
    if architecture == "LukeForEntitySpanClassification":
        return dict(labels=rs.randint(0, num_labels, (batch, entities)))
    if architecture == "LukeForTokenClassification":
        labels = rs.randint(0, num_labels, (batch, length))
        labels[:, 0] = -100
        return dict(labels=labels)
    if architecture == "LukeForQuestionAnswering":
        # the last start position is past the sequence: clamped to L and ignored, as in transformers
        return dict(start_positions=np.array([1, 2, length + 5][:batch]), end_positions=np.array([3, 2, 4][:batch]))
    if architecture == "LukeForMultipleChoice":
        return dict(labels=rs.randint(0, inputs["input_ids"].shape[1], batch))
    return {}


def luke_task_inputs(architecture: str, config: dict) -> dict:
    inputs = luke_inputs(config)
    if architecture == "LukeForEntitySpanClassification":
        starts = np.maximum(inputs["entity_position_ids"][..., 0], 0)
        ends = np.maximum(inputs["entity_position_ids"].max(-1), 0)  # inclusive
        inputs.update(entity_start_positions=starts, entity_end_positions=ends)
    if architecture == "LukeForMultipleChoice":
        second = luke_inputs(config, seed=1)
        inputs = {k: np.stack([v, second[k]], axis=1) for k, v in inputs.items()}
    return inputs


def xlm_task_labels(architecture: str, inputs: dict, config: dict) -> dict:
    rs = np.random.RandomState(1)
    batch, length = inputs["input_ids"].shape[:2]
    if architecture == "XLMWithLMHeadModel":
        labels = rs.randint(0, config["vocab_size"], (batch, length))
        labels[0, :3] = -100
        return dict(labels=labels)
    if architecture == "XLMForSequenceClassification":
        return dict(labels=np.array([0, 1, 1][:batch]))
    if architecture == "XLMForTokenClassification":
        labels = rs.randint(0, 2, (batch, length))
        labels[1, -3:] = -100
        return dict(labels=labels)
    if architecture == "XLMForQuestionAnsweringSimple":
        return dict(start_positions=np.array([1, 2, 20][:batch]), end_positions=np.array([3, 4, 5][:batch]))
    if architecture == "XLMForQuestionAnswering":
        return dict(
            start_positions=np.array([1, 2, 4][:batch]),
            end_positions=np.array([3, 4, 5][:batch]),
            cls_index=np.array([0, 0, 2][:batch]),
            is_impossible=np.array([0.0, 1.0, 0.0][:batch], np.float32),
        )
    if architecture == "XLMForMultipleChoice":
        return dict(labels=np.array([1, 0][:batch]))
    return {}


def xlm_task_inputs(architecture: str, config: dict) -> dict:
    if architecture == "XLMForMultipleChoice":
        single = xlm_inputs(config, batch=4, length=7)
        return {k: v.reshape(2, 2, 7) for k, v in single.items()}
    inputs = xlm_inputs(config)
    if architecture == "XLMForQuestionAnswering":
        # Padded positions have equal (zeroed) states, so equal start probabilities; torch.topk and
        # lax.top_k order ties differently. p_mask excludes them, as a real QA pipeline does.
        inputs["p_mask"] = (1 - inputs["attention_mask"]).astype(np.float32)
    return inputs


# --------------------------------------------------------------------------- Wikipedia dumps
EN_PAGES = [
    # (title, namespace, redirect target, wikitext)
    (
        "Tokyo",
        0,
        None,
        "{{Infobox city|name=Tokyo|population=14,000,000}}\n"
        "'''Tokyo''' is the [[capital city|capital]] of [[Japan]].<ref>{{cite web|url=x}}</ref> "
        "It is near [[Mount_Fuji#Geography|Mount  Fuji]].\n\n"
        "[[File:Tokyo.jpg|thumb|The [[skyline]] of Tokyo]]\n"
        "== History ==\n"
        "Formerly [[Edo]], it became the capital in 1868 (see [[Meiji Restoration]]).\n"
        '{| class="wikitable"\n| [[Osaka]] || 2 \n|}\n'
        "[[Category:Capitals in Asia]]\n[[de:Tokio]]",
    ),
    ("Japan", 0, None, "'''Japan''' is an island country. Its capital is [[Tokyo]].<!-- comment -->"),
    ("Edo", 0, "Tokyo", "#REDIRECT [[Tokyo]]"),
    ("Old Edo", 0, "Edo", "#REDIRECT [[Edo]]"),
    ("Talk:Tokyo", 1, None, "Discussion of [[Tokyo]]."),
    ("Mount Fuji", 0, None, "'''Mount Fuji''' is in [[japan|Japan]]; see also [[:Category:Mountains|mountains]]."),
]
DE_PAGES = [
    (
        "Tokio",
        0,
        None,
        "'''Tokio''' ist die Hauptstadt von [[Japan]].[[Datei:Tokio.jpg|mini|Blick]] "
        "Siehe [[Kategorie:Hauptstadt]]{{Vorlage|x}} [[Vorlage:Navigationsleiste|Leiste]] und [[Edo|die alte Stadt]].",
    ),
    ("Edo", 0, "Tokio", "#WEITERLEITUNG [[Tokio]]"),
    (
        "Japan",
        0,
        None,
        "'''Japan''' ist ein Inselstaat in Ostasien. Seine Hauptstadt ist [[Tokio]]. "
        "Der höchste Berg ist der [[Fuji (Vulkan)|Fuji]].",
    ),
    ("Fuji (Vulkan)", 0, None, "Der '''Fuji''' ist ein Vulkan in [[Japan]]."),
]


JA_PAGES = [
    ("東京都", 0, None, "'''東京都'''は[[日本]]の首都である。人口は約1400万人で、日本で最も多い。"),
    ("日本", 0, None, "'''日本'''は東アジアの島国であり、首都は[[東京都]]。日本語が話される。[[富士山]]が最も高い。"),
    ("富士山", 0, None, "'''富士山'''は[[日本]]で最も高い山である。[[東京都]]からも見える。"),
]


def write_mention_db(path: Path, rows: list[tuple], *, max_mention_length: int = 20, **header) -> Path:
    """A mention database file as ``corpus mention-db`` writes it. ``rows``: ``(language, surface
    text, articles containing it, [(title, links), ...])``; keys normalised as the builder does."""
    from mluke_jax.linking.mention_db import FORMAT, FORMAT_VERSION, header_line, open_text
    from mluke_jax.linking.surface import surface_key

    languages = sorted({row[0] for row in rows})
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "languages": languages,
        "max_mention_length": max_mention_length,
        "mentions": {lang: sum(row[0] == lang for row in rows) for lang in languages},
        **header,
    }
    with open_text(path, "wt") as f:
        f.write(header_line(header))
        for language, text, docs, titles in rows:
            links = sum(count for _, count in titles)
            fields = [language, surface_key(text), str(docs), str(links)]
            fields += [value for title, count in titles for value in (title, str(count))]
            f.write("\t".join(fields) + "\n")
    return path


def sigterm_paused_processes(processes) -> float:
    """Processes started with a script that prints ``paused`` (process 0) and then waits for a line
    on its stdin: send SIGTERM to the first once it has paused, let it go on, and check that every
    process stops as preempted (exit 75, a checkpoint saved). Returns the seconds from the signal
    to the last exit."""
    import signal
    import time

    for line in processes[0].stdout:  # gloo prints its connections there too
        if line == "paused\n":
            break
    else:
        raise AssertionError(processes[0].communicate(timeout=60)[1][-3000:])
    processes[0].send_signal(signal.SIGTERM)
    sent = time.monotonic()
    processes[0].stdin.write("\n")
    processes[0].stdin.flush()
    for i, process in enumerate(processes):
        _, err = process.communicate(timeout=300)
        assert process.returncode == 75, (i, err[-3000:])
        assert "stopped by SIGTERM: checkpoint saved at step" in err, err[-3000:]
    return time.monotonic() - sent
