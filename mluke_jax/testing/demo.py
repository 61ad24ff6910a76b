"""``mluke-jax demo``: the whole path on one checkpoint — build (or take) a transformers mLUKE model,
convert it, tokenize multilingual text with entity spans, run it in PyTorch and in JAX, print the
parity table and the timings.

Without ``--model`` it builds a small randomly initialised mLUKE-lite-shaped checkpoint with a
small sentencepiece tokenizer learned on the spot (no download); with ``--model NAME_OR_DIR`` it
uses a real transformers checkpoint and its tokenizer. Needs the ``torch`` extra (the reference);
the converted model itself never does.
"""

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mluke_jax.timing import machine_description, median_seconds

# A small model of mluke-base-lite's shape: lite entity vocabulary (the 4 specials), entity
# embeddings smaller than the hidden size, plain attention with the entity-aware weights present.
DEMO_SIZES = dict(
    entity_emb_size=32, hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512
)
# Two sentences, one padded, with one- and multi-token mentions in three scripts.
DEMO_TEXTS = ["Tokyo is a famous city, and Marie Curie lived in Paris.", "Goethe lebte in Köln; Москва is far."]
DEMO_SPANS = [[(0, 5), (28, 39), (49, 54)], [(0, 6), (16, 20), (22, 28)]]
TOLERANCE = 1e-4
# Each framework is timed for at least this long (many calls of a few ms each).
TIMING_SECONDS = 1.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _require_reference():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise SystemExit(
            "the demo compares with PyTorch: pip install 'mluke-jax[torch]' (torch==2.13.0, transformers)"
        ) from None


def build_demo_checkpoint(directory: Path, seed: int = 0) -> Path:
    """Write a random transformers ``LukeForMaskedLM`` as released mLUKE files look (no tied
    decoders), with a small multilingual sentencepiece tokenizer and the -lite entity vocabulary."""
    import torch
    import transformers
    from safetensors.torch import save_file

    from mluke_jax.config import LukeConfig
    from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer
    from mluke_jax.tokenizers.mluke import MLukeTokenizer

    write_toy_mluke_tokenizer(directory, lite=True)
    vocab_size = len(MLukeTokenizer.from_pretrained(directory))
    # written with the entity-aware weights, switched off in config.json below (as -lite)
    config = LukeConfig.mluke_base_lite(**DEMO_SIZES, vocab_size=vocab_size, use_entity_aware_attention=True)
    torch.manual_seed(seed)
    model = transformers.LukeForMaskedLM(transformers.LukeConfig.from_dict(config.to_hf_dict())).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.architectures = ["LukeForMaskedLM"]
    model.config.use_entity_aware_attention = False
    model.config.save_pretrained(directory)
    drop = {"lm_head.decoder.weight", "lm_head.decoder.bias", "entity_predictions.decoder.weight"}
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k not in drop}
    save_file(state, directory / "model.safetensors", metadata={"format": "pt"})
    return directory


def tokenized_inputs(directory: Path) -> tuple[dict[str, np.ndarray], str] | None:
    """The demo sentences through the checkpoint's own MLukeTokenizer (None without tokenizer files)."""
    from mluke_jax.tokenizers.mluke import MLukeTokenizer

    try:
        tok = MLukeTokenizer.from_pretrained(directory)
    except (FileNotFoundError, ValueError):
        return None
    batch = tok(DEMO_TEXTS, entity_spans=DEMO_SPANS, padding=True, return_tensors="np")
    lines = []
    for row, (text, spans) in enumerate(zip(DEMO_TEXTS, DEMO_SPANS)):
        mentions = []
        for span, positions in zip(spans, batch["entity_position_ids"][row]):
            pieces = tok.convert_ids_to_tokens([int(batch["input_ids"][row, p]) for p in positions if p >= 0])
            mentions.append(f"{text[span[0] : span[1]]!r} -> tokens {[int(p) for p in positions if p >= 0]} {pieces}")
        lines.append(f"      {text!r}: {int(batch['attention_mask'][row].sum())} tokens; " + "; ".join(mentions))
    return dict(batch), "\n".join(lines)


def demo_inputs(vocab_size: int, pad: int, entity_vocab: dict[str, int], max_positions: int) -> dict[str, np.ndarray]:
    """Two sequences (the second right-padded), three entities with one- and multi-token mentions.

    Entity ids are looked up by name: ``[MASK]`` for the mentions, ``[PAD]`` for the padded slot.
    Word ids are random (a tokenizer is not part of this step).
    """
    rs = np.random.RandomState(0)
    length = min(32, max_positions - pad - 2)
    ids = rs.randint(max(pad, 3) + 1, vocab_size, (2, length))
    ids[:, 0], ids[0, -1] = 0, 2
    ids[1, 20:] = pad
    ids[1, 19] = 2
    mention = 30
    positions = -np.ones((2, 3, mention), np.int64)
    positions[:, 0, :3] = [1, 2, 3]  # a three-token mention
    positions[:, 1, :1] = [6]
    positions[0, 2, :2] = [10, 11]
    mask_id = entity_vocab.get("[MASK]", 0)
    pad_entity = entity_vocab.get("[PAD]", 0)
    entity_ids = np.array([[mask_id] * 3, [mask_id, mask_id, pad_entity]])
    return dict(
        input_ids=ids,
        attention_mask=(ids != pad).astype(np.int64),
        entity_ids=entity_ids,
        entity_position_ids=positions,
        entity_attention_mask=np.array([[1, 1, 1], [1, 1, 0]]),
    )


