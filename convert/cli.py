"""The ``mluke-jax`` command: ``demo`` (the whole path on an embedded default) and ``convert``."""

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mluke-jax", description="mLUKE / XLM in JAX: convert, run, compare with transformers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="build (or take) an mLUKE checkpoint, convert it, run PyTorch and JAX, print parity and timings",
    )
    demo.add_argument(
        "--model",
        default=None,
        help="transformers checkpoint directory or hub name (default: a small random model built on the spot)",
    )
    demo.add_argument(
        "--workdir", default=None, help="keep the checkpoints here (default: a temporary directory, removed)"
    )
    demo.add_argument("--repeats", type=int, default=5, help="timed calls per framework (median reported)")
    demo.add_argument(
        "--compilation-cache",
        default=None,
        metavar="DIR",
        help="JAX's persistent compilation cache (default: $MLUKE_JAX_CACHE_DIR or ~/.cache/mluke_jax/xla)",
    )
    demo.add_argument("--no-compilation-cache", action="store_true", help="compile everything anew")
    convert = commands.add_parser("convert", help="same as python -m convert SRC DST", add_help=False)
    convert.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "demo":
        from mluke_jax.testing.demo import run_demo

        try:
            import transformers

            transformers.logging.set_verbosity_error()
        except ImportError:
            pass
        cache = False if args.no_compilation_cache else (args.compilation_cache or True)
        return run_demo(model=args.model, workdir=args.workdir, repeats=args.repeats, compilation_cache=cache)
    from convert.__main__ import main as convert_main

    return convert_main(args.args)


if __name__ == "__main__":
    sys.exit(main())
