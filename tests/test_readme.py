"""Every ```python and ```bash block of README.md and docs/api.md, run as written, in document order,
in one fresh working directory (as a user goes through the README from a clone's root).

What the test prepares, so that the blocks find what they name:

- Hub names are served from a Hugging Face cache that this test fills (``HF_HUB_CACHE``, with
  ``HF_HUB_OFFLINE=1``): ``studio-ousia/mluke-base-lite`` is a small random transformers
  ``LukeForMaskedLM`` with the test tokenizer (``tests/data/mluke_tokenizer``: a multilingual
  sentencepiece model and entity vocabulary) and ``FacebookAI/xlm-mlm-ende-1024`` a small random
  ``XLMWithLMHeadModel`` (German and English) with a BPE tokenizer learned from the generated corpus;
  ``studio-ousia/luke-large-finetuned-conll-2003`` a small random ``LukeForEntitySpanClassification``
  with CoNLL's five labels and the English LUKE test tokenizer (``tests/data/luke_tokenizer``).
- Local names: ``path/to/transformers_dir`` (the mLUKE checkpoint), ``mlm_ende_1024.pth`` (the XLM
  model written as facebookresearch/XLM saves it), ``mluke-jax-dir`` (the mLUKE checkpoint
  converted), ``my_entities.txt``, ``{en,de,ja}wiki-latest-pages-articles.xml.bz2`` (tiny dumps),
  ``latest-all.json.bz2`` (a tiny Wikidata), ``news.{en,de}.txt`` and ``europarl.en-de.{en,de}``
  (generated text), and
  ``tests/data/finetune`` (the repository's tiny data).
- ``gs://my-bucket`` is a bucket of a real GCS emulator (``fake-gcs-server``, ``tests/gcs_emulator.py``)
  that this test starts on 127.0.0.1, with every block's client libraries pointed at it.
- The Quick start's ``python3 -m venv .venv && .venv/bin/pip install ...`` is the environment this
  test runs in; the rest of the command runs with ``.venv/bin/`` meaning this environment's.

A block preceded by ``<!-- readme-test: skip (REASON) -->`` is not run; the reason must name what
covers it instead (the test command itself, a multi-host run, the benchmarks).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "api.md")
BLOCK = re.compile(
    r"(?:<!-- readme-test: skip \((?P<skip>.*?)\) -->\n)?^```(?P<lang>python|bash)\n(?P<code>.*?)^```$", re.S | re.M
)
HUB_COMMIT = "0" * 40

# the blocks run in document order in one workspace: one xdist worker runs this file (--dist loadfile in pyproject)
pytestmark = pytest.mark.torch


def document_blocks() -> list[tuple[str, str, str, str | None]]:
    """``(id, language, code, skip reason)`` of every python/bash block, in document order."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("code"))
            found.append((f"{path.name}:{line}", match["lang"], match["code"], match["skip"]))
    return found


BLOCKS = document_blocks()
RUN = [b for b in BLOCKS if b[3] is None]


def test_the_documents_have_examples_and_skips_say_why():
    assert len(RUN) >= 10, [b[0] for b in RUN]
    for where, _, _, reason in BLOCKS:
        if reason is not None:
            assert len(reason) > 20, f"{where}: a skipped block must say why and what covers it"


