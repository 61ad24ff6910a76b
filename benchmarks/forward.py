"""Forward speed, JAX (jit) vs PyTorch (eager), on the full mluke-base-lite configuration.

    python benchmarks/forward.py [--batch 8 --words 128 --entities 16 --repeats 10]

One random transformers ``LukeModel`` with the mluke-base-lite dimensions (entity-aware weights
included) is saved once; both frameworks load it, with entity-aware attention off (as released) and
on. For each: PyTorch eager (``torch.no_grad``, eval) median time, JAX first call (trace + compile +
run), JAX jitted median time, and the ratio. Inputs: right-padded words, entities with 1-3 token
mentions (padded to 30), some padded entity slots. The outputs are checked to agree within 1e-4.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from mluke_jax.timing import median_seconds  # noqa: E402


def make_inputs(batch: int, words: int, entities: int, mention: int = 30, vocab: int = 250004, seed: int = 0):
    rs = np.random.RandomState(seed)
    ids = rs.randint(5, vocab, (batch, words))
    ids[:, 0] = 0
    mask = np.ones((batch, words), np.int64)
    for b in range(batch):
        length = words - (b % 4) * (words // 8)  # some rows right-padded
        ids[b, length - 1] = 2
        ids[b, length:] = 1
        mask[b, length:] = 0
    positions = -np.ones((batch, entities, mention), np.int64)
    entity_mask = np.ones((batch, entities), np.int64)
    for b in range(batch):
        length = int(mask[b].sum())
        for e in range(entities):
            if b % 3 == 2 and e >= entities - 2:  # padded entity slots
                entity_mask[b, e] = 0
                continue
            size = 1 + e % 3
            start = rs.randint(1, length - size - 1)
            positions[b, e, :size] = np.arange(start, start + size)
    return dict(
        input_ids=ids,
        attention_mask=mask,
        entity_ids=np.where(entity_mask == 1, 0, 2),  # [MASK] / [PAD] of the lite vocabulary
        entity_position_ids=positions,
        entity_attention_mask=entity_mask,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--words", type=int, default=128)
    parser.add_argument("--entities", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--layers", type=int, default=12, help="fewer for a quick run")
    args = parser.parse_args()

    import jax
    import torch
    import transformers

    import mluke_jax

    transformers.logging.set_verbosity_error()
    config = mluke_jax.LukeConfig.mluke_base_lite(num_hidden_layers=args.layers, use_entity_aware_attention=True)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        print("building and saving a random mluke-base-lite LukeModel ...", file=sys.stderr)
        transformers.LukeModel(transformers.LukeConfig.from_dict(config.to_hf_dict())).save_pretrained(tmp)
        inputs = make_inputs(args.batch, args.words, args.entities)
        torch_inputs = {k: torch.as_tensor(v) for k, v in inputs.items()}
        rows = []
        for eaa in (False, True):
            print(f"entity-aware attention {'on' if eaa else 'off'} ...", file=sys.stderr)
            ref = transformers.LukeModel.from_pretrained(tmp, use_entity_aware_attention=eaa).eval()
            ours = mluke_jax.LukeModel.from_pretrained(tmp, use_entity_aware_attention=eaa)
            with torch.no_grad():
                expected = ref(**torch_inputs)
                torch_s = median_seconds(lambda: ref(**torch_inputs), args.repeats)
            start = time.perf_counter()
            got = jax.block_until_ready(ours(**inputs))
            first = time.perf_counter() - start
            jax_s = median_seconds(lambda: jax.block_until_ready(ours(**inputs)), args.repeats)
            diff = max(
                float(np.abs(np.asarray(got.last_hidden_state) - expected.last_hidden_state.numpy()).max()),
                float(np.abs(np.asarray(got.entity_last_hidden_state) - expected.entity_last_hidden_state.numpy()).max()),
            )
            rows.append((eaa, torch_s, first, jax_s, diff))

    print(
        f"\nLukeModel forward, mluke-base-lite config ({args.layers} layers), batch {args.batch}, {args.words} words, "
        f"{args.entities} entities (mentions padded to 30), fp32, median of {args.repeats}; {machine()}\n"
    )
    print("| entity-aware attention | PyTorch eager | JAX first call (compile) | JAX jitted | JAX / PyTorch | max abs diff |")
    print("|---|---|---|---|---|---|")
    for eaa, torch_s, first, jax_s, diff in rows:
        print(f"| {'on' if eaa else 'off'} | {torch_s * 1e3:.0f} ms | {first:.2f} s | {jax_s * 1e3:.0f} ms | {jax_s / torch_s:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
