"""Training-step speed, JAX (jitted step, optax AdamW) vs PyTorch (eager, torch AdamW), one run.

    python benchmarks/train.py [--model luke|xlm|all --batch 8 --words 128 --entities 16 --steps 6]

mLUKE: ``LukeForEntitySpanClassification`` at the mluke-base-lite dimensions (entity-aware
attention on; the 250k-word vocabulary makes the AdamW update of the embedding table a large part
of a step). XLM: ``XLMForSequenceClassification`` at the xlm-mlm-ende-1024 dimensions. Both
frameworks start from the same random weights, run dropout (train mode), AdamW with the recipe's
settings (lr 2e-5, eps 1e-6, weight decay 0.01 off biases and LayerNorm weights, clipping 1.0)
and report the median step time after one warm-up step (JAX: the first step compiles), and
examples per second.
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


def torch_step_time(torch, transformers, model, batch, steps: int) -> tuple[float, list[float]]:
    norm = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.LayerNorm)}
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or id(p) in norm)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or id(p) in norm]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=2e-5, eps=1e-6)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 1, steps + 1)
    model.train()
    tensors = {k: torch.as_tensor(v) for k, v in batch.items()}
    times, losses = [], []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = model(**tensors).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:])), losses


def jax_step_time(jax, trainer, batch, steps: int) -> tuple[float, float, list[float]]:
    times, losses = [], []
    for _ in range(steps + 1):
        start = time.perf_counter()
        metrics = jax.block_until_ready(trainer.train_step(batch))
        losses.append(float(metrics["loss"]))
        times.append(time.perf_counter() - start)
    return times[0], float(np.median(times[1:])), losses


def run(name, hf_model, ours_cls, batch, args, jax, torch, transformers, rows) -> None:
    from mluke_jax.train import OptimizerConfig, Trainer

    with tempfile.TemporaryDirectory() as tmp:
        hf_model.save_pretrained(tmp)
        ours = ours_cls.from_pretrained(tmp)
        print(f"{name}: PyTorch ...", file=sys.stderr)
        torch_s, torch_losses = torch_step_time(torch, transformers, hf_model, batch, args.steps)
        del hf_model
        print(f"{name}: JAX ...", file=sys.stderr)
        trainer = Trainer(ours, OptimizerConfig(learning_rate=2e-5, warmup_steps=1, total_steps=args.steps + 1))
        first, jax_s, jax_losses = jax_step_time(jax, trainer, batch, args.steps)
    rows.append((name, torch_s, first, jax_s, args.batch / torch_s, args.batch / jax_s, torch_losses[0], jax_losses[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("luke", "xlm", "all"), default="all")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--words", type=int, default=128)
    parser.add_argument("--entities", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--layers", type=int, default=12, help="mLUKE layers; fewer for a quick run")
    args = parser.parse_args()

    import jax
    import torch
    import transformers

    import mluke_jax

    transformers.logging.set_verbosity_error()
    rows = []
    rs = np.random.RandomState(0)
    if args.model in ("luke", "all"):
        config = mluke_jax.LukeConfig.mluke_base_lite(num_hidden_layers=args.layers, use_entity_aware_attention=True, num_labels=5)
        torch.manual_seed(0)
        hf = transformers.LukeForEntitySpanClassification(transformers.LukeConfig.from_dict(config.to_hf_dict()))
        batch = make_inputs(args.batch, args.words, args.entities)
        starts = np.maximum(batch["entity_position_ids"][..., 0], 0)
        lengths = (batch["entity_position_ids"] >= 0).sum(-1)
        batch.update(entity_start_positions=starts, entity_end_positions=starts + np.maximum(lengths - 1, 0), labels=rs.randint(0, 5, (args.batch, args.entities)))
        run(f"LukeForEntitySpanClassification, mluke-base-lite ({args.layers} layers, EAA on)", hf, mluke_jax.LukeForEntitySpanClassification, batch, args, jax, torch, transformers, rows)
    if args.model in ("xlm", "all"):
        config = mluke_jax.XLMConfig.xlm_mlm_ende_1024(num_labels=3)
        torch.manual_seed(0)
        hf = transformers.XLMForSequenceClassification(transformers.XLMConfig.from_dict(config.to_hf_dict()))
        ids = rs.randint(14, config.vocab_size, (args.batch, args.words))
        mask = np.ones_like(ids)
        mask[1::2, args.words // 2 :] = 0
        ids = np.where(mask == 1, ids, config.pad_token_id)
        batch = {"input_ids": ids, "attention_mask": mask, "langs": np.ones_like(ids), "labels": rs.randint(0, 3, (args.batch,))}
        run("XLMForSequenceClassification, xlm-mlm-ende-1024", hf, mluke_jax.XLMForSequenceClassification, batch, args, jax, torch, transformers, rows)

    print(f"\nTraining step (forward, backward, clipping, AdamW), fp32, dropout on, batch {args.batch} x {args.words} words"
          f" (+{args.entities} entities for mLUKE), median of {args.steps} steps after the first; {machine()}\n")
    print("| model | PyTorch step | JAX first step (compile) | JAX step | JAX / PyTorch | PyTorch ex/s | JAX ex/s | first loss PyTorch / JAX (own dropout masks) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, torch_s, first, jax_s, torch_eps, jax_eps, torch_loss, jax_loss in rows:
        print(f"| {name} | {torch_s:.2f} s | {first:.1f} s | {jax_s:.2f} s | {jax_s / torch_s:.2f}x | {torch_eps:.1f} | {jax_eps:.1f} | {torch_loss:.4f} / {jax_loss:.4f} |")


if __name__ == "__main__":
    main()
