"""Fine-tune a converted mLUKE or XLM checkpoint on one of the recipes and evaluate it.

Writes to ``output``: ``checkpoints/`` (Orbax training state, resumed from when present),
``model/`` (the fine-tuned model with the tokenizer files and its labels in ``config.json``; load
it with ``from_pretrained`` or export it with ``python -m convert --to-hf``), ``metrics.json``
(the final scores), ``metrics.jsonl`` and ``tensorboard/`` (the training loss every ``log_every``
steps, the scores of every evaluation).

Evaluation runs every ``eval_every`` steps and at the end. With ``select_best`` (a metric of the
task, e.g. ``f1``), ``model/`` is the model of the best evaluation by that metric (over the
languages' average where there are several), as the original examples keep their best epoch;
``best.json`` says which step it is, and ``metrics.json`` reports that model's scores.
"""

import contextlib
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax import remote
from mluke_jax.distributed import is_main_process
from mluke_jax.finetune import languages
from mluke_jax.finetune.tasks import TASKS, Prepared, Settings
from mluke_jax.paths import resolve
from mluke_jax.progress import progress_bar


@dataclasses.dataclass
class RunConfig:
    task: str
    model: str
    train: str
    eval: str | list[str]  # files, directories or glob patterns: each language evaluated apart
    output: str
    epochs: float = 3.0
    batch_size: int = 16
    eval_batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    accumulation_steps: int = 1
    seed: int = 0
    bf16: bool = False
    remat: bool = False
    unroll_layers: bool = False
    mesh: dict[str, int] | None = None
    save_every: int = 500
    eval_every: int = 0  # steps between evaluations (0: at the end only)
    select_best: str | None = None  # keep the model of the best evaluation by this metric
    log_every: int = 10  # steps between metrics.jsonl lines of the training loss
    profile_steps: tuple[int, int] | None = None  # a jax.profiler trace of these steps into tensorboard/
    keep: int = 2
    resume: bool = True
    progress: bool = True
    settings: Settings = dataclasses.field(default_factory=Settings)

    def __post_init__(self):
        """Numbers that cannot describe a run are refused before anything is read or written."""
        if not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ValueError(f"--epochs must be > 0, got {self.epochs:g}")
        for name in ("batch_size", "eval_batch_size", "accumulation_steps", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.keep < 1:
            raise ValueError(f"keep (checkpoints kept) must be at least 1, got {self.keep}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0, got {self.learning_rate:g}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio:g}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay:g}")
        if self.eval_every < 0:
            raise ValueError(f"--eval-every must be >= 0 (0: at the end only), got {self.eval_every}")
        task = TASKS.get(self.task)
        if self.select_best is not None and task is not None and self.select_best not in task.metrics:
            raise ValueError(
                f"--select-best {self.select_best} is not a metric of task {self.task}: "
                f"choose one of {list(task.metrics)}"
            )


def model_family(model: str) -> str:
    """``model_type`` of a model directory or hub repository (its ``config.json``)."""
    from mluke_jax.config import read_config_dict
    from mluke_jax.hf.hub import download_from_hub, existing_or_hub

    path = existing_or_hub(model)
    if path is None:
        path = download_from_hub(str(model), weights=False)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} has no config.json: pass a converted (or transformers) model directory")
    return read_config_dict(path / "config.json")["model_type"]


def load_tokenizer(model_dir: str, family: str, task: str, settings: Settings):
    from mluke_jax import XLMTokenizer
    from mluke_jax.tokenizers.by_files import load_entity_tokenizer

    if family == "xlm":
        return XLMTokenizer.from_pretrained(model_dir)
    overrides = {"max_mention_length": settings.max_length} if task == "qa" else {}
    return load_entity_tokenizer(model_dir, **overrides)


def collate(features: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.stack([f[k] for f in features]) for k in features[0]}


def predict(
    model, prepared: Prepared, batch_size: int, label_keys: tuple[str, ...], progress: bool
) -> list[dict[str, np.ndarray]]:
    """Model outputs per feature (eval mode); the last batch is filled up with copies of its first
    row so that every batch has one shape."""
    outputs = []
    features = prepared.features
    for start in progress_bar(range(0, len(features), batch_size), desc="evaluating", enabled=progress, leave=False):
        chunk = features[start : start + batch_size]
        real = len(chunk)
        chunk = chunk + [chunk[0]] * (batch_size - real)
        batch = {k: v for k, v in collate(chunk).items() if k not in label_keys}
        out = model(**batch)
        fields = {
            name: np.asarray(getattr(out, name))
            for name in ("logits", "start_logits", "end_logits")
            if getattr(out, name, None) is not None
        }
        outputs.extend({k: v[i] for k, v in fields.items()} for i in range(real))
    return outputs


