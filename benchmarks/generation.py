"""Generation speed, JAX vs transformers ``generate``, on the full xlm-mlm-ende-1024 configuration.

    python benchmarks/generation.py [--batch 1 --prompt 16 --new 32 --repeats 3]

One random ``XLMWithLMHeadModel`` with the xlm-mlm-ende-1024 dimensions is saved once and loaded by
both, causal (JAX: key/value cache, two tokens per step) and bidirectional (JAX: fixed-length
re-encoding, compiled once). Greedy decoding of ``--new`` tokens with no end-of-sequence stop, so
both produce the same number of tokens; the tokens are checked to be identical. Tokens/s counts
generated tokens (batch x new) over the median wall time; the JAX first call (compile) is reported
separately.
"""

import sys

# Run as a script, this directory comes first on sys.path, and benchmarks/tokenize.py would then
# shadow the standard library's tokenize (imported by numpy and inspect): move it to the end.
sys.path.append(sys.path.pop(0))

import argparse
import tempfile
import time

import numpy as np
from common import machine

from mluke_jax.timing import median_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch
    import transformers

    import mluke_jax

    transformers.logging.set_verbosity_error()
    config = mluke_jax.XLMConfig.xlm_mlm_ende_1024()
    torch.manual_seed(0)
    prompt = np.random.RandomState(0).randint(14, config.vocab_size, (args.batch, args.prompt))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        print("building and saving a random xlm-mlm-ende-1024 XLMWithLMHeadModel ...", file=sys.stderr)
        transformers.XLMWithLMHeadModel(transformers.XLMConfig.from_dict(config.to_hf_dict())).save_pretrained(tmp)
        for causal in (True, False):
            ref = transformers.XLMWithLMHeadModel.from_pretrained(tmp, causal=causal).eval()
            ours = mluke_jax.XLMWithLMHeadModel.from_pretrained(tmp, causal=causal)
            ref.generation_config.eos_token_id = None
            with torch.no_grad():

                def run_torch(ref=ref):
                    return ref.generate(
                        torch.as_tensor(prompt), max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False
                    ).numpy()

                expected = run_torch()
                torch_s = median_seconds(run_torch, args.repeats)
            run_jax = lambda ours=ours: ours.generate(prompt, max_new_tokens=args.new, eos_token_id=None)  # noqa: E731
            start = time.perf_counter()
            got = run_jax()
            first = time.perf_counter() - start
            jax_s = median_seconds(run_jax, args.repeats)
            same = got.shape == expected.shape and bool((got == expected).all())
            rows.append(("causal (KV cache)" if causal else "bidirectional (re-encode)", torch_s, first, jax_s, same))

    tokens = args.batch * args.new
    print(
        f"\nXLMWithLMHeadModel greedy generation, xlm-mlm-ende-1024 config, batch {args.batch}, prompt {args.prompt}, "
        f"{args.new} new tokens, fp32, median of {args.repeats}; {machine()}\n"
    )
    print(
        "| model | transformers generate | JAX first call (compile) | JAX | transformers tokens/s | JAX tokens/s | "
        "speed-up | same tokens |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, torch_s, first, jax_s, same in rows:
        print(
            f"| {name} | {torch_s:.2f} s | {first:.2f} s | {jax_s:.2f} s | {tokens / torch_s:.1f} | "
            f"{tokens / jax_s:.1f} | "
            f"{torch_s / jax_s:.1f}x | {'yes' if same else 'NO'} |"
        )


if __name__ == "__main__":
    main()
