"""``python -m mluke_jax.finetune TASK --model DIR --train FILE --eval FILE --output DIR [...]``, and
``python -m mluke_jax.finetune predict TASK --model DIR --input FILE --output FILE.jsonl [...]``."""

import argparse
import sys

from mluke_jax.distributed import add_host_arguments, initialize_from_args
from mluke_jax.finetune.readers import NER_FORMATS, NLI_FORMATS, QA_FORMATS
from mluke_jax.finetune.tasks import TASKS, Settings
from mluke_jax.sharding import parse_mesh


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mluke_jax.finetune",
        description="Fine-tune mLUKE / XLM on a task and evaluate it.",
        epilog="Predictions on raw text with a fine-tuned model: python -m mluke_jax.finetune predict --help",
    )
    p.add_argument(
        "task",
        choices=sorted(TASKS),
        help="ner (CoNLL-2003/2002, WikiANN), relation (TACRED JSON), entity-typing (Open Entity JSON), qa (SQuAD, "
        "MLQA, XQuAD JSON), xnli (XNLI, MultiNLI, premise/hypothesis/label TSV), paws-x (PAWS-X TSV)",
    )
    p.add_argument(
        "--model", required=True, help="converted mluke-jax (or transformers) model directory with its tokenizer files"
    )
    p.add_argument("--train", required=True, help="training data file")
    p.add_argument(
        "--eval",
        required=True,
        nargs="+",
        action="extend",
        help="evaluation data: files, directories or glob patterns (several: the scores of each language, or of "
        "each file where the data names no language, with their averages)",
    )
    p.add_argument("--output", required=True, help="output directory: checkpoints/, model/, metrics.json")
    p.add_argument(
        "--format",
        default="auto",
        choices=("auto", *NER_FORMATS, *NLI_FORMATS, *QA_FORMATS),
        help="the data files' layout (default: detected from the file); ner: conll2003, conll2002 (no document "
        "markers: each sentence alone), wikiann (lang:word<TAB>tag, as XTREME's PAN-X); xnli: tsv "
        "(premise<TAB>hypothesis<TAB>label[<TAB>language]), xnli (the XNLI-1.0 release TSV), multinli (MultiNLI "
        "1.0 .jsonl or .txt); qa: squad, mlqa (scored with MLQA's normalisation in the context's language: from "
        "the file name test-context-LANG-question-LANG.json, or --language), xquad (xquad.LANG.json)",
    )
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument(
        "--batch-size", type=int, default=16, help="examples per micro-batch (divisible by the mesh's data x fsdp)"
    )
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=2e-5)
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--accumulation-steps", type=int, default=1, help="micro-batches per optimiser update")
    p.add_argument("--max-length", type=int, default=128, help="word tokens per example")
    p.add_argument(
        "--max-entities", type=int, default=64, help="ner: candidate spans per feature; qa: linked entities per feature"
    )
    p.add_argument("--max-span-words", type=int, default=8, help="ner: longest candidate span in words")
    p.add_argument("--no-context", action="store_true", help="ner: each sentence alone, without its document around it")
    p.add_argument(
        "--language",
        default=None,
        help="xnli, paws-x with XLM: language of rows without one; qa: the contexts' language where the file "
        "name (MLQA's, XQuAD's) does not give it, and --entities auto's linking language",
    )
    p.add_argument(
        "--doc-stride", type=int, default=128, help="qa: tokens shared by consecutive windows of a long context"
    )
    p.add_argument(
        "--entities",
        choices=("none", "auto"),
        default="none",
        help="qa: auto links question and context with --mention-db and feeds the entities to the model",
    )
    p.add_argument(
        "--mention-db", default=None, help="qa --entities auto: the output of python -m mluke_jax.corpus mention-db"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true", help="bfloat16 compute, float32 parameters and optimiser state")
    p.add_argument("--remat", action="store_true", help="recompute each layer in the backward pass (less memory)")
    p.add_argument(
        "--unroll-layers",
        action="store_true",
        help="run the encoder layers as straight-line code, not a scan: faster steps on CPU, longer compile",
    )
    p.add_argument("--mesh", default=None, help="device mesh, e.g. data=2,fsdp=4 (default: one device)")
    add_host_arguments(p)
    p.add_argument("--save-every", type=int, default=500, help="checkpoint interval in steps")
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="evaluate every N steps as well as at the end (metrics.jsonl, TensorBoard); default 0: at the end only",
    )
    p.add_argument(
        "--select-best",
        default=None,
        metavar="METRIC",
        help="keep the model of the best evaluation by METRIC (e.g. f1, accuracy, exact_match; over the languages' "
        "average where there are several) instead of the last one; best.json names its step",
    )
    p.add_argument("--log-every", type=int, default=10, help="steps between metrics.jsonl lines of the training loss")
    p.add_argument(
        "--profile-steps",
        default=None,
        metavar="A:B",
        help="write a jax.profiler trace of steps A to B into OUTPUT/tensorboard (TensorBoard's profile plugin)",
    )
    p.add_argument("--no-resume", action="store_true", help="start over even if output/checkpoints holds a checkpoint")
    p.add_argument("--quiet", action="store_true")
    return p


