"""What the mLUKE and XLM pretraining runs share: settings, one training stage, logs, evaluation, the result.

- :class:`RunConfig`: the options of ``python -m mluke_jax.pretrain luke|xlm`` common to both.
- :func:`run_stage`: one stage (an optimiser recipe over a batch stream): a ``Trainer``, a
  ``TrainCheckpointer`` per stage (the data position inside, so that the same command continues
  exactly where the last checkpoint is), ``fit`` with a progress bar, and every ``log_every``
  steps a :class:`MetricsLog` line, every ``eval_every`` steps (and at the stage's end) a
  held-out evaluation.
- :class:`MetricsLog`: ``metrics.jsonl`` lines and TensorBoard event files
  (:class:`~mluke_jax.train.metrics_log.EventLog`): the step's metrics, tokens/s, achieved FLOP/s
  and model FLOPs utilisation (:mod:`~mluke_jax.pretrain.flops`).
- :func:`save_model`: ``OUTPUT/model``, a normal mluke-jax checkpoint with the tokenizer files,
  written whole or not at all, by process 0 (parameters gathered from every process first).
"""

import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from etils import epath

from mluke_jax.distributed import is_main_process
from mluke_jax.paths import resolve
from mluke_jax.train.metrics_log import EventLog


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The settings both runs share (the command line's options)."""

    data: tuple[str, ...]
    init: str
    output: str
    tokenizer: str | None = None
    batch_size: int = 8  # examples per micro-step over all processes
    max_steps: int = 1000  # optimiser updates (mLUKE: of stage 2)
    learning_rate: float = 1e-4
    warmup_steps: int = 0  # of each stage (at most its length)
    accumulation_steps: int = 1
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    alpha: float = 0.7  # language sampling exponent
    seed: int = 0
    save_every: int = 1000
    log_every: int = 10
    profile_steps: tuple[int, int] | None = None  # global steps (over the stages) traced by jax.profiler
    eval_data: tuple[str, ...] = ()
    eval_every: int = 0  # 0: at the end of each stage only (when eval_data is given)
    eval_examples: int | None = None  # per language; None: all
    bf16: bool = False
    remat: bool = False
    peak_flops: float | None = None
    mesh: dict[str, int] | None = None

    def __post_init__(self):
        if not self.data:
            raise ValueError("no --data directories given")
        if self.batch_size < 1 or self.max_steps < 0 or self.accumulation_steps < 1:
            raise ValueError("batch size and accumulation steps must be >= 1 and the step counts >= 0")
        if self.log_every < 1 or self.save_every < 1 or self.eval_every < 0:
            raise ValueError("--log-every and --save-every must be >= 1, --eval-every >= 0")

    @property
    def dtype(self) -> str:
        return "bfloat16" if self.bf16 else "float32"


@contextlib.contextmanager
def mesh_context(config: RunConfig) -> Iterator[None]:
    """The run's device mesh (``--mesh data=..,fsdp=..,tensor=..``), or none; the batch size is
    checked against it at once."""
    if not config.mesh:
        yield
        return
    from mluke_jax.sharding import check_batch_divides, make_mesh, use_mesh

    mesh = make_mesh(**config.mesh)
    check_batch_divides(config.batch_size, mesh)
    with use_mesh(mesh):
        yield


def start_run(config: RunConfig) -> tuple[RunConfig, Path, tuple[int, int] | None]:
    """What every run does first: the compilation cache on (a resumed run, a new process, loads its
    compiled steps), the output directory made absolute (created by :func:`write_run_record`, once
    the data, the tokenizer, the model and the mesh are checked); returns the config with that
    directory, it, and this process's data shard (None for one process)."""
    import jax

    from mluke_jax import remote
    from mluke_jax.compilation_cache import enable_compilation_cache
    from mluke_jax.paths import resolve

    enable_compilation_cache()
    output = resolve(config.output)  # a bucket too
    remote.check_reachable(output)
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"--output {output} is a file, not a directory")
    shard = (jax.process_index(), jax.process_count()) if jax.process_count() > 1 else None
    return dataclasses.replace(config, output=os.fspath(output)), output, shard


def init_source(init: str) -> epath.Path | str:
    """``--init`` as a path (absolute, or a URI) when it exists there, else as given (a hub name)."""
    from mluke_jax import remote
    from mluke_jax.paths import is_remote, resolve

    if is_remote(init):
        remote.check_reachable(init)
        if not resolve(init).exists():
            raise FileNotFoundError(f"--init {init} does not exist")
        return resolve(init)
    return resolve(init) if Path(os.path.expanduser(init)).exists() else init


