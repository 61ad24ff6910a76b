"""First-call time of a new Python process, without and with JAX's persistent compilation cache.

    python benchmarks/compile_cache.py [--model luke|xlm|all --batch 8 --words 128 --entities 16]

Each figure comes from its own fresh process (as a notebook restart or a second script is): the
model is built at random (mluke-base-lite dimensions with entity-aware attention, or
xlm-mlm-ende-1024), then the first forward call and the first training step (``Trainer``,
AdamW) are timed; they trace, compile and run. Three processes per model: no cache; the cache on
and empty (compiles and writes); the cache on and filled by the previous process (reads).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
import numpy as np
import jax
import mluke_jax
from mluke_jax.train import OptimizerConfig, Trainer

model_name, cache = sys.argv[1], sys.argv[2]
batch, words, entities = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
if cache != "-":
    mluke_jax.enable_compilation_cache(cache)
rs = np.random.RandomState(0)
if model_name == "luke":
    config = mluke_jax.LukeConfig.mluke_base_lite(use_entity_aware_attention=True, num_labels=3)
    inputs = dict(
        input_ids=rs.randint(5, 250000, (batch, words)), attention_mask=np.ones((batch, words), np.int64),
        entity_ids=np.zeros((batch, entities), np.int64), entity_attention_mask=np.ones((batch, entities), np.int64),
        entity_position_ids=np.tile(np.arange(1, 1 + entities)[None, :, None], (batch, 1, 1)),
    )
    forward_cls, train_cls, labels = mluke_jax.LukeModel, mluke_jax.LukeForEntityClassification, rs.randint(0, 3, batch)
else:
    config = mluke_jax.XLMConfig.xlm_mlm_ende_1024(num_labels=3)
    ones = np.ones((batch, words), np.int64)
    inputs = dict(input_ids=rs.randint(14, 60000, (batch, words)), attention_mask=ones, langs=ones)
    forward_cls, train_cls, labels = mluke_jax.XLMModel, mluke_jax.XLMForSequenceClassification, rs.randint(0, 3, batch)
model = forward_cls.build(config)
start = time.perf_counter()
jax.block_until_ready(model(**inputs))
forward_first = time.perf_counter() - start
start = time.perf_counter()
jax.block_until_ready(model(**inputs))
forward_again = time.perf_counter() - start
del model
trainer = Trainer(train_cls.build(config), OptimizerConfig(learning_rate=1e-5, total_steps=10))
start = time.perf_counter()
jax.block_until_ready(trainer.train_step({**inputs, "labels": labels}))
train_first = time.perf_counter() - start
start = time.perf_counter()
jax.block_until_ready(trainer.train_step({**inputs, "labels": labels}))
train_again = time.perf_counter() - start
times = dict(forward_first=forward_first, forward_again=forward_again, train_first=train_first, train_again=train_again)
print(json.dumps(times))
"""


def run_child(model: str, cache: str, args) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model, cache, str(args.batch), str(args.words), str(args.entities)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("luke", "xlm", "all"), default="all")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--words", type=int, default=128)
    parser.add_argument("--entities", type=int, default=16)
    args = parser.parse_args()

    sys.path.append(sys.path.pop(0))  # benchmarks/tokenize.py must not shadow the standard library's
    from common import machine

    rows = []
    for model in ("luke", "xlm") if args.model == "all" else (args.model,):
        with tempfile.TemporaryDirectory() as cache:
            for label, where in (
                ("no cache", "-"),
                ("cache on, empty (writes)", cache),
                ("cache on, filled (reads)", cache),
            ):
                print(f"{model}: {label} ...", file=sys.stderr)
                rows.append((model, label, run_child(model, where, args)))
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(cache) for f in files)
            rows.append((model, f"cache size on disk: {size / 2**20:.0f} MiB", None))

    print(
        f"\nFirst calls in a fresh process, batch {args.batch} x {args.words} words (+{args.entities} entities for "
        f"mLUKE), fp32; {machine()}\n"
    )
    print("| model | process | first forward | second forward | first training step | second training step |")
    print("|---|---|---|---|---|---|")
    names = {
        "luke": "LukeModel / LukeForEntityClassification, mluke-base-lite (EAA on)",
        "xlm": "XLMModel / XLMForSequenceClassification, xlm-mlm-ende-1024",
    }
    for model, label, t in rows:
        if t is None:
            print(f"| {names[model]} | {label} | | | | |")
        else:
            print(
                f"| {names[model]} | {label} | {t['forward_first']:.2f} s | {t['forward_again']:.2f} s | "
                f"{t['train_first']:.2f} s | {t['train_again']:.2f} s |"
            )


if __name__ == "__main__":
    main()
