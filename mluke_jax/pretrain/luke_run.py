"""An mLUKE pretraining run: masked words + masked entities, in LUKE's two stages, resumable.

``run_luke(LukeRunConfig(...))`` is what ``python -m mluke_jax.pretrain luke`` does:

1. The data: ``corpus examples`` directories; their ``entity_vocab.json`` is the model's entity
   vocabulary and the tokenizer (``--tokenizer``, else the ``--init`` directory) must be the one
   they were built with (both checked by fingerprint).
2. The model (``--init``): a LUKE checkpoint (converted or transformers; continued pretraining;
   with another entity vocabulary than the data's, e.g. mluke-base-lite's 4 entities, the entity
   table starts new), a ``config.json`` of LUKE (from scratch), or an XLM-RoBERTa / RoBERTa
   masked-LM checkpoint (:func:`~mluke_jax.pretrain.init.luke_from_xlm_roberta`, as the released
   models were made). Plain self-attention during pretraining, as the original.
3. Stage 1 (``stage1_steps``, ``stage1_learning_rate``): only the entity embeddings and the entity
   prediction head train; stage 2 (``max_steps``, ``learning_rate``): everything, with a new
   optimiser state. AdamW with eps 1e-6 and weight decay 0.01, linear warm-up and decay per stage.
4. Every ``save_every`` steps a ``TrainCheckpointer`` checkpoint per stage, the data position
   inside: the same command run again continues where the last checkpoint is.
5. Every ``log_every`` steps a line of ``metrics.jsonl``: losses and accuracies of both
   objectives, learning rate, gradient norm, tokens/s.
6. The result: ``OUTPUT/model`` (an mluke-jax checkpoint with the tokenizer files and the corpus's
   entity vocabulary; the entity-aware query projections copied from the word queries, so that
   it loads with either attention), for ``from_pretrained``, the recipes and ``--to-hf``.

The compiled steps go to the persistent compilation cache (``$MLUKE_JAX_CACHE_DIR``, else
``~/.cache/mluke_jax/xla``), so that a resumed run (a new process) does not compile them again.
"""

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mluke_jax.paths import local_path

STAGE1_TRAINABLE = ("luke.entity_embeddings.", "entity_predictions.")
METRICS = "metrics.jsonl"


@dataclasses.dataclass(frozen=True)
class LukeRunConfig:
    """The settings of a run (the command line's options)."""

    data: tuple[str, ...]
    init: str
    output: str
    tokenizer: str | None = None
    batch_size: int = 8  # examples per step over all processes
    max_steps: int = 1000  # stage 2 optimiser updates
    stage1_steps: int = 0
    learning_rate: float = 1e-4
    stage1_learning_rate: float = 5e-4
    warmup_steps: int = 0  # of each stage (at most its length)
    accumulation_steps: int = 1
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    whole_word_masking: bool = True
    alpha: float = 0.7
    entity_emb_size: int = 256
    seed: int = 0
    save_every: int = 1000
    log_every: int = 10
    bf16: bool = False
    remat: bool = False

    def __post_init__(self):
        if not self.data:
            raise ValueError("no --data directories given")
        if self.batch_size < 1 or self.max_steps < 0 or self.stage1_steps < 0:
            raise ValueError("batch size must be >= 1 and the step counts >= 0")
        if self.max_steps == 0 and self.stage1_steps == 0:
            raise ValueError("nothing to train: give --max-steps or --stage1-steps")


def _tokenizer(config: LukeRunConfig, vocab: dict[str, int], built_with: str) -> Any:
    from mluke_jax.tokenizers.mluke import MLukeTokenizer

    for candidate in (config.tokenizer, config.init, built_with):
        if candidate is None:
            continue
        path = Path(os.path.expanduser(str(candidate)))
        if path.is_file() or (path.is_dir() and not (path / "sentencepiece.bpe.model").is_file()):
            continue
        return MLukeTokenizer.from_pretrained(candidate, entity_vocab=vocab)
    raise FileNotFoundError(
        f"no tokenizer: pass --tokenizer (the data was built with {built_with}), or an --init directory holding one"
    )


