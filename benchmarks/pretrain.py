"""Pretraining-step speed and MFU: mLUKE's masked words + masked entities, JAX vs PyTorch, one run.

    python benchmarks/pretrain.py [--dtype float32|bfloat16|both --batch 8 --words 128 --entities 32
                                   --entity-vocab 50000 --steps 6 --layers 12 --scan-unroll 1|all|both]

``LukeForMaskedLM`` at the mluke-base-lite dimensions (250k words, hidden 768, 12 layers) with an
entity vocabulary of ``--entity-vocab`` (pretraining on a corpus's own entities; 256-dimensional
embeddings projected to 768), plain self-attention as pretraining runs it, 15 % of the words and
of the entities masked: the step ``python -m mluke_jax.pretrain luke`` runs. The timing is
``benchmarks/train.py``'s (same random weights in both frameworks, dropout on, AdamW with
clipping, median step after the first, the two frameworks timed in turn; bf16: PyTorch autocast,
JAX ``dtype="bfloat16"``, both with float32 weights and optimiser state). Model FLOPs come from
``mluke_jax.pretrain.flops`` and the MFU is measured against the matrix-product peak measured on
this machine in the step's dtype (or ``--peak-flops``).
"""

import sys

sys.path.append(sys.path.pop(0))  # see benchmarks/train.py: benchmarks/tokenize.py must not shadow tokenize

import argparse

import numpy as np
from common import machine  # noqa: E402
from forward import make_inputs  # noqa: E402
from train import run  # noqa: E402


def masked_batch(batch: int, words: int, entities: int, entity_vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of ``make_inputs`` with LUKE's pretraining targets: 15 % of the real words and of the
    entities (at least one each per row) replaced by ``<mask>`` / ``[MASK]``."""
    rs = np.random.RandomState(seed)
    inputs = make_inputs(batch, words, entities, vocab=250002)
    ids, labels = inputs["input_ids"].copy(), np.full((batch, words), -100)
    entity_ids = np.where(inputs["entity_attention_mask"] == 1, rs.randint(4, entity_vocab, (batch, entities)), 0)
    entity_labels = np.full((batch, entities), -100)
    for b in range(batch):
        real = np.flatnonzero(inputs["attention_mask"][b])[1:-1]
        chosen = rs.choice(real, max(1, round(0.15 * len(real))), replace=False)
        labels[b, chosen], ids[b, chosen] = ids[b, chosen], 250001  # <mask>
        slots = np.flatnonzero(inputs["entity_attention_mask"][b])
        picked = rs.choice(slots, max(1, round(0.15 * len(slots))), replace=False)
        entity_labels[b, picked], entity_ids[b, picked] = entity_ids[b, picked], 2  # [MASK]
    return {**inputs, "input_ids": ids, "labels": labels, "entity_ids": entity_ids, "entity_labels": entity_labels}


def masked_positions(labels: np.ndarray, predictions: int) -> np.ndarray:
    """The predicted positions of each row, -1 padded to ``predictions`` (what ``luke_batches`` adds)."""
    out = np.full((labels.shape[0], predictions), -1, np.int64)
    for b, row in enumerate(labels):
        where = np.flatnonzero(row != -100)
        out[b, : len(where)] = where
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "both"), default="both")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--words", type=int, default=128)
    parser.add_argument("--entities", type=int, default=32)
    parser.add_argument("--entity-vocab", type=int, default=50000)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--scan-unroll", choices=("1", "all", "both"), default="1")
    parser.add_argument("--peak-flops", type=float, default=None, help="peak FLOP/s (default: measured)")
    parser.add_argument(
        "--word-head",
        choices=("sparse", "full"),
        default="sparse",
        help="JAX's word head at the masked positions only (the pretraining run's, as the original LUKE) or at every "
        "position (as transformers' LukeForMaskedLM, which PyTorch runs)",
    )
    args = parser.parse_args()

    import jax
    import torch
    import transformers

    import mluke_jax
    from mluke_jax.pretrain.flops import luke_step_flops, peak_flops

    transformers.logging.set_verbosity_error()
    config = mluke_jax.LukeConfig.mluke_base_lite(
        num_hidden_layers=args.layers, entity_vocab_size=args.entity_vocab, use_entity_aware_attention=False
    )
    batch = masked_batch(args.batch, args.words, args.entities, args.entity_vocab)
    predictions = max(1, round(0.15 * (args.words - 2)))
    flops = luke_step_flops(config, args.words, args.entities) * args.batch  # the word head at every position
    sparse = None if args.word_head == "full" else predictions
    jax_flops = luke_step_flops(config, args.words, args.entities, sparse) * args.batch
    results = []
    for dtype in ("float32", "bfloat16") if args.dtype == "both" else (args.dtype,):
        args.dtype = dtype
        torch.manual_seed(0)
        hf = transformers.LukeForMaskedLM(transformers.LukeConfig.from_dict(config.to_hf_dict()))
        rows = []
        name = f"LukeForMaskedLM, mluke-base-lite ({args.layers} layers), {args.entity_vocab} entities"
        extra = None
        if args.word_head == "sparse":
            extra = {"masked_positions": masked_positions(batch["labels"], predictions)}
        name += f", JAX word head {args.word_head}"
        run(name, hf, mluke_jax.LukeForMaskedLM, batch, args, jax, torch, transformers, rows, jax_extra=extra)
        peak, source = peak_flops(args.peak_flops, dtype)
        results.extend((dtype, peak, source, *row) for row in rows)
        del hf

    print(
        f"\nPretraining step (masked words + masked entities; forward, backward, clipping, AdamW), dropout on, batch "
        f"{args.batch} x {args.words} words + {args.entities} entities, median of {args.steps} steps after the "
        f"first; model TFLOP a step: {flops / 1e12:.2f} (word head at every position), {jax_flops / 1e12:.2f} (JAX's, "
        f"{args.word_head}); MFU against each one's own; {machine()}\n"
    )
    print(
        "| model | dtype | PyTorch step | JAX first step (compile) | JAX step | JAX / PyTorch | PyTorch MFU | JAX MFU "
        "| peak (source) | loss diff vs fp32 PyTorch (no dropout): PyTorch / JAX |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dtype, peak, source, name, torch_s, first, jax_s, _, _, torch_diff, jax_diff in results:
        print(
            f"| {name} | {dtype} | {torch_s:.2f} s | {first:.1f} s | {jax_s:.2f} s | {jax_s / torch_s:.2f}x | "
            f"{flops / torch_s / peak:.1%} | {jax_flops / jax_s / peak:.1%} | {peak / 1e12:.2f} TFLOP/s ({source}) | "
            f"{torch_diff:.1e} / {jax_diff:.1e} |"
        )


if __name__ == "__main__":
    main()
