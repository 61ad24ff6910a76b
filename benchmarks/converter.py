"""Converter speed and memory on a mluke-base-size checkpoint (1.2M x 256 entity table, ~588M parameters).

    python benchmarks/converter.py [--workdir DIR] [--keep]

Builds a random transformers ``LukeForMaskedLM`` with the mluke-base dimensions in the released
layout (no tied decoder weights), writes it as safetensors and as ``pytorch_model.bin`` (the format
of the released mluke-base), then runs ``python -m convert`` on each in a fresh process and reports
its wall time and peak resident memory (the converter's own report, VmHWM) against the checkpoint
size. Targets: <= 60 s, <= 1.5x the size.
"""

import sys

# Run as a script, this directory comes first on sys.path, and benchmarks/tokenize.py would then
# shadow the standard library's tokenize (imported by numpy and inspect): move it to the end.
sys.path.append(sys.path.pop(0))

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import machine  # noqa: E402


def build_checkpoints(directory: Path, entity_vocab_size: int) -> None:
    """Random weights in the released layout, as ``directory/safetensors`` and ``directory/bin``."""
    import torch
    import transformers
    from safetensors.torch import save_file

    from mluke_jax import LukeConfig

    config = LukeConfig.mluke_base(entity_vocab_size=entity_vocab_size)
    torch.manual_seed(0)
    model = transformers.LukeForMaskedLM(transformers.LukeConfig.from_dict(config.to_hf_dict())).eval()
    drop = {"lm_head.decoder.weight", "lm_head.decoder.bias", "entity_predictions.decoder.weight"}
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k not in drop}
    for fmt in ("safetensors", "bin"):
        (directory / fmt).mkdir(parents=True, exist_ok=True)
        model.config.save_pretrained(directory / fmt)
    save_file(state, directory / "safetensors" / "model.safetensors", metadata={"format": "pt"})
    torch.save(state, directory / "bin" / "pytorch_model.bin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--entity-vocab-size", type=int, default=1200001)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--build-only", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:  # runs in its own process so that torch's memory stays out of the measurement
        build_checkpoints(Path(args.build_only), args.entity_vocab_size)
        return
    root = Path(args.workdir or tempfile.mkdtemp(prefix="mluke-convert-bench-"))
    try:
        start = time.perf_counter()
        print(f"building a random mluke-base-size checkpoint in {root} ...", file=sys.stderr)
        build = [
            sys.executable,
            __file__,
            "--build-only",
            str(root / "hf"),
            "--entity-vocab-size",
            str(args.entity_vocab_size),
        ]
        subprocess.run(build, check=True)
        print(f"built in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        rows = []
        for fmt, filename in (("safetensors", "model.safetensors"), ("bin", "pytorch_model.bin")):
            size = (root / "hf" / fmt / filename).stat().st_size
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "convert",
                    str(root / "hf" / fmt),
                    str(root / f"jax-{fmt}"),
                    "--overwrite",
                    "--quiet",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            print(out.strip(), file=sys.stderr)
            seconds = float(re.search(r"([\d.]+) s, peak memory", out).group(1))
            peak = float(re.search(r"peak memory ([\d.]+) GiB", out).group(1))
            params = re.search(r"([\d,]+) parameters", out).group(1)
            rows.append((filename, size / 2**30, seconds, peak))
        print(
            f"\nConverter, mluke-base size ({params} parameters, entity vocabulary {args.entity_vocab_size:,}); "
            f"{machine()}\n"
        )
        print("| file | size | convert time | peak memory | peak / size |")
        print("|---|---|---|---|---|")
        for filename, gib, seconds, peak in rows:
            print(f"| {filename} | {gib:.2f} GiB | {seconds:.1f} s | {peak:.2f} GiB | {peak / gib:.2f}x |")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
