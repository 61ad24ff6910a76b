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
5. Every ``log_every`` steps a line of ``metrics.jsonl`` (and TensorBoard scalars): losses and
   accuracies of both objectives, learning rate, gradient norm, tokens/s, MFU; with
   ``eval_data``, every ``eval_every`` steps and at the end of each stage the held-out masked-word
   and masked-entity perplexity and accuracy per language (:mod:`~.evaluation`).
6. The result: ``OUTPUT/model`` (an mluke-jax checkpoint with the tokenizer files and the corpus's
   entity vocabulary; the entity-aware query projections copied from the word queries, so that
   it loads with either attention), for ``from_pretrained``, the recipes and ``--to-hf``.

The compiled steps go to the persistent compilation cache (``$MLUKE_JAX_CACHE_DIR``, else
``~/.cache/mluke_jax/xla``), so that a resumed run (a new process) does not compile them again.
"""

import dataclasses
import os
from pathlib import Path
from typing import Any

from mluke_jax.paths import is_remote, resolve
from mluke_jax.pretrain.run import (
    RunConfig,
    Stage,
    init_source,
    mesh_context,
    run_stage,
    save_model,
    start_run,
    write_run_record,
)

STAGE1_TRAINABLE = ("luke.entity_embeddings.", "entity_predictions.")


@dataclasses.dataclass(frozen=True)
class LukeRunConfig(RunConfig):
    """The settings of an mLUKE run (the command line's options); see :class:`~.run.RunConfig`."""

    stage1_steps: int = 0
    stage1_learning_rate: float = 5e-4
    whole_word_masking: bool = True
    entity_emb_size: int = 256

    def __post_init__(self):
        super().__post_init__()
        if self.stage1_steps < 0:
            raise ValueError("--stage1-steps must be >= 0")
        if self.max_steps == 0 and self.stage1_steps == 0:
            raise ValueError("nothing to train: give --max-steps or --stage1-steps")


def _tokenizer(config: LukeRunConfig, vocab: dict[str, int], built_with: str) -> Any:
    from mluke_jax.tokenizers.mluke import MLukeTokenizer

    for candidate in (config.tokenizer, config.init, built_with):
        if candidate is None:
            continue
        path = resolve(candidate) if is_remote(candidate) else Path(os.path.expanduser(str(candidate)))
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
    init = init_source(config.init)
    if not isinstance(init, str) and init.is_file():  # a config.json: from scratch
        hf = read_config_dict(init)
        luke = LukeConfig.from_hf_dict(
            {
                **hf,
                "model_type": "luke",
                "architectures": ["LukeForMaskedLM"],
                "vocab_size": len(tokenizer),
                "entity_vocab_size": entity_vocab_size,
                "use_entity_aware_attention": False,
            },
            entity_aware_query_weights=True,
        )
        return LukeForMaskedLM.build(luke.replace(**runtime), seed=config.seed)
    if not isinstance(init, str) and (init / "mluke_jax.json").is_file():
        model = LukeForMaskedLM.from_pretrained(init, seed=config.seed, **runtime)
    else:
        path = resolve_source(init)
        model_type = read_config_dict(path / "config.json").get("model_type")
        if model_type != "luke":
            extra = [tokenizer.convert_tokens_to_ids(t) for t in ("@", "#")]
            base = read_config_dict(path / "config.json")["vocab_size"]
            return luke_from_xlm_roberta(
                path,
                entity_vocab_size,
                vocab_size=len(tokenizer),
                extra_token_sources=extra[: len(tokenizer) - base],
                entity_emb_size=config.entity_emb_size,
                seed=config.seed,
                progress=False,
                **runtime,
            )
        model = LukeForMaskedLM.from_pretrained(path, seed=config.seed, **runtime)
    if model.config.use_entity_aware_attention:  # pretraining attends without it; its queries are kept
        model = _with_config(
            model,
            model.config.replace(use_entity_aware_attention=False, entity_aware_query_weights=True),
            seed=config.seed,
        )
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


def run_luke(config: LukeRunConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run both stages (resuming from the checkpoints in ``OUTPUT/checkpoints``); returns a summary."""
    from mluke_jax.train.checkpoints import removed_on_failure

    config, output, shard = start_run(config)
    with removed_on_failure(output):  # a run refused or failed before its first checkpoint leaves nothing
        return _train_luke(config, output, shard, progress)


def _train_luke(config: LukeRunConfig, output: Path, shard: tuple[int, int] | None, progress: bool) -> dict[str, Any]:
    from mluke_jax.corpus.loader import ENTITY_EXAMPLES, open_example_sets
    from mluke_jax.pretrain.batches import luke_batches
    from mluke_jax.pretrain.evaluation import LUKE_HEADS, Evaluator
    from mluke_jax.pretrain.flops import luke_step_flops, peak_flops
    from mluke_jax.pretrain.init import entity_aware_queries_from_word_queries
    from mluke_jax.pretrain.metrics import luke_metrics
    from mluke_jax.tokenizers.entity_vocab import read_entity_vocab

    sets = open_example_sets(list(config.data), kind=ENTITY_EXAMPLES)
    vocab = read_entity_vocab(sets[0].directory / "entity_vocab.json")
    tokenizer = _tokenizer(config, vocab, sets[0].metadata.get("tokenizer", "?"))
    options = dict(seed=config.seed, shard=shard, alpha=config.alpha, whole_word=config.whole_word_masking)
    stream = luke_batches(list(config.data), config.batch_size, tokenizer, **options)
    held_out = (
        luke_batches(list(config.eval_data), config.batch_size, tokenizer, evaluation=True, **options)
        if config.eval_data
        else None
    )
    summary: dict[str, Any] = {"stages": {}}
    with mesh_context(config):
        model = initial_model(config, tokenizer, max(vocab.values()) + 1)
        predicted = stream.transform.max_predictions  # the word head runs at the masked positions only
        flops = luke_step_flops(model.config, stream.max_seq_length, stream.max_entity_length, predicted)
        flops *= config.batch_size
        tokens = config.batch_size * (stream.max_seq_length + stream.max_entity_length)
        peak, peak_source = peak_flops(config.peak_flops, config.dtype)
        write_run_record(output, config, flops_per_step=flops, peak_flops=peak, peak_flops_source=peak_source)
        evaluation = None
        if held_out is not None:

            def evaluation(trainer):
                report = Evaluator(trainer, LUKE_HEADS)(held_out, seed=config.seed, max_examples=config.eval_examples)
                yield from report.items()

        offset = 0
        stages = [
            Stage("stage1", config.stage1_steps, config.stage1_learning_rate, STAGE1_TRAINABLE),
            Stage("stage2", config.max_steps, config.learning_rate),
        ]
        for stage in stages:
            if not stage.updates:
                continue
            model, losses = run_stage(
                model,
                stream,
                stage,
                config,
                metrics=luke_metrics,
                cost_of=lambda _step: (tokens, flops),
                peak=peak,
                offset=offset,
                evaluation=evaluation,
                progress=progress,
            )
            steps = stage.updates * config.accumulation_steps
            summary["stages"][stage.name] = {"steps": steps, "last_loss": losses[-1] if losses else None}
            offset += steps
        if model.config.has_entity_aware_query_weights:
            entity_aware_queries_from_word_queries(model)
        summary["model"] = str(save_model(output, model, "LukeForMaskedLM", tokenizer))
    return summary