def _max_diff(ours, theirs) -> float:
    if isinstance(theirs, (tuple, list)):
        return max(_max_diff(a, b) for a, b in zip(ours, theirs))
    return float(np.max(np.abs(np.asarray(ours, np.float32) - theirs.detach().numpy())))


def run_demo(
    model: str | None = None,
    workdir: str | None = None,
    repeats: int = 5,
    keep: bool = False,
    compilation_cache: str | bool = True,
) -> int:
    """Build/convert/compare; returns 0 when every field is within tolerance.

    ``compilation_cache``: JAX's persistent compilation cache (:func:`mluke_jax.enable_compilation_cache`)
    in its default directory (True), in the given one, or off (False); a second demo run then
    reads the compiled forwards instead of compiling them.
    """
    _require_reference()
    import jax
    import torch
    import transformers

    import mluke_jax
    from mluke_jax.hf import convert_checkpoint, resolve_source
    from mluke_jax.paths import local_path

    cache_dir = None
    if compilation_cache:
        cache_dir = mluke_jax.enable_compilation_cache(None if compilation_cache is True else compilation_cache)

    root = local_path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="mluke-jax-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        if model is None:
            _say(f"[1/4] building a small random mLUKE checkpoint in {root / 'hf'} ...")
            src = build_demo_checkpoint(root / "hf")
        else:
            _say(f"[1/4] using {model} ...")
            src = resolve_source(model)
        _say("[2/4] converting with python -m convert ...")
        dst = root / "jax"
        report = convert_checkpoint(str(src), dst, overwrite=True)
        _say(
            f"      {report['num_parameters']:,} parameters in {report['seconds']:.1f} s, "
            f"peak memory {report['peak_memory_bytes'] / 2**30:.2f} GiB"
        )
        hf_config = json.loads((src / "config.json").read_text())
        architecture = report["architecture"]
        tokenized = tokenized_inputs(dst)
        if tokenized is not None:
            inputs, described = tokenized
            _say(
                f"      tokenized {len(DEMO_TEXTS)} sentences with {sum(map(len, DEMO_SPANS))} entity spans "
                f"(MLukeTokenizer):\n{described}"
            )
        else:
            _say("      no tokenizer files in the checkpoint: random word ids")
            entity_vocab = (
                json.loads((src / "entity_vocab.json").read_text()) if (src / "entity_vocab.json").exists() else {}
            )
            inputs = demo_inputs(
                hf_config["vocab_size"],
                hf_config.get("pad_token_id", 1),
                entity_vocab,
                hf_config["max_position_embeddings"],
            )

        rows, ok = [], True
        modes = [("entity-aware attention off", False), ("entity-aware attention on", True)]
        if not report["structure"].get("entity_aware_query_weights"):
            modes = [(f"entity-aware attention {'on' if hf_config.get('use_entity_aware_attention') else 'off'}", None)]
        _say("[3/4] running transformers (PyTorch eager) and mluke-jax (jit) ...")
        for label, eaa in modes:
            changes = {} if eaa is None else {"use_entity_aware_attention": eaa}
            ref = getattr(transformers, architecture).from_pretrained(src, **changes).eval()
            if architecture == "LukeForMaskedLM":
                # Released files lack the tied decoders; transformers 5 would leave them random.
                with torch.no_grad():
                    if not report["structure"]["untied_word_decoder"]:
                        ref.lm_head.decoder.weight = ref.luke.embeddings.word_embeddings.weight
                        ref.lm_head.decoder.bias = ref.lm_head.bias
                    if not report["structure"]["untied_entity_decoder"]:
                        ref.entity_predictions.decoder.weight = ref.luke.entity_embeddings.entity_embeddings.weight
            ours = mluke_jax.load_pretrained(dst, **changes)
            torch_inputs = {k: torch.as_tensor(v) for k, v in inputs.items()}
            with torch.no_grad():
                expected = ref(**torch_inputs, output_hidden_states=True)
                torch_seconds = median_seconds(
                    lambda ref=ref, torch_inputs=torch_inputs: ref(**torch_inputs),
                    repeats,
                    min_seconds=TIMING_SECONDS,
                    warmup=2,
                )
            compile_start = time.perf_counter()
            got = ours(**inputs, output_hidden_states=True)
            jax.block_until_ready(got)
            first_call = time.perf_counter() - compile_start
            ours(**inputs)  # compile the call without hidden states too
            jax_seconds = median_seconds(
                lambda ours=ours: jax.block_until_ready(ours(**inputs)), repeats, min_seconds=TIMING_SECONDS, warmup=2
            )
            for name, value in expected.items():
                if value is None or name == "loss":
                    continue
                diff = _max_diff(getattr(got, name), value)
                ok &= diff <= TOLERANCE
                rows.append((label, name, diff))
            rows.append((label, "timing", (torch_seconds, first_call, jax_seconds)))

        _say("[4/4] results")
        print(
            f"\nmluke-jax demo: {architecture} from {'a random checkpoint' if model is None else model}, "
            f"batch 2 x {inputs['input_ids'].shape[1]} words, {inputs['entity_ids'].shape[1]} entities; "
            f"{jax.devices()[0].platform.upper()}\n"
        )
        print(f"| mode | output | max abs diff vs transformers | within {TOLERANCE:g} |")
        print("|---|---|---|---|")
        for label, name, value in rows:
            if name != "timing":
                print(f"| {label} | {name} | {value:.2e} | {'yes' if value <= TOLERANCE else 'NO'} |")
        print("\n| mode | PyTorch eager | JAX first call (compile) | JAX jitted | JAX / PyTorch time |")
        print("|---|---|---|---|---|")
        for label, name, value in rows:
            if name == "timing":
                t, first, j = value
                print(f"| {label} | {t * 1e3:.1f} ms | {first:.2f} s | {j * 1e3:.1f} ms | {j / t:.2f}x |")
        print(
            f"\nTimes are medians of at least {repeats} calls filling {TIMING_SECONDS:g} s per framework, after 2 "
            "warm-up calls, "
            f"on {machine_description()}. JAX / PyTorch is JAX's time divided by PyTorch's: below 1 JAX is faster. "
            "On a model this small both are dominated by per-call overhead; benchmarks/forward.py times the real sizes."
        )
        if cache_dir is not None:
            print(
                f"JAX's first calls read or write the compilation cache in {cache_dir} (run the demo again: they only "
                "load); --no-compilation-cache turns it off."
            )
        print(
            f"\n{'PASS' if ok else 'FAIL'}: every output within {TOLERANCE:g}; total {time.perf_counter() - start:.1f} "
            "s"
        )
        if keep or workdir:
            print(f"checkpoints kept in {root}")
        return 0 if ok else 1
    finally:
        if not (keep or workdir):
            shutil.rmtree(root, ignore_errors=True)


