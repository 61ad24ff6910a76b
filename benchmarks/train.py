"""Training-step speed, JAX (jitted step, optax AdamW) vs PyTorch (eager, torch AdamW), one run.

    python benchmarks/train.py [--model luke|xlm|all --dtype float32|bfloat16 --batch 8 --words 128
                                --entities 16 --steps 6 --scan-unroll 1|all|both]

mLUKE: ``LukeForEntitySpanClassification`` at the mluke-base-lite dimensions (entity-aware
attention on; the 250k-word vocabulary makes the AdamW update of the embedding table a large part
of a step). XLM: ``XLMForSequenceClassification`` at the xlm-mlm-ende-1024 dimensions. Both
frameworks start from the same random weights, run dropout (train mode), AdamW with the recipe's
settings (lr 2e-5, eps 1e-6, weight decay 0.01 off biases and LayerNorm weights, clipping 1.0)
and report the median step time after one warm-up step (JAX: the first step compiles), and
examples per second. The two frameworks' steps are timed in turn, step after step, so that a
drifting shared machine treats them alike.

``--dtype bfloat16``: PyTorch runs forward and loss under ``torch.autocast("cpu",
dtype=torch.bfloat16)`` (backward outside it, as documented), JAX loads the model with
``dtype="bfloat16"`` (the recipes' ``--bf16``); both keep float32 weights and optimiser state.
The loss of the batch without dropout is compared with the float32 PyTorch loss for both.
"""

import sys

# Run as a script, this directory comes first on sys.path, and benchmarks/tokenize.py would then
# shadow the standard library's tokenize (imported by numpy and inspect): move it to the end.
sys.path.append(sys.path.pop(0))

import argparse
import tempfile
import time

import numpy as np
from common import machine  # noqa: E402
from forward import make_inputs  # noqa: E402


def torch_stepper(torch, transformers, model, batch, steps: int, autocast: bool):
    """A function running one PyTorch training step and returning its loss."""
    norm = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.LayerNorm)}
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or id(p) in norm)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or id(p) in norm]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=2e-5, eps=1e-6
    )
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 1, steps + 1)
    tensors = {k: torch.as_tensor(v) for k, v in batch.items()}

    def step() -> float:
        model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(**tensors).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach().float())

    return step


def torch_eval_loss(torch, model, batch, autocast: bool) -> float:
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return float(model(**{k: torch.as_tensor(v) for k, v in batch.items()}).loss.float())


