"""Accelerator benchmark: full-size bf16 forward and training step, tokens/s and model FLOPs utilisation.

    python benchmarks/gpu.py [--model luke|xlm|all --batch 32 --words 128 --entities 16 --steps 10 --peak-tflops X]

Run on a machine with a CUDA (or TPU) jax: ``pip install -e . "jax[cuda12]"``. No PyTorch, no
transformers and no download needed: the models are built at random with the released
dimensions. It refuses to run on a CPU unless ``--allow-cpu`` (a smoke test of the script, e.g.
``--allow-cpu --layers 1 --batch 2 --steps 2``).

Models: mLUKE at the mluke-base dimensions (250,004 words, 1,200,001 entities of 256 dimensions,
12 layers of 768, entity-aware attention on) and XLM at xlm-mlm-ende-1024 (64,699 words, 6
layers of 1024). Forward: ``LukeModel`` / ``XLMModel`` with bf16 weights (inference). Training
step: ``LukeForMaskedLM`` (masked words and entities, 15% of each) / ``XLMWithLMHeadModel`` (MLM,
15%), bf16 compute with float32 weights and AdamW state, dropout on, through ``Trainer``.

Model FLOPs (the MFU numerator counts the matmuls the model needs, per sequence, forward):

    layers x [ T x 2 x (Q x D^2 + 3 x D^2 + 2 x D x F)   projections (Q query projections per
                                                          token: 1, or 2 with entity-aware attention)
             + 2 x 2 x T^2 x D ]                          attention scores and context
    + E x 2 x De x D                                      entity embedding projection (mLUKE)
    + heads: L x 2 x (D^2 + D x V) for a word LM head, E x 2 x (D x De + De x Ve) for the entity head

with T = L words + E entities, D hidden, F feed-forward, V / Ve vocabularies. A training step is 3x
its forward (backward = 2x forward), rematerialisation not counted. MFU = model FLOPs per second /
the device's dense bf16 peak (a table of common devices below, or ``--peak-tflops``).
"""

import sys

# Run as a script, this directory comes first on sys.path, and benchmarks/tokenize.py would then
# shadow the standard library's tokenize (imported by numpy and inspect): move it to the end.
sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# Dense bf16 peak TFLOP/s (no sparsity), by a substring of jax's device_kind.
PEAK_BF16_TFLOPS = {
    "B200": 2250.0,
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "GH200": 989.0,
    "A100": 312.0,
    "A10G": 70.0,
    "A10": 125.0,
    "L40S": 362.0,
    "L4": 121.0,
    "RTX 4090": 165.0,
    "TPU v6 lite": 918.0,
    "TPU v5p": 459.0,
    "TPU v5 lite": 197.0,
    "TPU v5e": 197.0,
    "TPU v4": 275.0,
}


def peak_tflops(device_kind: str, override: float | None) -> float | None:
    if override:
        return override
    for name, peak in PEAK_BF16_TFLOPS.items():  # longer names first where they overlap
        if name.lower() in device_kind.lower():
            return peak
    return None


def encoder_flops(layers: int, words: int, entities: int, hidden: int, ffn: int, queries: int) -> float:
    tokens = words + entities
    projections = tokens * 2 * (queries * hidden**2 + 3 * hidden**2 + 2 * hidden * ffn)
    attention = 2 * 2 * tokens**2 * hidden
    return layers * (projections + attention)


def luke_flops(config, words: int, entities: int, with_heads: bool) -> float:
    queries = 2 if config.use_entity_aware_attention else 1
    flops = encoder_flops(
        config.num_hidden_layers, words, entities, config.hidden_size, config.intermediate_size, queries
    )
    flops += entities * 2 * config.entity_emb_size * config.hidden_size
    if with_heads:
        flops += words * 2 * (config.hidden_size**2 + config.hidden_size * config.vocab_size)
        flops += (
            entities
            * 2
            * (config.hidden_size * config.entity_emb_size + config.entity_emb_size * config.entity_vocab_size)
        )
    return flops


def xlm_flops(config, words: int, with_heads: bool) -> float:
    flops = encoder_flops(config.n_layers, words, 0, config.emb_dim, 4 * config.emb_dim, 1)
    if with_heads:
        flops += words * 2 * config.emb_dim * config.vocab_size
    return flops


def luke_batch(config, batch: int, words: int, entities: int, rs) -> dict:
    ids = rs.randint(5, config.vocab_size, (batch, words))
    ids[:, 0], ids[:, -1] = 0, 2
    positions = -np.ones((batch, entities, 30), np.int64)
    for b in range(batch):
        for e in range(entities):
            start = 1 + (e * 7) % (words - 4)
            positions[b, e, : 1 + e % 3] = np.arange(start, start + 1 + e % 3)
    entity_ids = rs.randint(5, config.entity_vocab_size, (batch, entities))
    labels = np.where(rs.rand(batch, words) < 0.15, ids, -100)
    entity_labels = np.where(rs.rand(batch, entities) < 0.15, entity_ids, -100)
    entity_labels[:, 0] = entity_ids[:, 0]  # at least one masked entity per row
    return dict(
        input_ids=np.where(labels >= 0, 250001, ids),  # <mask>
        attention_mask=np.ones_like(ids),
        entity_ids=np.where(entity_labels >= 0, 2, entity_ids),  # [MASK]
        entity_position_ids=positions,
        entity_attention_mask=np.ones((batch, entities), np.int64),
        labels=labels,
        entity_labels=entity_labels,
    )