def initial_model(config: LukeRunConfig, tokenizer: Any, entity_vocab_size: int) -> Any:
    """The model ``--init`` names (see the module docstring), with the run's dtype and remat."""
    from mluke_jax.config import LukeConfig, read_config_dict
    from mluke_jax.hf.hub import resolve_source
    from mluke_jax.models.luke_heads import LukeForMaskedLM
    from mluke_jax.pretrain.init import luke_from_xlm_roberta

    runtime = {"dtype": "bfloat16" if config.bf16 else "float32", "remat": config.remat}
    init = local_path(config.init) if Path(os.path.expanduser(config.init)).exists() else config.init
    if isinstance(init, Path) and init.is_file():  # a config.json: from scratch
        hf = read_config_dict(init)
        luke = LukeConfig.from_hf_dict({**hf, "model_type": "luke", "architectures": ["LukeForMaskedLM"],
                                        "vocab_size": len(tokenizer), "entity_vocab_size": entity_vocab_size,
                                        "use_entity_aware_attention": False}, entity_aware_query_weights=True)
        return LukeForMaskedLM.build(luke.replace(**runtime), seed=config.seed)
    if isinstance(init, Path) and (init / "mluke_jax.json").is_file():
        model = LukeForMaskedLM.from_pretrained(init, seed=config.seed, **runtime)
    else:
        path = resolve_source(init)
        model_type = read_config_dict(path / "config.json").get("model_type")
        if model_type != "luke":
            extra = [tokenizer.convert_tokens_to_ids(t) for t in ("@", "#")]
            base = read_config_dict(path / "config.json")["vocab_size"]
            return luke_from_xlm_roberta(path, entity_vocab_size, vocab_size=len(tokenizer),
                                         extra_token_sources=extra[: len(tokenizer) - base],
                                         entity_emb_size=config.entity_emb_size, seed=config.seed, progress=False,
                                         **runtime)
        model = LukeForMaskedLM.from_pretrained(path, seed=config.seed, **runtime)
    if model.config.use_entity_aware_attention:  # pretraining attends without it; its queries are kept
        model = _with_config(model, model.config.replace(use_entity_aware_attention=False,
                                                         entity_aware_query_weights=True), seed=config.seed)
    if model.config.vocab_size != len(tokenizer):
        raise ValueError(
            f"{config.init} has {model.config.vocab_size} word ids, the data's tokenizer {len(tokenizer)}: build the "
            "data with the checkpoint's tokenizer"
        )
    if model.config.entity_vocab_size != entity_vocab_size:
        model = with_new_entity_vocabulary(model, entity_vocab_size, seed=config.seed)
    return model


def _with_config(model: Any, config: Any, *, seed: int = 0, fresh: tuple[str, ...] = ()) -> Any:
    """A model of ``config`` holding ``model``'s parameters (those named in ``fresh`` initialised anew)."""
    from mluke_jax.checkpoint import checkpoint_params, update_params

    new = type(model).build(config, seed=seed)
    update_params(new, {k: v for k, v in checkpoint_params(model).items() if k not in fresh})
    return new


def with_new_entity_vocabulary(model: Any, entity_vocab_size: int, *, seed: int = 0) -> Any:
    """``model`` with a fresh entity table (and entity decoder bias) of ``entity_vocab_size`` rows, every
    other parameter kept: continued pretraining on a corpus with its own entity vocabulary (the
    -lite checkpoints have only the 4 special entities)."""
    from mluke_jax.warn import warn

    fresh = ("luke.entity_embeddings.entity_embeddings.embedding", "entity_predictions.decoder.bias")
    new = _with_config(model, model.config.replace(entity_vocab_size=entity_vocab_size), seed=seed, fresh=fresh)
    warn(
        f"the checkpoint's entity vocabulary has {model.config.entity_vocab_size} entities, the data's "
        f"{entity_vocab_size}: the entity embeddings and the entity decoder's bias start new (stage 1 trains them)"
    )
    return new


