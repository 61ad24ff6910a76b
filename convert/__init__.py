"""The command lines: ``python -m convert SRC DST`` (transformers -> mluke-jax, or back with
``--to-hf``), ``python -m convert.prune_entities``, and the ``mluke-jax`` command (:mod:`convert.cli`).

The conversion itself is the library's (:mod:`mluke_jax.hf`); this package parses arguments,
reports progress and writes directories. In Python: ``convert.convert_checkpoint(src, dst)``.
"""

from mluke_jax.hf import convert_checkpoint, convert_in_memory

__all__ = ["convert_checkpoint", "convert_in_memory"]
