"""Step time around a checkpoint save, synchronous vs asynchronous (Orbax), at mluke-base-lite size.

    python benchmarks/checkpointing.py [--batch 2 --words 64 --entities 4 --steps 8 --save-at 3 --dir DIR]

``LukeForEntitySpanClassification`` at the mluke-base-lite dimensions (279M parameters: with the
two AdamW moments a checkpoint of 3.3 GB) trains ``--steps`` steps under ``fit``-like timing; a
``TrainCheckpointer`` saves at step ``--save-at``, once with ``asynchronous=False`` and once with
``asynchronous=True`` (the default of the recipes and pretraining). Reported per mode: the median
step time without a save, the wall time of the step that saves (the step plus what the save call
blocks), how long the save took to reach the disk, and the total time of the run including the
final wait. The checkpoint directory is ``--dir`` (default: a temporary directory; point it at a
bucket, ``gs://...``, to measure uploads).
"""

import sys

sys.path.append(sys.path.pop(0))  # benchmarks/tokenize.py must not shadow the standard library's

import argparse
import statistics
import tempfile
import time

import numpy as np
from common import machine  # noqa: E402
from forward import make_inputs  # noqa: E402


def run(mode: str, args, directory: str) -> dict:
    import jax

    import mluke_jax
    from mluke_jax.train import OptimizerConfig, TrainCheckpointer, Trainer

    config = mluke_jax.LukeConfig.mluke_base_lite(num_labels=5)
    model = mluke_jax.LukeForEntitySpanClassification.build(config, seed=0)
    trainer = Trainer(model, OptimizerConfig(learning_rate=2e-5, total_steps=args.steps), seed=0)
    batch = make_inputs(args.batch, args.words, args.entities)
    batch["entity_start_positions"] = np.maximum(batch["entity_position_ids"][..., 0], 0)
    batch["entity_end_positions"] = np.maximum(batch["entity_position_ids"].max(-1), 0)
    batch["labels"] = np.random.RandomState(0).randint(0, 5, (args.batch, args.entities))
    checkpointer = TrainCheckpointer(directory, save_every=10**9, keep=1, asynchronous=mode == "async")
    times, saved_step, save_call = [], None, None
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        metrics = trainer.train_step(batch)
        jax.block_until_ready(metrics["loss"])
        if step == args.save_at:
            t1 = time.perf_counter()
            checkpointer.save(trainer, {"step": step}, force=True)
            save_call = time.perf_counter() - t1
            save_started = t1
        times.append(time.perf_counter() - t0)
        if step == args.save_at:
            saved_step = times[-1]
    t2 = time.perf_counter()
    checkpointer.wait()
    final_wait = time.perf_counter() - t2
    total = time.perf_counter() - started
    checkpointer.close()
    others = [t for i, t in enumerate(times, 1) if i not in (1, args.save_at)]
    # the save has reached the disk when wait() returns: at most the rest of the run plus that wait
    on_disk = (t2 - save_started) + final_wait if mode == "async" else save_call
    return {
        "mode": mode,
        "median_step": statistics.median(others),
        "saving_step": saved_step,
        "save_call": save_call,
        "save_to_disk": on_disk,
        "final_wait": final_wait,
        "total": total,
        "steps_after_save": [round(t, 2) for t in times[args.save_at :]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--words", type=int, default=64)
    parser.add_argument("--entities", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--save-at", type=int, default=3)
    parser.add_argument("--dir", default=None, help="checkpoint directory (default: a temporary one)")
    args = parser.parse_args()
    print(machine())
    rows = []
    for mode in ("sync", "async"):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(run(mode, args, f"{args.dir}/{mode}" if args.dir else f"{tmp}/{mode}"))
    print(f"mluke-base-lite training step, batch {args.batch} x {args.words} words, {args.entities} entities; "
          f"checkpoint of parameters + AdamW state at step {args.save_at} of {args.steps}")  # fmt: skip
    print("| save | median step (s) | step with the save (s) | save call blocks (s) | save on disk after (s) "
          "| wait at the end (s) | whole run (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['median_step']:.2f} | {r['saving_step']:.2f} | {r['save_call']:.2f} | "
            f"{r['save_to_disk']:.2f} | {r['final_wait']:.2f} | {r['total']:.1f} |"
        )
    for r in rows:
        print(f"{r['mode']}: steps after the save {r['steps_after_save']}")


if __name__ == "__main__":
    main()