class _MetricsLog:
    """A ``metrics.jsonl`` line every ``every`` steps (the step's metrics, tokens/s since the last)."""

    def __init__(self, path: Path, every: int, tokens_per_step: int, stage: str, offset: int):
        self.file = open(path, "a", encoding="utf-8")
        self.every, self.tokens, self.stage, self.offset = every, tokens_per_step, stage, offset
        self.started, self.last_step = time.perf_counter(), None

    def __call__(self, step: int, metrics: dict[str, Any]) -> None:
        if step % self.every:
            return
        now = time.perf_counter()
        steps = step - (self.last_step if self.last_step is not None else step - self.every)
        rate = self.tokens * steps / max(now - self.started, 1e-9)
        self.started, self.last_step = now, step
        line = {"stage": self.stage, "step": step, "global_step": self.offset + step,
                **{k: float(v) for k, v in metrics.items()}, "tokens_per_second": rate}
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def run_luke(config: LukeRunConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run both stages (resuming from the checkpoints in ``OUTPUT/checkpoints``); returns a summary."""
    import jax

    from mluke_jax.checkpoint import atomic_directory, checkpoint_params, write_directory
    from mluke_jax.compilation_cache import enable_compilation_cache
    from mluke_jax.corpus.loader import open_example_sets
    from mluke_jax.pretrain.batches import luke_batches
    from mluke_jax.pretrain.init import entity_aware_queries_from_word_queries
    from mluke_jax.pretrain.metrics import luke_metrics
    from mluke_jax.tokenizers.entity_vocab import read_entity_vocab
    from mluke_jax.train import OptimizerConfig, TrainCheckpointer, Trainer, fit

    enable_compilation_cache()  # a resumed run (a new process) loads the compiled steps instead of compiling
    output = local_path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    sets = open_example_sets(list(config.data))
    vocab = read_entity_vocab(sets[0].directory / "entity_vocab.json")
    tokenizer = _tokenizer(config, vocab, sets[0].metadata.get("tokenizer", "?"))
    model = initial_model(config, tokenizer, max(vocab.values()) + 1)
    shard = (jax.process_index(), jax.process_count()) if jax.process_count() > 1 else None
    stream = luke_batches(list(config.data), config.batch_size, tokenizer, seed=config.seed, shard=shard,
                          alpha=config.alpha, whole_word=config.whole_word_masking)
    tokens_per_step = config.batch_size * stream.max_seq_length
    (output / "run.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n", encoding="utf-8")
    summary: dict[str, Any] = {"stages": {}}
    offset = 0
    stages = [("stage1", config.stage1_steps, config.stage1_learning_rate, STAGE1_TRAINABLE),
              ("stage2", config.max_steps, config.learning_rate, None)]
    for name, updates, learning_rate, trainable in stages:
        if not updates:
            continue
        optimizer = OptimizerConfig(
            learning_rate=learning_rate, total_steps=updates, warmup_steps=min(config.warmup_steps, updates),
            weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
            accumulation_steps=config.accumulation_steps, trainable_prefixes=trainable,
        )
        trainer = Trainer(model, optimizer, seed=config.seed, metrics=luke_metrics)
        checkpointer = TrainCheckpointer(output / "checkpoints" / name, save_every=config.save_every)
        micro_steps = updates * config.accumulation_steps
        log = _MetricsLog(output / METRICS, config.log_every, tokens_per_step, name, offset)
        try:
            losses = fit(trainer, stream, micro_steps, checkpointer=checkpointer, progress=progress, on_step=log)
        finally:  # an interrupted run still finishes writing the checkpoint it started
            checkpointer.wait()
            log.close()
        summary["stages"][name] = {"steps": micro_steps, "last_loss": losses[-1] if losses else None}
        model = trainer.model
        offset += micro_steps
        print(f"{name}: {micro_steps} steps done", file=sys.stderr)
    if model.config.has_entity_aware_query_weights:
        entity_aware_queries_from_word_queries(model)
    with atomic_directory(output / "model", overwrite=True) as tmp:  # the model and its tokenizer, or nothing
        write_directory(tmp, checkpoint_params(model), model.config.replace(dtype="float32", remat=False),
                        "LukeForMaskedLM")
        tokenizer.save_pretrained(tmp)
    summary["model"] = str(output / "model")
    return summary