def build_predict_parser() -> argparse.ArgumentParser:
    from mluke_jax.finetune.prediction import PredictSettings

    defaults = PredictSettings()
    p = argparse.ArgumentParser(
        prog="python -m mluke_jax.finetune predict",
        description="Predict on raw text with a fine-tuned model: one record per line in, one JSON object per line "
        "out (mluke_jax/finetune/prediction.py describes both).",
    )
    p.add_argument(
        "task",
        choices=[*sorted(TASKS), "fill-mask"],
        help="a recipe's task, or fill-mask (the words a masked-LM model puts at each <mask> / <special1>)",
    )
    p.add_argument("--model", required=True, help="the fine-tuned model directory (OUT/model), or a hub name")
    p.add_argument("--top-k", type=int, default=5, help="fill-mask: the words kept per mask token")
    p.add_argument(
        "--input",
        required=True,
        help="one record per line: JSON objects, or plain texts (ner) / two tab-separated texts (xnli, paws-x)",
    )
    p.add_argument("--output", required=True, help="predictions, one JSON object per input line (JSONL)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument(
        "--max-length", type=int, default=defaults.max_length, help="longest word sequence (capped by the model's)"
    )
    p.add_argument(
        "--buckets",
        default=None,
        help="comma-separated padded lengths, e.g. 64,128,512 (default: 32, 64, ... up to --max-length)",
    )
    p.add_argument(
        "--max-entities",
        type=int,
        default=defaults.max_entities,
        help="ner: candidate spans per forward pass; qa: linked entities per window",
    )
    p.add_argument("--max-span-words", type=int, default=defaults.max_span_words, help="ner: longest candidate span")
    p.add_argument("--doc-stride", type=int, default=defaults.doc_stride, help="qa: tokens shared by windows")
    p.add_argument("--entities", choices=("none", "auto"), default="none", help="qa: link entities with --mention-db")
    p.add_argument("--mention-db", default=None)
    p.add_argument(
        "--language",
        default=None,
        help="the language of records without a \"language\" field (XLM's language embedding; written to the "
        "output); qa --entities auto: the linking language",
    )
    p.add_argument("--bf16", action="store_true", help="bfloat16 compute with float32 accumulation")
    p.add_argument("--quiet", action="store_true")
    return p


def predict_main(argv: list[str]) -> int:
    args = build_predict_parser().parse_args(argv)
    from mluke_jax.finetune.prediction import Predictor, PredictSettings, write_jsonl

    try:
        buckets = tuple(int(b) for b in args.buckets.split(",")) if args.buckets else None
    except ValueError:
        print(f"error: --buckets must be comma-separated integers, got {args.buckets!r}", file=sys.stderr)
        return 2
    try:
        settings = PredictSettings(
            batch_size=args.batch_size,
            max_length=args.max_length,
            buckets=buckets,
            max_entities=args.max_entities,
            max_span_words=args.max_span_words,
            doc_stride=args.doc_stride,
            entities=args.entities,
            mention_db=args.mention_db,
            language=args.language,
            bf16=args.bf16,
        )
        if args.task == "fill-mask":
            from mluke_jax.finetune.fill_mask_predict import predict_fill_mask

            result = predict_fill_mask(
                args.model,
                args.input,
                top_k=args.top_k,
                language=args.language,
                batch_size=args.batch_size,
                bf16=args.bf16,
            )
        else:
            result = Predictor(args.task, args.model, settings).predict(args.input, progress=not args.quiet)
        write_jsonl(result.records, args.output)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    lines = len(result.records) + len(result.errors)
    rate = len(result.records) / result.seconds if result.seconds else 0.0
    print(
        f"{args.task}: {len(result.records)} of {lines} records predicted -> {args.output} ({result.seconds:.1f} s, "
        f"{rate:.1f} records/s, {len(result.shapes)} batch shapes)"
        + (f"; {len(result.errors)} lines could not be read (above)" if result.errors else "")
    )
    return 1 if result.errors else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["predict"]:
        return predict_main(argv[1:])
    args = build_parser().parse_args(argv)
    from mluke_jax.finetune.run import RunConfig, run
    from mluke_jax.train.preemption import EXIT_PREEMPTED, Preempted
    from mluke_jax.train.profiling import parse_profile_steps

    try:
        settings = Settings(
            max_length=args.max_length,
            max_entities=args.max_entities,
            max_span_words=args.max_span_words,
            ner_context=not args.no_context,
            language=args.language,
            doc_stride=args.doc_stride,
            entities=args.entities,
            mention_db=args.mention_db,
            data_format=args.format,
        )
        config = RunConfig(
            task=args.task,
            model=args.model,
            train=args.train,
            eval=args.eval,
            output=args.output,
            epochs=args.epochs,
            batch_size=args.batch_size,
            eval_batch_size=args.eval_batch_size,
            learning_rate=args.learning_rate,
            warmup_ratio=args.warmup_ratio,
            weight_decay=args.weight_decay,
            max_grad_norm=args.max_grad_norm if args.max_grad_norm > 0 else None,
            accumulation_steps=args.accumulation_steps,
            seed=args.seed,
            bf16=args.bf16,
            remat=args.remat,
            unroll_layers=args.unroll_layers,
            mesh=parse_mesh(args.mesh),
            save_every=args.save_every,
            eval_every=args.eval_every,
            select_best=args.select_best,
            log_every=args.log_every,
            profile_steps=parse_profile_steps(args.profile_steps),
            resume=not args.no_resume,
            progress=not args.quiet,
            settings=settings,
        )
        initialize_from_args(args)
        result = run(config)
    except Preempted as e:
        print(f"{e}", file=sys.stderr)
        return EXIT_PREEMPTED
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{result['task']}: {result['eval']} -> {args.output}/metrics.json, model in {args.output}/model")
    if "selected" in result:
        selected = result["selected"]
        print(f"model/ is step {selected['step']}'s, the best {selected['metric']} ({selected['value']:.4g})")
    if "per_language" in result:
        from mluke_jax.finetune.languages import table

        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
