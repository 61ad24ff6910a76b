"""transformers checkpoints: reading them (safetensors, ``.bin``, original XLM ``.pth``, the hub),
the parameter-name tables of each model family, and the conversion into JAX parameters.

``from_pretrained`` on a transformers directory or hub name converts in memory through
:func:`convert_in_memory`; ``python -m convert SRC DST`` writes a mluke-jax directory through
:func:`convert_checkpoint`. Submodules: ``readers`` (tensor files), ``hub`` (local path or hub
download), ``rules`` (the mapping machinery), ``luke`` / ``xlm`` (the tables), ``xlm_original``
(facebookresearch/XLM checkpoints), ``conversion`` (the drivers).
"""

from mluke_jax.hf.conversion import Converted, convert_checkpoint, convert_in_memory
from mluke_jax.hf.hub import resolve_source

__all__ = ["Converted", "convert_checkpoint", "convert_in_memory", "resolve_source"]
