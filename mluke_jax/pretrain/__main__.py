"""``python -m mluke_jax.pretrain luke|xlm ...``: pretrain mLUKE or XLM on corpus data (see ``--help``).

On several hosts, run the same command on each with ``--coordinator HOST:PORT --num-processes N
--process-id I`` (or ``--distributed`` where jax finds the cluster itself: TPU pods, SLURM).
"""

import argparse
import sys

from mluke_jax.distributed import add_host_arguments, initialize_from_args


def _add_common(
    p: argparse.ArgumentParser, data_help: str, init_help: str, learning_rate: float, weight_decay: float
) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help=data_help)
    p.add_argument("--init", required=True, help=init_help)
    p.add_argument("--output", required=True, help="run directory (checkpoints, metrics.jsonl, tensorboard/, model/)")
    p.add_argument("--tokenizer", help="the data's tokenizer (default: the --init directory's)")
    p.add_argument("--batch-size", type=int, required=True, help="examples per micro-step over all processes")
    p.add_argument("--accumulation-steps", type=int, default=1, help="micro-batches per update")
    p.add_argument("--learning-rate", type=float, default=learning_rate, help=f"peak learning rate ({learning_rate})")
    p.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up of each stage")
    p.add_argument("--weight-decay", type=float, default=weight_decay, help=f"AdamW weight decay ({weight_decay})")
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (0: none)")
    p.add_argument("--alpha", type=float, default=0.7, help="language sampling exponent (0.7)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=1000, help="checkpoint interval in steps")
    p.add_argument("--log-every", type=int, default=10, help="metrics.jsonl interval in steps")
    p.add_argument(
        "--profile-steps",
        default=None,
        metavar="A:B",
        help="write a jax.profiler trace of steps A to B (counted over the stages, as global_step) into "
        "OUTPUT/tensorboard (TensorBoard's profile plugin)",
    )
    p.add_argument("--eval-data", nargs="+", default=(), metavar="DIR", help="held-out data sets (as --data)")
    p.add_argument("--eval-every", type=int, default=0, help="evaluation interval (default: each stage's end)")
    p.add_argument("--eval-examples", type=int, default=None, help="evaluate the first N of each language")
    p.add_argument("--bf16", action="store_true", help="bfloat16 compute, float32 parameters and optimiser state")
    p.add_argument("--remat", action="store_true", help="recompute each layer in the backward pass")
    p.add_argument("--peak-flops", type=float, default=None, help="peak FLOP/s of one device, for the MFU")
    p.add_argument("--mesh", default=None, help="device mesh, e.g. data=2,fsdp=4 (default: one device)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_host_arguments(p)


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
    _add_common(
        luke,
        "outputs of 'corpus examples'",
        "a LUKE checkpoint, a LUKE config.json, or an XLM-R checkpoint",
        1e-4,
        0.01,
    )
    luke.add_argument(
        "--max-steps",
        "--stage2-steps",
        dest="max_steps",
        type=int,
        required=True,
        help="stage 2 optimiser updates (0: stage 1 only)",
    )
    luke.add_argument("--stage1-steps", type=int, default=0, help="stage 1 optimiser updates (default 0)")
    luke.add_argument("--stage1-learning-rate", type=float, default=5e-4, help="stage 1 peak learning rate (5e-4)")
    luke.add_argument("--subword-masking", action="store_true", help="mask pieces, not whole words (as mLUKE)")
    luke.add_argument("--entity-emb-size", type=int, default=256, help="entity embedding size of a new model")
    luke.set_defaults(run=_luke)

    xlm = commands.add_parser(
        "xlm",
        help="MLM / TLM or CLM steps in turn, as XLM",
        description="Pretrain XLMWithLMHeadModel on 'corpus xlm-text' streams and 'corpus xlm-parallel' pairs: "
        "--mlm-steps en,de,en-de runs MLM on the en and de streams and TLM on en-de pairs in turn (one update "
        "each); --clm-steps trains causally. Resumes from OUTPUT/checkpoints; writes OUTPUT/metrics.jsonl and "
        "OUTPUT/model.",
    )
    _add_common(
        xlm,
        "outputs of 'corpus xlm-text' / 'corpus xlm-parallel'",
        "an XLM checkpoint (continued pretraining) or an XLM config.json (from scratch)",
        1e-4,
        0.0,
    )
    xlm.add_argument("--max-steps", type=int, required=True, help="optimiser updates (over all step entries)")
    steps = xlm.add_mutually_exclusive_group(required=True)
    steps.add_argument("--mlm-steps", help="languages (MLM) and pairs (TLM) in turn, e.g. en,de,en-de")
    steps.add_argument("--clm-steps", help="languages or pairs for causal LM steps, e.g. en,de")
    xlm.add_argument("--bptt", type=int, default=256, help="stream window length in tokens (256)")
    xlm.add_argument("--max-len", type=int, default=100, help="tokens kept of each sentence of a pair (100)")
    xlm.add_argument("--word-pred", type=float, default=0.15, help="share of tokens predicted (0.15)")
    xlm.add_argument("--sample-alpha", type=float, default=0.0, help="MLM targets weighted by count**-alpha (0)")
    xlm.set_defaults(run=_xlm)
    return parser


def _common(args: argparse.Namespace) -> dict:
    from mluke_jax.sharding import parse_mesh
    from mluke_jax.train.profiling import parse_profile_steps

    return dict(
        data=tuple(args.data),
        init=args.init,
        output=args.output,
        tokenizer=args.tokenizer,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        accumulation_steps=args.accumulation_steps,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm or None,
        alpha=args.alpha,
        seed=args.seed,
        save_every=args.save_every,
        log_every=args.log_every,
        profile_steps=parse_profile_steps(args.profile_steps),
        eval_data=tuple(args.eval_data),
        eval_every=args.eval_every,
        eval_examples=args.eval_examples,
        bf16=args.bf16,
        remat=args.remat,
        peak_flops=args.peak_flops,
        mesh=parse_mesh(args.mesh),
    )


def _report(summary: dict) -> int:
    stages = [
        f"{name} {stage['steps']} steps" + (f" (last loss {stage['last_loss']:.4f})" if stage["last_loss"] else "")
        for name, stage in summary["stages"].items()
    ]
    print(f"{summary['model']}: " + ", ".join(stages))
    return 0


def _luke(args: argparse.Namespace) -> int:
    from mluke_jax.pretrain.luke_run import LukeRunConfig, run_luke

    config = LukeRunConfig(
        **_common(args),
        stage1_steps=args.stage1_steps,
        stage1_learning_rate=args.stage1_learning_rate,
        whole_word_masking=not args.subword_masking,
        entity_emb_size=args.entity_emb_size,
    )
    return _report(run_luke(config, progress=not args.quiet))


def _xlm(args: argparse.Namespace) -> int:
    from mluke_jax.pretrain.xlm_run import XLMRunConfig, parse_steps, run_xlm

    config = XLMRunConfig(
        **_common(args),
        mlm_steps=parse_steps(args.mlm_steps),
        clm_steps=parse_steps(args.clm_steps),
        bptt=args.bptt,
        max_len=args.max_len,
        word_pred=args.word_pred,
        sample_alpha=args.sample_alpha,
    )
    return _report(run_xlm(config, progress=not args.quiet))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from mluke_jax.train.preemption import EXIT_PREEMPTED, Preempted

    try:
        initialize_from_args(args)
        return args.run(args)
    except Preempted as e:
        print(f"{e}", file=sys.stderr)
        return EXIT_PREEMPTED
    except (FileNotFoundError, FileExistsError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
