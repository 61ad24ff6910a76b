"""An XLM pretraining run: MLM / TLM or CLM steps in turn, as the original ``train.py``, resumable.

``run_xlm(XLMRunConfig(...))`` is what ``python -m mluke_jax.pretrain xlm`` does:

1. The steps: ``mlm_steps`` as XLM's ``--mlm_steps`` (``"en,de,en-de"``: MLM on the English
   stream, MLM on the German stream, TLM on English-German pairs) or ``clm_steps`` (CLM on
   streams or pairs). One optimiser update per entry, the entries in turn (the original runs one
   step of each listed objective per iteration). Each entry reads the ``--data`` directories of
   its language (``corpus xlm-text``) or pair (``corpus xlm-parallel``).
2. The model (``--init``): an XLM checkpoint (converted, transformers or hub; continued
   pretraining) or an XLM ``config.json`` (from scratch; vocabulary size and languages from the
   tokenizer). transformers fixes attention as causal or not in the config, so a run trains
   one kind: ``clm_steps`` run the model causally (``causal=True``, saved so), ``mlm_steps``
   bidirectionally; the original can alternate the two in one model, here that is two runs.
3. AdamW (eps 1e-6, no weight decay by default: the original's Adam), linear warm-up and decay;
   checkpoints with the data positions of every entry's stream inside; ``metrics.jsonl`` and
   TensorBoard with each step's objective; with ``eval_data`` the held-out perplexity and
   accuracy of every entry, as XLM's evaluator (``<mask>`` only, fixed seed, at least one target
   an example).
4. The result: ``OUTPUT/model`` (``XLMWithLMHeadModel`` with the tokenizer files).
"""

import dataclasses
import os
from pathlib import Path
from typing import Any

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


def parse_steps(text: str | None) -> tuple[str, ...]:
    """``"en,de,en-de"`` -> ``("en", "de", "en-de")``."""
    if not text:
        return ()
    entries = tuple(part.strip() for part in text.split(","))
    if any(not e or e.count("-") > 1 or e.startswith("-") or e.endswith("-") for e in entries):
        raise ValueError(f"steps are languages or language pairs separated by commas (en,de,en-de), got {text!r}")
    return entries


@dataclasses.dataclass(frozen=True)
class XLMRunConfig(RunConfig):
    """The settings of an XLM run; see :class:`~.run.RunConfig` and the module docstring."""

    mlm_steps: tuple[str, ...] = ()
    clm_steps: tuple[str, ...] = ()
    bptt: int = 256  # stream window length
    max_len: int = 100  # tokens of each sentence of a pair
    word_pred: float = 0.15
    sample_alpha: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if bool(self.mlm_steps) == bool(self.clm_steps):
            raise ValueError(
                "give --mlm-steps or --clm-steps (one of them: transformers' XLM is causal or not by its config)"
            )
        if self.max_steps == 0:
            raise ValueError("nothing to train: give --max-steps")

    @property
    def entries(self) -> list[tuple[str, str]]:
        """``(objective, languages)`` of each step entry, in turn."""
        if self.clm_steps:
            return [("clm", e) for e in self.clm_steps]
        return [("tlm" if "-" in e else "mlm", e) for e in self.mlm_steps]


def data_of(directories: tuple[str, ...], languages: str) -> list[Path]:
    """The directories holding ``languages`` (a stream's language or a pair ``l1-l2``)."""
    from mluke_jax.corpus.loader import XLM_DATA_SETS, open_example_sets

    found, available = [], []
    for directory in directories:
        example_set = open_example_sets([directory], kind=XLM_DATA_SETS)[0]
        metadata = example_set.metadata  # a stream or pairs: open_example_sets refuses any other kind
        pairs = metadata["format"] == "mluke-jax-xlm-parallel"
        name = "-".join(metadata["languages"]) if pairs else example_set.language
        available.append(name)
        if name == languages:
            found.append(example_set.directory)
    if not found:
        raise ValueError(f"no data set holds {languages!r}: the given ones hold {sorted(set(available))}")
    return found


