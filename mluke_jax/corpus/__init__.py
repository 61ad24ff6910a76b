"""Pretraining corpora: Wikipedia dumps and plain or parallel text to batches for pretraining.

Stages, each a subcommand of ``python -m mluke_jax.corpus`` (and a function here):

1. ``wikipedia``: a MediaWiki dump to annotated paragraphs (:mod:`mluke_jax.corpus.wikipedia`).
2. ``entity-vocab``: the entity vocabulary, multilingual through Wikidata (:mod:`.entity_vocab`).
3. ``mention-db``: anchors, their entities and link probabilities (:mod:`.mention_db`).
4. ``examples``: packed mLUKE examples in ArrayRecord shards (:mod:`.examples`).
5. ``xlm-text`` / ``xlm-parallel``: XLM's token streams and sentence pairs (:mod:`.xlm_text`).

Loading: :class:`EntityExampleStream` (:mod:`.loader`), :class:`XLMStreamBatches` and
:class:`XLMPairBatches` (:mod:`.xlm_loader`). Names are imported on first use, so that the
command line and its worker processes import only what their stage needs.
"""

import importlib
from typing import Any

_EXPORTS = {
    "build_wikipedia": "mluke_jax.corpus.wikipedia",
    "read_pages": "mluke_jax.corpus.wikipedia",
    "read_redirects": "mluke_jax.corpus.wikipedia",
    "open_wikipedia": "mluke_jax.corpus.collection",
    "build_entity_vocab": "mluke_jax.corpus.entity_vocab",
    "build_mention_db": "mluke_jax.corpus.mention_db",
    "MentionDB": "mluke_jax.linking.mention_db",
    "build_examples": "mluke_jax.corpus.examples",
    "ExampleSettings": "mluke_jax.corpus.examples",
    "build_xlm_text": "mluke_jax.corpus.xlm_text",
    "build_xlm_parallel": "mluke_jax.corpus.xlm_text",
    "EntityExampleStream": "mluke_jax.corpus.loader",
    "open_example_sets": "mluke_jax.corpus.loader",
    "read_records": "mluke_jax.corpus.loader",
    "language_weights": "mluke_jax.corpus.loader",
    "XLMStreamBatches": "mluke_jax.corpus.xlm_loader",
    "XLMPairBatches": "mluke_jax.corpus.xlm_loader",
    "token_counts": "mluke_jax.corpus.xlm_loader",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mluke_jax.corpus' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