def build_small_model(
    directory: str | Path, family: str = "luke", architecture: str | None = None, *, seed: int = 0, **config_changes
) -> Path:
    """A small randomly initialised mluke-jax checkpoint with a tokenizer learned on the spot, in
    ``directory`` (no torch, no download): what the notebooks use when no real checkpoint is given.

    ``family="luke"``: mLUKE-shaped (entity-aware attention on, an entity vocabulary of the generated
    corpus' entities); ``"xlm"``: XLM with the corpus' seven languages (``causal=True`` for a CLM).
    """
    import mluke_jax
    from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer, write_toy_xlm_tokenizer

    directory = Path(directory)
    with tempfile.TemporaryDirectory() as tmp:
        if family == "luke":
            tokenizer_dir = write_toy_mluke_tokenizer(Path(tmp) / "tok")
            tok = mluke_jax.MLukeTokenizer.from_pretrained(tokenizer_dir)
            sizes = dict(
                DEMO_SIZES,
                vocab_size=len(tok),
                entity_vocab_size=max(tok.entity_vocab.values()) + 1,
                max_position_embeddings=130,
            )
            config = mluke_jax.LukeConfig.mluke_base_lite(
                **{**sizes, "use_entity_aware_attention": True, **config_changes}
            )
            architecture = architecture or "LukeForMaskedLM"
        elif family == "xlm":
            tokenizer_dir = write_toy_xlm_tokenizer(Path(tmp) / "tok")
            vocab = json.loads((tokenizer_dir / "vocab.json").read_text(encoding="utf-8"))
            lang2id = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))["lang2id"]
            config = mluke_jax.XLMConfig(
                **{
                    "vocab_size": len(vocab),
                    "emb_dim": 128,
                    "n_layers": 2,
                    "n_heads": 4,
                    "n_langs": len(lang2id),
                    "lang2id": lang2id,
                    "max_position_embeddings": 128,
                    **config_changes,
                }
            )
            architecture = architecture or "XLMWithLMHeadModel"
        else:
            raise ValueError(f"family must be 'luke' or 'xlm', got {family!r}")
        getattr(mluke_jax, architecture).build(config, seed=seed).save_pretrained(directory)
        for path in tokenizer_dir.iterdir():
            shutil.copy2(path, directory / path.name)
    return directory