class TakingTurns:
    """Batches of several streams in turn, ``accumulation`` micro-batches (one update) each; its
    ``position`` holds every stream's, so that a resumed run continues each exactly."""

    def __init__(self, streams: list[Any], accumulation: int = 1):
        self.streams, self.accumulation, self.count = streams, accumulation, 0

    def index(self, micro_step: int) -> int:
        """Which stream micro-step ``micro_step`` (0-based) reads."""
        return (micro_step // self.accumulation) % len(self.streams)

    @property
    def batch_size(self) -> int:
        return self.streams[0].batch_size

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, Any]:
        batch = next(self.streams[self.index(self.count)])
        self.count += 1
        return batch

    @property
    def position(self) -> dict[str, Any]:
        return {"micro_steps": self.count, "streams": [s.position for s in self.streams]}

    def seek(self, position: dict[str, Any]) -> None:
        saved = position.get("streams") if position else None
        if saved is not None and len(saved) != len(self.streams):
            raise ValueError(f"the saved data position has {len(saved)} step streams, this run {len(self.streams)}")
        for n, stream in enumerate(self.streams):
            stream.seek(saved[n] if saved else {})
        self.count = int(position.get("micro_steps", 0)) if position else 0


def _tokenizer(config: XLMRunConfig, built_with: str) -> Any:
    from mluke_jax.tokenizers.xlm import XLMTokenizer

    init = Path(os.path.expanduser(config.init))
    for candidate in (config.tokenizer, None if init.is_file() else config.init, built_with):
        if candidate is None:
            continue
        try:
            return XLMTokenizer.from_pretrained(candidate)
        except (FileNotFoundError, OSError, ValueError):
            continue
    raise FileNotFoundError(
        f"no tokenizer: pass --tokenizer (the data was built with {built_with}), or an --init directory holding one"
    )


def initial_model(config: XLMRunConfig, tokenizer: Any, lang_ids: set[int]) -> Any:
    """The ``XLMWithLMHeadModel`` ``--init`` names, causal for CLM runs, with the run's dtype and remat."""
    from mluke_jax.config import XLMConfig, read_config_dict
    from mluke_jax.models.xlm_heads import XLMWithLMHeadModel

    runtime = {"dtype": config.dtype, "remat": config.remat}
    causal = bool(config.clm_steps)
    init = init_source(config.init)
    if not isinstance(init, str) and init.is_file():  # a config.json: from scratch
        lang2id = tokenizer.lang2id or {}
        hf = {
            **read_config_dict(init),
            "model_type": "xlm",
            "architectures": ["XLMWithLMHeadModel"],
            "vocab_size": tokenizer.vocab_size,
            "causal": causal,
            "pad_token_id": tokenizer.encoder["<pad>"],
        }
        if lang2id:
            hf.update(n_langs=len(lang2id), lang2id=lang2id, id2lang={str(i): lang for lang, i in lang2id.items()})
        model = XLMWithLMHeadModel.build(XLMConfig.from_hf_dict(hf).replace(**runtime), seed=config.seed)
    else:
        model = XLMWithLMHeadModel.from_pretrained(init, seed=config.seed, causal=causal, **runtime)
    if model.config.vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"{config.init} has {model.config.vocab_size} token ids, the data's tokenizer "
            f"{tokenizer.vocab_size}: build the data with the checkpoint's tokenizer"
        )
    if lang_ids and max(lang_ids) >= model.config.n_langs:
        raise ValueError(f"the data uses langs id {max(lang_ids)}; {config.init} has {model.config.n_langs} languages")
    return model


def run_xlm(config: XLMRunConfig, *, progress: bool = True) -> dict[str, Any]:
    """Train (resuming from ``OUTPUT/checkpoints``); returns a summary."""
    from mluke_jax.train.checkpoints import removed_on_failure

    config, output, shard = start_run(config)
    with removed_on_failure(output):  # a run refused or failed before its first checkpoint leaves nothing
        return _train_xlm(config, output, shard, progress)


