"""Pretraining corpora: Wikipedia dumps (and later plain and parallel text) to training examples.

Stages, each a subcommand of ``python -m mluke_jax.corpus``:

1. ``wikipedia``: a MediaWiki dump to annotated paragraphs (:mod:`mluke_jax.corpus.wikipedia`).
"""
