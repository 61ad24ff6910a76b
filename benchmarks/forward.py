"""Forward speed, JAX (jit) vs PyTorch (eager), on the full mluke-base-lite and xlm-mlm-ende-1024 configurations.

    python benchmarks/forward.py [--model luke|xlm|all --dtype float32|bfloat16 --batch 8 --words 128
                                  --entities 16 --repeats 10]

mLUKE: one random transformers ``LukeModel`` with the mluke-base-lite dimensions (entity-aware
weights included) is saved once; both frameworks load it, with entity-aware attention off (as
released) and on. Inputs: right-padded words, entities with 1-3 token mentions (padded to 30), some
padded entity slots.

XLM: one random ``XLMModel`` with the xlm-mlm-ende-1024 dimensions, run bidirectionally (as the
hub config says) and causally; right-padded rows, German then English language ids in each row.

For each: PyTorch eager (``torch.no_grad``, eval) median time (the contenders timed in turn, round
after round, so that a drifting shared machine treats them alike), JAX first call (trace + compile +
run), JAX jitted median time, the ratio, and the max abs difference from the float32 PyTorch output
(float32: within 1e-4). Each JAX model runs twice: with its layers scanned one per iteration (the
default) and unrolled (``scan_unroll=True``).

``--dtype bfloat16`` compares like with like: PyTorch under ``torch.autocast("cpu",
dtype=torch.bfloat16)`` (float32 weights, bf16 matmuls) against ``from_pretrained(dir,
dtype="bfloat16")`` (float32 weights cast per call, bf16 matmuls summed in float32), plus a JAX row
with the weights stored in bfloat16 (``param_dtype="bfloat16"``, inference only); each output's max
abs difference from the float32 PyTorch output is printed for both frameworks.
"""

import sys

# Run as a script, this directory comes first on sys.path, and benchmarks/tokenize.py would then
# shadow the standard library's tokenize (imported by numpy and inspect): move it to the end.
sys.path.append(sys.path.pop(0))

import argparse
import functools
import tempfile
import time

import numpy as np
from common import machine  # noqa: E402

from mluke_jax.timing import interleaved_medians  # noqa: E402


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
            name = f"entity-aware attention {'on' if eaa else 'off'}"
            fields = ("last_hidden_state", "entity_last_hidden_state")
            load = functools.partial(mluke_jax.LukeModel.from_pretrained, tmp, use_entity_aware_attention=eaa)
            rows += compare(name, args, jax, torch, ref, load, inputs, torch_inputs, fields)
    print(
        f"\nLukeModel forward, mluke-base-lite config ({args.layers} layers), batch {args.batch}, {args.words} words, "
        f"{args.entities} entities (mentions padded to 30), {args.dtype}, median of {args.repeats}; {machine()}\n"
    )
    print_table(rows, args.dtype)


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
            load = functools.partial(mluke_jax.XLMModel.from_pretrained, tmp, causal=causal)
            rows += compare(
                "causal" if causal else "bidirectional",
                args,
                jax,
                torch,
                ref,
                load,
                inputs,
                torch_inputs,
                ("last_hidden_state",),
            )
    print(
        f"\nXLMModel forward, xlm-mlm-ende-1024 config (vocab 64699, emb 1024, 6 layers, 8 heads, 2 languages), "
        f"batch {args.batch}, {args.words} tokens (rows right-padded), {args.dtype}, median of {args.repeats}; "
        f"{machine()}\n"
    )
    print_table(rows, args.dtype)


def compare(name, args, jax, torch, ref, load, inputs, torch_inputs, fields) -> list[tuple]:
    """Rows for one model variant: PyTorch (eager, or under bf16 autocast) against JAX at
    ``args.dtype`` (and, in bfloat16, with bfloat16 weights), timed in alternation; max abs
    differences from the fp32 PyTorch output."""
    with torch.no_grad():
        reference = ref(**torch_inputs)  # float32

    def max_diff(out) -> float:
        return max(
            float(np.abs(np.asarray(getattr(out, f), np.float32) - getattr(reference, f).float().numpy()).max())
            for f in fields
        )

    def run_torch():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype != "float32"):
            return ref(**torch_inputs)

    torch_diff = None if args.dtype == "float32" else max_diff(run_torch())
    variants = [(name, {"dtype": args.dtype}), (f"{name}, layers unrolled", {"dtype": args.dtype, "scan_unroll": True})]
    if args.dtype != "float32":
        variants.append((f"{name}, bf16 weights", {"dtype": args.dtype, "param_dtype": args.dtype}))
    models, firsts, diffs = [], [], []
    for _, kwargs in variants:
        ours = load(**kwargs)
        start = time.perf_counter()
        got = jax.block_until_ready(ours(**inputs))
        firsts.append(time.perf_counter() - start)
        diffs.append(max_diff(got))
        models.append(ours)
    fns = [run_torch] + [lambda m=m: jax.block_until_ready(m(**inputs)) for m in models]
    torch_s, *jax_times = interleaved_medians(fns, args.repeats)
    return [
        (label, torch_s, first, jax_s, diff, torch_diff)
        for (label, _), first, jax_s, diff in zip(variants, firsts, jax_times, diffs)
    ]


def print_table(rows, dtype: str) -> None:
    torch_name = "PyTorch eager" if dtype == "float32" else "PyTorch autocast bf16"
    print(
        f"| variant | {torch_name} | JAX first call (compile) | JAX jitted | JAX / PyTorch | JAX max abs diff vs fp32 "
        "PyTorch | PyTorch max abs diff vs fp32 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, torch_s, first, jax_s, diff, torch_diff in rows:
        theirs = "0 (the reference)" if torch_diff is None else f"{torch_diff:.1e}"
        print(
            f"| {name} | {torch_s * 1e3:.0f} ms | {first:.2f} s | {jax_s * 1e3:.0f} ms | {jax_s / torch_s:.2f}x | "
            f"{diff:.1e} | {theirs} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("luke", "xlm", "all"), default="all")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16"), default="float32", help="compute dtype (PyTorch: autocast)"
    )
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