def _train_xlm(config: XLMRunConfig, output: Path, shard: tuple[int, int] | None, progress: bool) -> dict[str, Any]:
    from mluke_jax.corpus.loader import XLM_DATA_SETS, open_example_sets
    from mluke_jax.pretrain.batches import xlm_batches
    from mluke_jax.pretrain.evaluation import Evaluator, xlm_heads
    from mluke_jax.pretrain.flops import peak_flops, xlm_step_flops
    from mluke_jax.pretrain.metrics import xlm_metrics
    from mluke_jax.warn import warn

    sets = [open_example_sets([d], kind=XLM_DATA_SETS)[0] for d in config.data]  # streams and pairs
    tokenizer = _tokenizer(config, sets[0].metadata.get("tokenizer", "?"))
    options = dict(
        seed=config.seed,
        shard=shard,
        alpha=config.alpha,
        bptt=config.bptt,
        max_len=config.max_len,
        word_pred=config.word_pred,
    )
    entries = config.entries
    streams, held_out = [], []
    for objective, languages in entries:
        directories = data_of(config.data, languages)
        alpha = config.sample_alpha if objective == "mlm" else 0.0
        streams.append(xlm_batches(directories, config.batch_size, tokenizer, objective, sample_alpha=alpha, **options))
        if config.eval_data:
            try:
                eval_dirs = data_of(config.eval_data, languages)
            except ValueError as e:
                warn(f"no held-out evaluation of {objective}-{languages}: {e}")
                continue
            held_out.append(
                (
                    f"{objective}-{languages}",
                    objective,
                    xlm_batches(
                        eval_dirs,
                        config.batch_size,
                        tokenizer,
                        objective,
                        evaluation=True,
                        sample_alpha=alpha,
                        **options,
                    ),
                )
            )
    stream = TakingTurns(streams, config.accumulation_steps)
    lengths = [_length(s, config) for s in streams]
    lang_ids = {int(i) for s in sets for i in s.metadata.get("lang_ids", {}).values()}
    with mesh_context(config):
        model = initial_model(config, tokenizer, lang_ids)
        costs = [(config.batch_size * n, xlm_step_flops(model.config, n) * config.batch_size) for n in lengths]
        peak, peak_source = peak_flops(config.peak_flops, config.dtype)
        write_run_record(
            output,
            config,
            entries=[f"{o}-{lang}" for o, lang in entries],
            flops_per_step={f"{o}-{lang}": c[1] for (o, lang), c in zip(entries, costs)},
            peak_flops=peak,
            peak_flops_source=peak_source,
        )

        def evaluation(trainer):
            for name, objective, eval_stream in held_out:
                report = Evaluator(trainer, xlm_heads(objective))(
                    eval_stream, seed=config.seed, max_examples=config.eval_examples
                )
                for scores in report.values():  # one language (or pair): the entry's
                    yield name, scores

        def label_of(step: int) -> dict[str, str]:
            objective, languages = entries[stream.index(step - 1)]
            return {"objective": f"{objective}-{languages}"}

        model, losses = run_stage(
            model,
            stream,
            Stage("train", config.max_steps, config.learning_rate),
            config,
            metrics=xlm_metrics,
            cost_of=lambda step: costs[stream.index(step - 1)],
            peak=peak,
            evaluation=evaluation if held_out else None,
            label_of=label_of,
            progress=progress,
        )
        path = save_model(output, model, "XLMWithLMHeadModel", tokenizer)
    steps = config.max_steps * config.accumulation_steps
    return {"stages": {"train": {"steps": steps, "last_loss": losses[-1] if losses else None}}, "model": str(path)}


def _length(stream: Any, config: XLMRunConfig) -> int:
    """Tokens of each example of a step stream: a window, or a padded pair."""
    from mluke_jax.corpus.xlm_loader import XLMPairBatches

    return 2 * config.max_len + 4 if isinstance(stream, XLMPairBatches) else config.bptt
