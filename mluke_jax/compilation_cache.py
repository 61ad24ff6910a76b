"""JAX's persistent compilation cache, for notebooks and scripts that start new Python processes.

Every process compiles a model's forward anew the first time it sees an input shape (seconds for
a full-size model, see ``benchmarks/RESULTS.md``). With the cache on, the compiled program is
written to disk and a later process with the same model, shapes, jax version and machine loads
it instead of compiling.

    import mluke_jax
    mluke_jax.enable_compilation_cache()          # ~/.cache/mluke_jax/xla, or $MLUKE_JAX_CACHE_DIR
    model = mluke_jax.LukeModel.from_pretrained("converted")
    model(**inputs)                               # compiles once per shape, ever

It is plain JAX configuration (``jax_compilation_cache_dir`` and the minimum compile time worth
caching), so ``jax.config.update`` or the ``JAX_COMPILATION_CACHE_DIR`` environment variable do
the same; this function also takes effect when something was already compiled in the process or
another cache directory was in use.
"""

import os
from pathlib import Path

import jax

from mluke_jax.paths import local_path

DEFAULT_DIRECTORY = Path("~/.cache/mluke_jax/xla")


def enable_compilation_cache(directory: str | os.PathLike | None = None, *, min_compile_seconds: float = 0.5) -> Path:
    """Cache compiled programs under ``directory`` (made if missing) and return its absolute path.

    Args:
        directory: where to keep them; default ``$MLUKE_JAX_CACHE_DIR``, else ``~/.cache/mluke_jax/xla``.
        min_compile_seconds: programs that compile faster than this are not written (the many
            tiny programs of eager operations would cost more to store than to compile).
    """
    chosen = directory if directory is not None else os.environ.get("MLUKE_JAX_CACHE_DIR") or DEFAULT_DIRECTORY
    path = local_path(chosen)
    if path.exists() and not path.is_dir():
        raise ValueError(f"compilation cache directory {path} is a file")
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # JAX opens its cache directory once per process (and, in some versions, decides at the first
    # compilation whether a cache is used at all): reset it so that this directory takes effect.
    try:
        from jax._src import compilation_cache
    except ImportError:  # pragma: no cover - a jax without the module keeps its own decision
        return path
    compilation_cache.reset_cache()
    return path