def run(config: RunConfig) -> dict[str, Any]:
    """Read, tokenize, train (resuming from ``output/checkpoints``), evaluate, save."""
    import mluke_jax
    from mluke_jax.train import BatchStream, OptimizerConfig, TrainCheckpointer, Trainer, fit
    from mluke_jax.train.checkpoints import removed_on_failure
    from mluke_jax.train.metrics_log import EventLog
    from mluke_jax.train.profiling import StepProfiler

    if config.task not in TASKS:
        raise ValueError(f"unknown task {config.task!r}: choose one of {sorted(TASKS)}")
    task = TASKS[config.task]
    task.check_format(config.settings.data_format)
    family = model_family(config.model)
    if family not in task.heads:
        raise ValueError(
            f"task {task.name} needs an mLUKE model (its head is {task.heads['luke']}); {config.model} is {family}"
        )
    output = resolve(config.output)  # created when training starts, after every input is checked
    remote.check_reachable(output)

    def say(message: str) -> None:
        if config.progress:
            print(message, file=sys.stderr, flush=True)

    def bar(items, what: str):
        return progress_bar(items, desc=what, enabled=config.progress, leave=False)

    train_examples = task.load(config.train, config.settings)
    per_file = [(path, task.load(path, config.settings)) for path in languages.eval_paths(config.eval)]
    labels = task.label_set(train_examples)
    for path, examples in per_file:
        task.check_labels(examples, labels, path)
    eval_examples, groups = languages.concatenated(per_file)
    say(
        f"{task.name}: {len(train_examples)} training and {len(eval_examples)} evaluation examples"
        + (f" in {len(groups)} languages ({', '.join(groups)})" if len(groups) > 1 else "")
        + f", {len(labels)} labels"
    )
    for path, examples in ((config.train, train_examples), *per_file):
        if getattr(examples, "skipped", 0):
            say(f"{path}: {examples.skipped} rows without a gold label ('-') skipped, as the original code does")
    tokenizer = load_tokenizer(config.model, family, task.name, config.settings)
    train = task.prepare(
        train_examples, tokenizer, labels, config.settings, True, lambda xs: bar(xs, "tokenizing train")
    )
    evaluation = task.prepare(
        eval_examples, tokenizer, labels, config.settings, False, lambda xs: bar(xs, "tokenizing eval")
    )

    from mluke_jax.compilation_cache import enable_compilation_cache

    enable_compilation_cache()  # a resumed run (after preemption: a new process) loads its compiled steps
    mesh_context = (
        contextlib.nullcontext() if not config.mesh else mluke_jax.use_mesh(mluke_jax.make_mesh(**config.mesh))
    )
    with mesh_context:
        head = getattr(mluke_jax, task.heads[family])
        changes: dict[str, Any] = dict(
            dtype="bfloat16" if config.bf16 else None,
            remat=config.remat,
            scan_unroll=True if config.unroll_layers else None,
        )
        if labels:
            changes.update(num_labels=len(labels), id2label=dict(enumerate(labels)))
        if task.multi_label:
            changes["problem_type"] = "multi_label_classification"
        model = head.from_pretrained(
            config.model, seed=config.seed, **{k: v for k, v in changes.items() if v is not None}
        )
        import jax

        shard = (jax.process_index(), jax.process_count()) if jax.process_count() > 1 else None
        stream = BatchStream(train.features, config.batch_size, collate, shuffle=True, seed=config.seed, shard=shard)
        steps = max(1, math.ceil(config.epochs * stream.batches_per_epoch))
        updates = max(1, steps // config.accumulation_steps)
        optimizer = OptimizerConfig(
            learning_rate=config.learning_rate,
            total_steps=updates,
            warmup_steps=int(config.warmup_ratio * updates),
            weight_decay=config.weight_decay,
            max_grad_norm=config.max_grad_norm,
            accumulation_steps=config.accumulation_steps,
        )
        trainer = Trainer(model, optimizer, seed=config.seed)
        trainer.check_batch_size(config.batch_size)
        say(
            f"training {head.__name__} for {plural(steps, 'step')} of {config.batch_size} "
            f"({plural(config.epochs, 'epoch')})"
            + (f", evaluating every {plural(config.eval_every, 'step')}" if config.eval_every else "")
        )
        label_keys = ("labels", "start_positions", "end_positions")

        def evaluate(trained) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
            """The scores over every evaluation example, and per language (when several)."""
            outputs = predict(trained, evaluation, config.eval_batch_size, label_keys, config.progress)
            scores = task.evaluate(evaluation, outputs, labels, config.settings, tokenizer)
            per_language = {  # one language: its scores are ``scores``
                language: task.evaluate(
                    *languages.subset(evaluation, outputs, indices), labels, config.settings, tokenizer
                )
                for language, indices in (groups.items() if len(groups) > 1 else ())
            }
            return scores, per_language

        started = time.perf_counter()
        with removed_on_failure(output):
            output.mkdir(parents=True, exist_ok=True)
            log = EventLog(output, stage="finetune")
            best = BestModel(output, config.select_best, config.model) if config.select_best else None
            if best is not None and not config.resume:
                best.forget()
            evaluated: dict[int, tuple] = {}

            def run_evaluation(step: int) -> None:
                scores, per_language = evaluate(trainer.model)
                evaluated[step] = (scores, per_language)
                log.write({"step": step, "global_step": step, **scores}, "eval")
                for language, language_scores in per_language.items():
                    log.write({"step": step, "global_step": step, "language": language, **language_scores}, "eval",
                              prefix=language)  # fmt: skip
                if per_language:
                    log.write({"step": step, "global_step": step, **languages.average(per_language)}, "eval",
                              prefix="average")  # fmt: skip
                if best is not None:
                    summary = languages.average(per_language) if per_language else scores
                    if best.offer(step, summary[config.select_best], trainer.model, scores, per_language):
                        say(f"step {step}: best {config.select_best} so far, {summary[config.select_best]:.4g}")

            def on_step(step: int, metrics: dict[str, Any]) -> None:
                if step % config.log_every == 0:
                    log.write({"step": step, "global_step": step, **{k: float(v) for k, v in metrics.items()}}, "train")
                if config.eval_every and step % config.eval_every == 0 and step != steps:
                    run_evaluation(step)

            try:
                with TrainCheckpointer(
                    output / "checkpoints", save_every=config.save_every, keep=config.keep
                ) as checkpointer:
                    losses = fit(
                        trainer,
                        stream,
                        steps,
                        checkpointer=checkpointer,
                        resume=config.resume,
                        progress=config.progress,
                        on_step=on_step,
                        profiler=None
                        if config.profile_steps is None
                        else StepProfiler(*config.profile_steps, directory=output / "tensorboard"),
                    )
                seconds = time.perf_counter() - started
                run_evaluation(trainer.step)
            finally:
                log.close()
        final_scores, final_per_language = evaluated[trainer.step]
        if best is None:
            scores, per_language = final_scores, final_per_language
            save_model(trainer.model, config.model, output / "model")
        else:
            scores, per_language = best.scores, best.per_language
    result = {
        "task": task.name,
        "model": str(config.model),
        "head": head.__name__,
        "steps": steps,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": float(np.mean(losses[-max(1, len(losses) // 10) :])) if losses else None,
        "train_examples_per_second": len(losses) * config.batch_size / seconds if losses else None,
        "eval": scores,
        "labels": labels,
    }
    if best is not None:  # the scores above are the kept model's; these the last step's
        result["selected"] = {"metric": config.select_best, "value": best.value, "step": best.step}
        result["last_eval"] = final_scores
    if len(per_language) > 1:  # several languages (or files): each, and their averages
        result["per_language"] = per_language
        result["average"] = languages.average(per_language)
        trained_on = languages.training_language(train_examples)
        if trained_on in per_language and len(per_language) > 2:
            result["train_language"] = trained_on
            result["average_without_train_language"] = languages.average(per_language, leave_out=trained_on)
    if is_main_process():
        remote.write_text_atomic(output / "metrics.json", json.dumps(result, indent=2) + "\n")
    return result


def save_model(model, source: str, destination: Path) -> None:
    """``destination``: the model with the tokenizer files of ``source``, whole or not at all;
    written by process 0 (parameters gathered from every process first; all must call this)."""
    import jax

    from mluke_jax.checkpoint import atomic_directory, copy_tokenizer_files, host_params, write_directory

    params = host_params(model)
    if is_main_process():
        with atomic_directory(destination, overwrite=True) as tmp:
            write_directory(tmp, params, model.config, type(model).__name__, source=None)
            copy_tokenizer_files(source, tmp)
    if jax.process_count() > 1:  # the others go on once the model is there
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("mluke_jax.finetune: model saved")


class BestModel:
    """``output/model`` as the best model so far by one metric (higher is better), with
    ``output/best.json`` (metric, value, step, the scores) written after it; a resumed run reads
    it back, so that a later evaluation must beat the best of the run before the interruption."""

    def __init__(self, output: Path, metric: str, source: str):
        self.path, self.metric, self.source = output / "best.json", metric, source
        self.model_dir = output / "model"
        self.forget()
        if self.path.is_file() and (self.model_dir / "config.json").is_file():
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            if saved.get("metric") == metric:
                self.value, self.step = saved["value"], saved["step"]
                self.scores, self.per_language = saved["scores"], saved["per_language"]

    def forget(self) -> None:
        self.value: float | None = None
        self.step: int | None = None
        self.scores: dict[str, float] = {}
        self.per_language: dict[str, dict[str, float]] = {}

    def offer(self, step: int, value: float, model, scores: dict, per_language: dict) -> bool:
        """Keep ``model`` (evaluated at ``step``: ``scores``, ``per_language``) if ``value`` beats
        the best so far (the first evaluation always does)."""
        if self.value is not None and not value > self.value:
            return False
        save_model(model, self.source, self.model_dir)
        self.value, self.step, self.scores, self.per_language = float(value), step, scores, per_language
        record = {"metric": self.metric, "value": self.value, "step": step, "scores": scores}
        if is_main_process():
            remote.write_text_atomic(self.path, json.dumps({**record, "per_language": per_language}, indent=2) + "\n")
        return True


def plural(count: float, noun: str) -> str:
    """``"1 epoch"``, ``"2.5 epochs"``."""
    return f"{count:g} {noun}{'' if count == 1 else 's'}"