class MetricsLog(EventLog):
    """A ``metrics.jsonl`` line (and TensorBoard scalars) every ``every`` steps.

    Args:
        output: the run directory.
        every: log interval in steps.
        cost_of: ``step -> (tokens, model FLOPs)`` of that (micro-)step over all processes.
        peak: FLOP/s the MFU is measured against (nan: no MFU).
        stage: this stage's name; ``offset``: steps of the stages before it.
        label_of: ``step -> {name: value}`` added to the step's line (XLM: its objective).
    """

    def __init__(
        self,
        output: Path,
        every: int,
        *,
        cost_of: Callable[[int], tuple[int, float]],
        peak: float,
        stage: str,
        offset: int = 0,
        label_of: Callable[[int], dict[str, str]] | None = None,
    ):
        super().__init__(output, stage)
        self.every, self.cost_of, self.peak = every, cost_of, peak
        self.offset, self.label_of = offset, label_of
        self.started, self.last_step = time.perf_counter(), None

    def pause(self, seconds: float) -> None:
        """Leave ``seconds`` (an evaluation) out of the next rates."""
        self.started += seconds

    def __call__(self, step: int, metrics: dict[str, Any]) -> None:
        if step % self.every:
            return
        now = time.perf_counter()
        first = self.last_step + 1 if self.last_step is not None else max(1, step - self.every + 1)
        costs = [self.cost_of(s) for s in range(first, step + 1)]
        seconds = max(now - self.started, 1e-9)
        self.started, self.last_step = now, step
        flops = sum(c[1] for c in costs) / seconds
        line = {
            "stage": self.stage,
            "step": step,
            "global_step": self.offset + step,
            **(self.label_of(step) if self.label_of else {}),
            **{k: float(v) for k, v in metrics.items()},
            "tokens_per_second": sum(c[0] for c in costs) / seconds,
            "flops_per_second": flops,
            "mfu": flops / self.peak,
        }
        self.write(line, "train")


@dataclasses.dataclass
class Stage:
    """One stage of a run: ``updates`` optimiser updates at ``learning_rate`` (``trainable``: the
    parameter-name prefixes that train, None: all)."""

    name: str
    updates: int
    learning_rate: float
    trainable: tuple[str, ...] | None = None


def run_stage(
    model: Any,
    stream: Any,
    stage: Stage,
    config: RunConfig,
    *,
    metrics: Callable,
    cost_of: Callable[[int], tuple[int, float]],
    peak: float,
    offset: int = 0,
    evaluation: Callable[[Any], Iterator[tuple[str, dict[str, float]]]] | None = None,
    label_of: Callable[[int], dict[str, str]] | None = None,
    progress: bool = True,
) -> tuple[Any, list[float]]:
    """Train ``model`` for one stage (see the module docstring); returns the trained model and the
    losses of the steps run. ``evaluation(trainer)`` yields ``(name, metrics)`` pairs."""
    from mluke_jax.train import OptimizerConfig, TrainCheckpointer, Trainer, fit

    output = resolve(config.output)
    optimizer = OptimizerConfig(
        learning_rate=stage.learning_rate,
        total_steps=stage.updates,
        warmup_steps=min(config.warmup_steps, stage.updates),
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        accumulation_steps=config.accumulation_steps,
        trainable_prefixes=stage.trainable,
    )
    trainer = Trainer(model, optimizer, seed=config.seed, metrics=metrics)
    trainer.check_batch_size(config.batch_size)
    checkpointer = TrainCheckpointer(output / "checkpoints" / stage.name, save_every=config.save_every)
    micro_steps = stage.updates * config.accumulation_steps
    log = MetricsLog(
        output, config.log_every, cost_of=cost_of, peak=peak, stage=stage.name, offset=offset, label_of=label_of
    )

    def run_evaluation(step: int) -> None:
        started = time.perf_counter()
        for name, scores in evaluation(trainer):
            log.write(
                {"stage": stage.name, "step": step, "global_step": offset + step, "language": name, **scores},
                "eval",
                prefix=name,
            )
        log.pause(time.perf_counter() - started)

    def on_step(step: int, step_metrics: dict[str, Any]) -> None:
        log(step, step_metrics)
        if evaluation is not None and config.eval_every and step % config.eval_every == 0 and step != micro_steps:
            run_evaluation(step)

    try:
        profiler = None
        if config.profile_steps is not None:
            from mluke_jax.train.profiling import StepProfiler

            profiler = StepProfiler(*config.profile_steps, directory=output / "tensorboard", offset=offset)
        losses = fit(
            trainer, stream, micro_steps, checkpointer=checkpointer, progress=progress, on_step=on_step,
            profiler=profiler,
        )  # fmt: skip
        if evaluation is not None:
            run_evaluation(trainer.step)
    finally:  # an interrupted run still finishes writing the checkpoint it started
        checkpointer.wait()
        log.close()
    print(f"{stage.name}: {micro_steps} steps done", file=sys.stderr)
    return trainer.model, losses


def save_model(output: Path, model: Any, architecture: str, tokenizer: Any) -> Path:
    """``output/model``: the model in float32 with the tokenizer files, whole or not at all."""
    import jax

    from mluke_jax.checkpoint import atomic_directory, host_params, write_directory

    params = host_params(model)
    if is_main_process():
        with atomic_directory(output / "model", overwrite=True) as tmp:
            write_directory(tmp, params, model.config.replace(dtype="float32", remat=False), architecture)
            tokenizer.save_pretrained(tmp)
    if jax.process_count() > 1:  # the others return once the model is there
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("mluke_jax.pretrain: model saved")
    return output / "model"


def write_run_record(output: Path, config: RunConfig, **facts: Any) -> None:
    """``run.json`` (the output directory created first): the settings and the facts a reader of
    the logs needs (FLOPs, peak)."""
    if is_main_process():
        record = {**dataclasses.asdict(config), **facts}
        output.mkdir(parents=True, exist_ok=True)
        (output / "run.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
