"""``python -m mluke_jax.pretrain luke ...``: pretrain mLUKE on ``corpus examples`` data (see ``--help``)."""

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mluke_jax.pretrain", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    luke = commands.add_parser(
        "luke",
        help="masked words + masked entities, LUKE's two stages",
        description="Pretrain LukeForMaskedLM on 'corpus examples' data: stage 1 trains the entity embeddings and "
        "the entity head alone, stage 2 everything with a new optimiser state. Resumes from OUTPUT/checkpoints; "
        "writes OUTPUT/metrics.jsonl and OUTPUT/model (with the tokenizer and the data's entity vocabulary).",
    )
    luke.add_argument("--data", nargs="+", required=True, metavar="DIR", help="outputs of 'corpus examples'")
    luke.add_argument("--init", required=True, help="a LUKE checkpoint, a LUKE config.json, or an XLM-R checkpoint")
    luke.add_argument("--output", required=True, help="run directory (checkpoints, metrics.jsonl, model/)")
    luke.add_argument("--tokenizer", help="the data's tokenizer (default: the --init directory's)")
    luke.add_argument("--batch-size", type=int, required=True, help="examples per step over all processes")
    luke.add_argument("--max-steps", type=int, required=True, help="stage 2 optimiser updates (0: stage 1 only)")
    luke.add_argument("--stage1-steps", type=int, default=0, help="stage 1 optimiser updates (default 0)")
    luke.add_argument("--learning-rate", type=float, default=1e-4, help="stage 2 peak learning rate (1e-4)")
    luke.add_argument("--stage1-learning-rate", type=float, default=5e-4, help="stage 1 peak learning rate (5e-4)")
    luke.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up of each stage")
    luke.add_argument("--accumulation-steps", type=int, default=1, help="micro-batches per update")
    luke.add_argument("--subword-masking", action="store_true", help="mask pieces, not whole words (as mLUKE)")
    luke.add_argument("--alpha", type=float, default=0.7, help="language sampling exponent (0.7)")
    luke.add_argument("--entity-emb-size", type=int, default=256, help="entity embedding size of a new model")
    luke.add_argument("--seed", type=int, default=0)
    luke.add_argument("--save-every", type=int, default=1000, help="checkpoint interval in steps")
    luke.add_argument("--log-every", type=int, default=10, help="metrics.jsonl interval in steps")
    luke.add_argument("--bf16", action="store_true", help="bfloat16 compute, float32 parameters and optimiser state")
    luke.add_argument("--remat", action="store_true", help="recompute each layer in the backward pass")
    luke.add_argument("--quiet", action="store_true", help="no progress bar")
    luke.set_defaults(run=_luke)
    return parser


def _luke(args: argparse.Namespace) -> int:
    from mluke_jax.pretrain.luke_run import LukeRunConfig, run_luke

    config = LukeRunConfig(
        data=tuple(args.data), init=args.init, output=args.output, tokenizer=args.tokenizer,
        batch_size=args.batch_size, max_steps=args.max_steps, stage1_steps=args.stage1_steps,
        learning_rate=args.learning_rate, stage1_learning_rate=args.stage1_learning_rate,
        warmup_steps=args.warmup_steps, accumulation_steps=args.accumulation_steps,
        whole_word_masking=not args.subword_masking, alpha=args.alpha, entity_emb_size=args.entity_emb_size,
        seed=args.seed, save_every=args.save_every, log_every=args.log_every, bf16=args.bf16, remat=args.remat,
    )
    summary = run_luke(config, progress=not args.quiet)
    stages = [
        f"{name} {stage['steps']} steps" + (f" (last loss {stage['last_loss']:.4f})" if stage["last_loss"] else "")
        for name, stage in summary["stages"].items()
    ]
    print(f"{summary['model']}: " + ", ".join(stages))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, FileExistsError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