def run(name, hf_model, ours_cls, batch, args, jax, torch, transformers, rows, jax_extra=None) -> None:
    """Time ``hf_model`` and ``ours_cls`` on ``batch`` in turn; JAX's batch also holds ``jax_extra``
    (inputs transformers does not take), and a row per variant goes to ``rows``."""
    from mluke_jax.train import OptimizerConfig, Trainer

    low = args.dtype != "float32"
    jax_batch = {**batch, **(jax_extra or {})}
    with tempfile.TemporaryDirectory() as tmp:
        hf_model.save_pretrained(tmp)
        fp32_loss = torch_eval_loss(torch, hf_model, batch, autocast=False)
        torch_loss = torch_eval_loss(torch, hf_model, batch, autocast=low)
        variants = (
            [("", 1), (", layers unrolled", True)]
            if args.scan_unroll == "both"
            else [("", 1 if args.scan_unroll == "1" else True)]
        )
        trainers, jax_losses = [], []
        for _, unroll in variants:
            ours = ours_cls.from_pretrained(tmp, dtype=args.dtype, scan_unroll=unroll)
            jax_losses.append(float(ours(**jax_batch).loss))
            trainers.append(
                Trainer(ours, OptimizerConfig(learning_rate=2e-5, warmup_steps=1, total_steps=args.steps + 1))
            )
        print(f"{name}: PyTorch and JAX steps in turn ...", file=sys.stderr)
        torch_step = torch_stepper(torch, transformers, hf_model, batch, args.steps, autocast=low)
        torch_times, jax_times = [], [[] for _ in trainers]
        for _ in range(args.steps + 1):
            start = time.perf_counter()
            torch_step()
            torch_times.append(time.perf_counter() - start)
            for trainer, times in zip(trainers, jax_times):
                start = time.perf_counter()
                jax.block_until_ready(trainer.train_step(jax_batch))
                times.append(time.perf_counter() - start)
    torch_s = float(np.median(torch_times[1:]))
    for (label, _), times, jax_loss in zip(variants, jax_times, jax_losses):
        jax_s = float(np.median(times[1:]))
        rows.append(
            (
                name + label,
                torch_s,
                times[0],
                jax_s,
                args.batch / torch_s,
                args.batch / jax_s,
                abs(torch_loss - fp32_loss),
                abs(jax_loss - fp32_loss),
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("luke", "xlm", "all"), default="all")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16"), default="float32", help="compute dtype (PyTorch: autocast)"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--words", type=int, default=128)
    parser.add_argument("--entities", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--layers", type=int, default=12, help="mLUKE layers; fewer for a quick run")
    parser.add_argument(
        "--scan-unroll",
        choices=("1", "all", "both"),
        default="both",
        help="JAX's layer scan: one layer per iteration, all layers unrolled (scan_unroll=True), "
        "or both, timed in turn",
    )
    args = parser.parse_args()

    import jax
    import torch
    import transformers

    import mluke_jax

    transformers.logging.set_verbosity_error()
    rows = []
    rs = np.random.RandomState(0)
    if args.model in ("luke", "all"):
        config = mluke_jax.LukeConfig.mluke_base_lite(
            num_hidden_layers=args.layers, use_entity_aware_attention=True, num_labels=5
        )
        torch.manual_seed(0)
        hf = transformers.LukeForEntitySpanClassification(transformers.LukeConfig.from_dict(config.to_hf_dict()))
        batch = make_inputs(args.batch, args.words, args.entities)
        starts = np.maximum(batch["entity_position_ids"][..., 0], 0)
        lengths = (batch["entity_position_ids"] >= 0).sum(-1)
        batch.update(
            entity_start_positions=starts,
            entity_end_positions=starts + np.maximum(lengths - 1, 0),
            labels=rs.randint(0, 5, (args.batch, args.entities)),
        )
        run(
            f"LukeForEntitySpanClassification, mluke-base-lite ({args.layers} layers, EAA on)",
            hf,
            mluke_jax.LukeForEntitySpanClassification,
            batch,
            args,
            jax,
            torch,
            transformers,
            rows,
        )
    if args.model in ("xlm", "all"):
        config = mluke_jax.XLMConfig.xlm_mlm_ende_1024(num_labels=3)
        torch.manual_seed(0)
        hf = transformers.XLMForSequenceClassification(transformers.XLMConfig.from_dict(config.to_hf_dict()))
        ids = rs.randint(14, config.vocab_size, (args.batch, args.words))
        mask = np.ones_like(ids)
        mask[1::2, args.words // 2 :] = 0
        ids = np.where(mask == 1, ids, config.pad_token_id)
        batch = {
            "input_ids": ids,
            "attention_mask": mask,
            "langs": np.ones_like(ids),
            "labels": rs.randint(0, 3, (args.batch,)),
        }
        run(
            "XLMForSequenceClassification, xlm-mlm-ende-1024",
            hf,
            mluke_jax.XLMForSequenceClassification,
            batch,
            args,
            jax,
            torch,
            transformers,
            rows,
        )

    torch_name = "PyTorch eager" if args.dtype == "float32" else "PyTorch autocast bf16"
    print(
        f"\nTraining step (forward, backward, clipping, AdamW), {args.dtype}, dropout on, batch {args.batch} x "
        f"{args.words} words"
        f" (+{args.entities} entities for mLUKE), median of {args.steps} steps after the first; {machine()}\n"
    )
    print(
        f"| model | {torch_name} step | JAX first step (compile) | JAX step | JAX / PyTorch | PyTorch ex/s | JAX ex/s "
        "| loss diff vs fp32 PyTorch (no dropout): PyTorch / JAX |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, torch_s, first, jax_s, torch_eps, jax_eps, torch_diff, jax_diff in rows:
        print(
            f"| {name} | {torch_s:.2f} s | {first:.1f} s | {jax_s:.2f} s | {jax_s / torch_s:.2f}x | {torch_eps:.1f} | "
            f"{jax_eps:.1f} | {torch_diff:.1e} / {jax_diff:.1e} |"
        )


if __name__ == "__main__":
    main()