def _cache_repo(cache: Path, repo_id: str, source: Path) -> None:
    """``source``'s files as the cached snapshot of ``repo_id`` (the layout huggingface_hub reads offline)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(HUB_COMMIT)
    shutil.copytree(source, repo / "snapshots" / HUB_COMMIT)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    pytest.importorskip("torch")
    from corpus.wikidata import write_wikidata_json

    from helpers import (
        DE_PAGES,
        EN_PAGES,
        JA_PAGES,
        LUKE_TOKENIZER_DATA,
        convert,
        copy_luke_tokenizer,
        hf_luke,
        hf_xlm,
        save_hf,
        save_luke_with_test_tokenizer,
        save_original_xlm,
        write_dump,
    )
    from mluke_jax.testing.toy_data import multilingual_sentences, write_toy_xlm_tokenizer

    build = tmp_path_factory.mktemp("readme-sources")
    mluke = save_luke_with_test_tokenizer(
        build / "mluke",
        "LukeForMaskedLM",
        hidden_size=48,
        entity_emb_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=514,  # as mluke-base-lite: the corpus examples are up to 512 tokens
        type_vocab_size=1,
    )
    tokenizer = write_toy_xlm_tokenizer(build / "xlm-tokenizer", sentences=1500, merges=300)
    settings = json.loads((tokenizer / "tokenizer_config.json").read_text(encoding="utf-8"))
    settings.update(lang2id={"de": 0, "en": 1}, id2lang={"0": "de", "1": "en"})
    (tokenizer / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    vocab = json.loads((tokenizer / "vocab.json").read_text(encoding="utf-8"))
    model = hf_xlm(
        "XLMWithLMHeadModel",
        vocab_size=len(vocab),
        emb_dim=32,
        n_layers=2,
        n_heads=4,
        n_langs=2,
        lang2id={"de": 0, "en": 1},
        max_position_embeddings=64,
    )
    xlm = save_hf(model, build / "xlm")
    for path in tokenizer.iterdir():
        shutil.copy(path, xlm / path.name)

    conll = save_hf(
        hf_luke(
            "LukeForEntitySpanClassification",
            vocab_size=len(json.loads((LUKE_TOKENIZER_DATA / "vocab.json").read_text(encoding="utf-8"))) + 2,
            entity_vocab_size=10,
            num_labels=5,
            id2label={0: "NIL", 1: "MISC", 2: "PER", 3: "ORG", 4: "LOC"},
            label2id={"NIL": 0, "MISC": 1, "PER": 2, "ORG": 3, "LOC": 4},
        ),
        build / "luke-conll",
    )
    copy_luke_tokenizer(conll, task="entity_span_classification")

    work = tmp_path_factory.mktemp("readme-user")
    cache = work.parent / f"{work.name}-hub-cache"
    _cache_repo(cache, "studio-ousia/mluke-base-lite", mluke)
    _cache_repo(cache, "FacebookAI/xlm-mlm-ende-1024", xlm)
    _cache_repo(cache, "studio-ousia/luke-large-finetuned-conll-2003", conll)
    shutil.copytree(mluke, work / "path" / "to" / "transformers_dir")
    save_original_xlm(model, work / "mlm_ende_1024.pth")
    convert(mluke, work / "mluke-jax-dir")
    (work / "my_entities.txt").write_text("en:Tokyo\nde:Köln\nja:東京\n", encoding="utf-8")
    write_dump(work / "enwiki-latest-pages-articles.xml.bz2", "en", EN_PAGES * 50)
    write_dump(work / "dewiki-latest-pages-articles.xml.bz2", "de", DE_PAGES * 30)
    write_dump(work / "jawiki-latest-pages-articles.xml.bz2", "ja", JA_PAGES * 30)
    write_wikidata_json(work / "latest-all.json.bz2")
    sentences = multilingual_sentences(6000, seed=3)
    for language in ("en", "de"):
        text = "".join(s.text + "\n" for s in sentences if s.language == language)
        (work / f"news.{language}.txt").write_text(text, encoding="utf-8")
    english = [s.text for s in sentences if s.language == "en"][:300]
    german = [s.text for s in sentences if s.language == "de"][:300]
    (work / "europarl.en-de.en").write_text("\n".join(english) + "\n", encoding="utf-8")
    (work / "europarl.en-de.de").write_text("\n".join(german) + "\n", encoding="utf-8")
    (work / "tests" / "data").mkdir(parents=True)
    shutil.copytree(ROOT / "tests" / "data" / "finetune", work / "tests" / "data" / "finetune")
    from gcs_emulator import FakeGCS

    server = FakeGCS()
    server.create_bucket("my-bucket")
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **server.env,
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    env.pop("PYTHONPATH", None)
    yield work, env, bin_dir
    server.stop()


def as_run_here(code: str, bin_dir: str) -> str:
    """The Quick start's set-up is this test's environment: drop it, and read .venv/bin/ as ours."""
    code = re.sub(r"python3 -m venv \.venv && \.venv/bin/pip install [^&]*&& ", "", code)
    return code.replace(".venv/bin/", bin_dir + "/")


@pytest.mark.parametrize("where, lang, code, skip", RUN, ids=[b[0] for b in RUN])
def test_block_runs_as_written(where, lang, code, skip, workspace):
    work, env, bin_dir = workspace
    if lang == "bash":
        command = ["bash", "-e", "-o", "pipefail", "-c", as_run_here(code, bin_dir)]
    else:
        command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"{where} ({lang}) failed:\n{code}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"
    )
    print(f"{where}: ok\n{result.stdout[-1500:]}")
