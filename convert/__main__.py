"""``python -m convert SRC DST``: transformers checkpoint (directory or hub name) -> mluke-jax directory."""

import argparse
import sys

# ConversionError and CheckpointError are ValueErrors; FileNotFoundError and FileExistsError OSErrors.
EXPECTED_ERRORS = (ValueError, OSError, ImportError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m convert",
        description="Convert a transformers LUKE/mLUKE or XLM checkpoint (PyTorch) into a mluke-jax Orbax "
        "directory, or back with --to-hf.",
    )
    parser.add_argument(
        "src", help="transformers checkpoint directory, or a hub name such as studio-ousia/mluke-base-lite"
    )
    parser.add_argument("dst", help="output directory (must not exist unless --overwrite)")
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16"], help="parameter dtype written (default float32)"
    )
    parser.add_argument("--architecture", default=None, help="override config.json's architectures[0], e.g. LukeModel")
    parser.add_argument("--revision", default=None, help="hub revision (branch, tag or commit)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DST (atomically, at the end)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--to-hf",
        action="store_true",
        help="the other way: SRC is a mluke-jax checkpoint, DST becomes a transformers directory (safetensors)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.to_hf:
        from convert.to_hf import export

        try:
            report = export(args.src, args.dst, overwrite=args.overwrite, progress=not args.quiet)
        except EXPECTED_ERRORS as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"exported {args.src} -> {args.dst}: transformers {report['architecture']}, {report['tensors']} tensors")
        return 0
    from mluke_jax.hf import convert_checkpoint

    try:
        report = convert_checkpoint(
            args.src,
            args.dst,
            dtype=args.dtype,
            architecture=args.architecture,
            overwrite=args.overwrite,
            revision=args.revision,
            progress=not args.quiet,
        )
    except EXPECTED_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    gib = 1024**3
    print(
        f"converted {args.src} -> {args.dst}: {report['architecture']}, {report['num_parameters']:,} parameters "
        f"in {report['num_tensors']} tensors ({report['dtype']}), source {report['source_bytes'] / gib:.2f} GiB, "
        f"{report['seconds']:.1f} s, peak memory {report['peak_memory_bytes'] / gib:.2f} GiB"
    )
    if report["tokenizer_files"]:
        print(f"copied tokenizer files: {', '.join(report['tokenizer_files'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
