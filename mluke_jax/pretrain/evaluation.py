"""Held-out evaluation of a pretraining run: perplexity and accuracy per language and objective.

As the original evaluations (XLM ``evaluator.py``; LUKE's masked-entity accuracy): every example
of the evaluation data once, in order, masked by a generator seeded with (``seed``, its index), so
that every evaluation of a run, and of any run, sees the same targets; targets are ``<mask>`` /
``[MASK]`` only, at least one per example (build the stream with ``evaluation=True``, see
:mod:`~mluke_jax.pretrain.batches`). Sums are taken in float32 inside one compiled function per
batch shape; a language's last, short batch is filled with rows that predict nothing.

``evaluate(trainer, stream, heads)`` returns ``{language: {f"{head}_loss", f"{head}_ppl",
f"{head}_accuracy", f"{head}_targets"}}``, ``heads`` naming the output field and label field of
each objective (:data:`LUKE_HEADS`, :func:`xlm_heads`). Several processes each pass their rows of
every batch, as in training.
"""

import functools
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mluke_jax.pretrain.metrics import word_targets

IGNORE = -100
LUKE_HEADS = (("mlm", "logits", "labels"), ("mep", "entity_logits", "entity_labels"))


def xlm_heads(objective: str) -> tuple[tuple[str, str, str], ...]:
    """The one head of an XLM objective (``mlm``, ``clm`` or ``tlm``)."""
    return ((objective, "logits", "labels"),)


def eval_batches(
    stream: Any, *, seed: int = 0, max_examples: int | None = None
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(language, this process's rows of a batch)`` over every example of ``stream.ordered``
    (the first ``max_examples`` of each language when given), with the stream's masking."""
    size, local, process = stream.global_batch_size, stream.local_batch_size, stream.process
    for language, examples in stream.ordered.items():
        count = len(examples) if max_examples is None else min(len(examples), max_examples)
        for start in range(0, count, size):
            rows = []
            for index in range(start, start + size):
                real = index < count
                item = examples[index if real else start]
                if stream.transform is not None:
                    item = stream.transform(item, np.random.default_rng([seed, index if real else start]))
                item = stream.finalize(item)
                if stream.fields is not None:
                    item = {name: item[name] for name in stream.fields}
                if not real:  # filler: predicts nothing
                    item = {k: np.full_like(v, IGNORE) if k.endswith("labels") else v for k, v in item.items()}
                rows.append(item)
            mine = rows[process * local : (process + 1) * local]
            yield language, {name: np.stack([row[name] for row in mine]) for name in mine[0]}


@functools.partial(jax.jit, static_argnames=("graphdef", "heads"))
def _sums(graphdef, heads, params, rest, batch):
    # module level, the graph definition static: compiled once per model structure and batch shapes,
    # whichever trainer (stage) asks
    labels = {label for _, _, label in heads}
    model = nnx.merge(graphdef, params, rest)
    out = model.forward(**{k: v for k, v in batch.items() if k not in labels}, dropout_key=None)
    result = {}
    for name, field, label in heads:
        logits = getattr(out, field).astype(jnp.float32)
        target = word_targets(batch) if label == "labels" else batch[label]
        chosen = target != IGNORE
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        picked = jnp.take_along_axis(log_probs, jnp.where(chosen, target, 0)[..., None], axis=-1)[..., 0]
        result[name] = (
            -jnp.sum(jnp.where(chosen, picked, 0.0)),
            jnp.sum(chosen),
            jnp.sum((jnp.argmax(logits, axis=-1) == target) & chosen),
        )
    return result


class Evaluator:
    """Compiled evaluation sums for a :class:`~mluke_jax.train.Trainer`'s model (its current parameters)."""

    def __init__(self, trainer: Any, heads: tuple[tuple[str, str, str], ...]):
        self.trainer, self.heads = trainer, heads

    def __call__(self, stream: Any, *, seed: int = 0, max_examples: int | None = None) -> dict[str, dict[str, float]]:
        totals: dict[str, dict[str, np.ndarray]] = {}
        for language, batch in eval_batches(stream, seed=seed, max_examples=max_examples):
            trainer = self.trainer
            sums = _sums(trainer.graphdef, self.heads, trainer.state.params, trainer.rest, trainer.prepare(batch))
            into = totals.setdefault(language, {name: np.zeros(3) for name, _, _ in self.heads})
            for name, values in jax.device_get(sums).items():
                into[name] += np.asarray(values, dtype=np.float64)
        report = {}
        for language, by_head in totals.items():
            report[language] = {}
            for name, (nll, count, right) in by_head.items():
                loss = nll / count if count else float("nan")
                report[language].update(
                    {
                        f"{name}_loss": float(loss),
                        f"{name}_ppl": float(np.exp(loss)) if count else float("nan"),
                        f"{name}_accuracy": float(right / count) if count else float("nan"),
                        f"{name}_targets": int(count),
                    }
                )
        return report


def evaluate(
    trainer: Any, stream: Any, heads: tuple[tuple[str, str, str], ...], **options: Any
) -> dict[str, dict[str, float]]:
    """One evaluation of ``trainer``'s model on ``stream`` (see the module docstring)."""
    return Evaluator(trainer, heads)(stream, **options)
