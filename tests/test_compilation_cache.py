"""enable_compilation_cache(): a second process loads the compiled forward instead of compiling it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mluke_jax

CHILD = """
import json, sys
import jax
from jax._src import monitoring
hits = []
def count_hits(event, **kw):
    if event == "/jax/compilation_cache/cache_hits":
        hits.append(event)
monitoring.register_event_listener(count_hits)
jax.jit(lambda x: jax.numpy.sin(x) * 2)(jax.numpy.ones(3)).block_until_ready()  # compiled before the cache is on
import mluke_jax
sys.path.insert(0, sys.argv[2])
from helpers import TINY_LUKE, luke_inputs
path = mluke_jax.enable_compilation_cache(sys.argv[1], min_compile_seconds=0)
model = mluke_jax.LukeModel.build(mluke_jax.LukeConfig(**TINY_LUKE))
jax.block_until_ready(model(**luke_inputs(TINY_LUKE)))
print(json.dumps({"path": str(path), "hits": len(hits)}))
"""


def run_child(cache: str, cwd: Path) -> dict:
    tests = str(Path(__file__).resolve().parent)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, cache, tests], cwd=cwd, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_reads_the_compiled_programs(tmp_path):
    first = run_child("xla-cache", tmp_path)  # a relative directory, made on the spot
    assert first["path"] == str(tmp_path / "xla-cache") and first["hits"] == 0
    entries = sorted(p.name for p in (tmp_path / "xla-cache").iterdir())
    assert entries, "nothing was written to the cache"
    second = run_child("xla-cache", tmp_path)
    assert second["hits"] >= 1, "the second process compiled everything again"


def test_a_file_is_not_a_cache_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        mluke_jax.enable_compilation_cache(tmp_path / "file")
