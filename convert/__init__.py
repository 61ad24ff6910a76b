"""Converters from transformers (PyTorch) checkpoints to mluke-jax (Orbax) directories.

``python -m convert SRC DST [--dtype float32|bfloat16]``; in Python, :func:`convert_checkpoint`.
"""

from convert.driver import convert_checkpoint, convert_in_memory

__all__ = ["convert_checkpoint", "convert_in_memory"]