def xlm_batch(config, batch: int, words: int, rs) -> dict:
    ids = rs.randint(14, config.vocab_size, (batch, words))
    labels = np.where(rs.rand(batch, words) < 0.15, ids, -100)
    langs = np.where(np.arange(words)[None, :] < words // 2, 0, 1).repeat(batch, 0)
    return dict(
        input_ids=np.where(labels >= 0, config.mask_index, ids),
        attention_mask=np.ones_like(ids),
        langs=langs,
        labels=labels,
    )


def median_time(fn, steps: int) -> tuple[float, float]:
    """(first call, median of ``steps`` further calls) in seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("luke", "xlm", "all"), default="all")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--words", type=int, default=128)
    parser.add_argument("--entities", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="timed calls after the first (compiling) one")
    parser.add_argument("--layers", type=int, default=None, help="fewer layers for a quick run")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, if not in the table"
    )
    parser.add_argument("--remat", action="store_true", help="rematerialise the layers in the training step")
    parser.add_argument("--allow-cpu", action="store_true", help="run on a CPU (a smoke test of this script)")
    args = parser.parse_args()

    import jax

    import mluke_jax
    from mluke_jax.train import OptimizerConfig, Trainer

    device = jax.devices()[0]
    if device.platform == "cpu" and not args.allow_cpu:
        sys.exit("benchmarks/gpu.py needs a GPU or TPU jax (jax.devices() is a CPU); --allow-cpu runs it anyway")
    peak = peak_tflops(device.device_kind, args.peak_tflops)
    rs = np.random.RandomState(0)
    rows = []

    def measure(name, forward_model, forward_inputs, forward_flops, train_model, batch, train_flops):
        first, seconds = median_time(lambda: jax.block_until_ready(forward_model(**forward_inputs)), args.steps)
        rows.append((f"{name} forward", first, seconds, forward_flops))
        trainer = Trainer(train_model, OptimizerConfig(learning_rate=1e-4, warmup_steps=10, total_steps=1000))
        first, seconds = median_time(lambda: jax.block_until_ready(trainer.train_step(batch)), args.steps)
        rows.append((f"{name} training step", first, seconds, train_flops))

    if args.model in ("luke", "all"):
        layers = {} if args.layers is None else {"num_hidden_layers": args.layers}
        config = mluke_jax.LukeConfig.mluke_base(
            use_entity_aware_attention=True, dtype="bfloat16", remat=args.remat, **layers
        )
        print(
            f"building mLUKE ({config.num_hidden_layers} layers, entity vocabulary {config.entity_vocab_size}) ...",
            file=sys.stderr,
        )
        batch = luke_batch(config, args.batch, args.words, args.entities, rs)
        inputs = {k: v for k, v in batch.items() if "labels" not in k}
        forward_model = mluke_jax.LukeModel.build(config.replace(param_dtype="bfloat16"))
        per_row = (
            luke_flops(config, args.words, args.entities, with_heads=False),
            luke_flops(config, args.words, args.entities, with_heads=True),
        )
        measure(
            "mLUKE (mluke-base dims, EAA on)",
            forward_model,
            inputs,
            args.batch * per_row[0],
            mluke_jax.LukeForMaskedLM.build(config),
            batch,
            3 * args.batch * per_row[1],
        )
    if args.model in ("xlm", "all"):
        layers = {} if args.layers is None else {"n_layers": args.layers}
        config = mluke_jax.XLMConfig.xlm_mlm_ende_1024(dtype="bfloat16", remat=args.remat, **layers)
        print(f"building XLM ({config.n_layers} layers) ...", file=sys.stderr)
        batch = xlm_batch(config, args.batch, args.words, rs)
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        forward_model = mluke_jax.XLMModel.build(config.replace(param_dtype="bfloat16"))
        measure(
            "XLM (xlm-mlm-ende-1024)",
            forward_model,
            inputs,
            args.batch * xlm_flops(config, args.words, False),
            mluke_jax.XLMWithLMHeadModel.build(config),
            batch,
            3 * args.batch * xlm_flops(config, args.words, True),
        )

    tokens = args.batch * args.words
    peak_text = f"{peak:.0f} TFLOP/s dense bf16 peak" if peak else "peak unknown (pass --peak-tflops for MFU)"
    print(
        f"\n{device.device_kind} ({device.platform}, {jax.device_count()} device(s), this run uses one; {peak_text}); "
        f"jax {jax.__version__}; "
        f"bf16 compute, batch {args.batch} x {args.words} words (+{args.entities} entities for mLUKE), median of "
        f"{args.steps} after the first call\n"
    )
    print("| what | first call (compile) | time | word tokens/s | model TFLOP/s | MFU |")
    print("|---|---|---|---|---|---|")
    for name, first, seconds, flops in rows:
        achieved = flops / seconds / 1e12
        mfu = f"{achieved / peak:.1%}" if peak else "-"
        print(f"| {name} | {first:.1f} s | {seconds * 1e3:.1f} ms | {tokens / seconds:,.0f} | {achieved:.1f} | {mfu} |")


if __name__ == "__main__":
    main()
