"""Forward speed, JAX (jit) vs PyTorch (eager), on the full mluke-base-lite and xlm-mlm-ende-1024 configurations.

    python benchmarks/forward.py [--model luke|xlm|all --batch 8 --words 128 --entities 16 --repeats 10]

mLUKE: one random transformers ``LukeModel`` with the mluke-base-lite dimensions (entity-aware
weights included) is saved once; both frameworks load it, with entity-aware attention off (as
released) and on. Inputs: right-padded words, entities with 1-3 token mentions (padded to 30), some
padded entity slots.

XLM: one random ``XLMModel`` with the xlm-mlm-ende-1024 dimensions, run bidirectionally (as the
hub config says) and causally; right-padded rows, German then English language ids in each row.

For each: PyTorch eager (``torch.no_grad``, eval) median time, JAX first call (trace + compile +
run), JAX jitted median time, and the ratio. The outputs are checked to agree within 1e-4.
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


def luke_rows(args, jax, torch, transformers, mluke_jax) -> None:
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
            torch_s, first, jax_s, got, expected = time_both(jax, torch, ref, ours, inputs, torch_inputs, args.repeats)
            diff = max(
                float(np.abs(np.asarray(got.last_hidden_state) - expected.last_hidden_state.numpy()).max()),
                float(np.abs(np.asarray(got.entity_last_hidden_state) - expected.entity_last_hidden_state.numpy()).max()),
            )
            rows.append((f"entity-aware attention {'on' if eaa else 'off'}", torch_s, first, jax_s, diff))
    print(
        f"\nLukeModel forward, mluke-base-lite config ({args.layers} layers), batch {args.batch}, {args.words} words, "
        f"{args.entities} entities (mentions padded to 30), fp32, median of {args.repeats}; {machine()}\n"
    )
    print_table(rows)


def xlm_rows(args, jax, torch, transformers, mluke_jax) -> None:
    config = mluke_jax.XLMConfig.xlm_mlm_ende_1024()
    torch.manual_seed(0)
    rs = np.random.RandomState(0)
    ids = rs.randint(14, config.vocab_size, (args.batch, args.words))
    lengths = rs.randint(args.words // 2, args.words + 1, args.batch)
    lengths[0] = args.words
    mask = (np.arange(args.words)[None, :] < lengths[:, None]).astype(np.int64)
    ids = np.where(mask == 1, ids, config.pad_token_id)
    langs = np.where(np.arange(args.words)[None, :] < lengths[:, None] // 2, 0, 1)  # de then en
    inputs = {"input_ids": ids, "attention_mask": mask, "langs": langs}
    torch_inputs = {k: torch.as_tensor(v) for k, v in inputs.items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        print("building and saving a random xlm-mlm-ende-1024 XLMModel ...", file=sys.stderr)
        transformers.XLMModel(transformers.XLMConfig.from_dict(config.to_hf_dict())).save_pretrained(tmp)
        for causal in (False, True):
            ref = transformers.XLMModel.from_pretrained(tmp, causal=causal).eval()
            ours = mluke_jax.XLMModel.from_pretrained(tmp, causal=causal)
            torch_s, first, jax_s, got, expected = time_both(jax, torch, ref, ours, inputs, torch_inputs, args.repeats)
            diff = float(np.abs(np.asarray(got.last_hidden_state) - expected.last_hidden_state.numpy()).max())
            rows.append(("causal" if causal else "bidirectional", torch_s, first, jax_s, diff))
    print(
        f"\nXLMModel forward, xlm-mlm-ende-1024 config (vocab 64699, emb 1024, 6 layers, 8 heads, 2 languages), "
        f"batch {args.batch}, {args.words} tokens (rows right-padded), fp32, median of {args.repeats}; {machine()}\n"
    )
    print_table(rows)


def time_both(jax, torch, ref, ours, inputs, torch_inputs, repeats):
    with torch.no_grad():
        expected = ref(**torch_inputs)
        torch_s = median_seconds(lambda: ref(**torch_inputs), repeats)
    start = time.perf_counter()
    got = jax.block_until_ready(ours(**inputs))
    first = time.perf_counter() - start
    jax_s = median_seconds(lambda: jax.block_until_ready(ours(**inputs)), repeats)
    return torch_s, first, jax_s, got, expected


def print_table(rows) -> None:
    print("| variant | PyTorch eager | JAX first call (compile) | JAX jitted | JAX / PyTorch | max abs diff |")
    print("|---|---|---|---|---|---|")
    for name, torch_s, first, jax_s, diff in rows:
        print(f"| {name} | {torch_s * 1e3:.0f} ms | {first:.2f} s | {jax_s * 1e3:.0f} ms | {jax_s / torch_s:.2f}x | {diff:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("luke", "xlm", "all"), default="all")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--words", type=int, default=128, help="word tokens per row")
    parser.add_argument("--entities", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--layers", type=int, default=12, help="mLUKE layers; fewer for a quick run")
    args = parser.parse_args()

    import jax
    import torch
    import transformers

    import mluke_jax

    transformers.logging.set_verbosity_error()
    if args.model in ("luke", "all"):
        luke_rows(args, jax, torch, transformers, mluke_jax)
    if args.model in ("xlm", "all"):
        xlm_rows(args, jax, torch, transformers, mluke_jax)


if __name__ == "__main__":
    main()
