"""Evaluation per language, as cross-lingual papers report it (train on one language, evaluate
every language): several evaluation files, each example's language, the scores of each language,
their average (and the average without the training language) and a markdown table.

An example's language is its own (``language``: WikiANN's prefix, XNLI's column) or, where the
data has none, the name of the file it came from, so that ``--eval esp.testa ned.testa`` reports
each file.
"""

import dataclasses
import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax.finetune.tasks import Prepared


def eval_paths(specs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """``--eval`` values as files: a file, a directory (its files, sorted, hidden ones left out) or
    a glob pattern (what it matches, sorted, directories as their files; nothing matched is an
    error), e.g. ``x-final/*/test_2k.tsv`` or ``MLQA_V1/test``. A ``datasets`` source (``hf:...``,
    a ``save_to_disk`` directory) stays one value."""
    from mluke_jax import remote
    from mluke_jax.paths import is_remote, resolve

    specs = [specs] if isinstance(specs, str | os.PathLike) else list(specs)
    out: list[str] = []
    for spec in map(str, specs):
        if is_remote(spec):  # a bucket: the same rules through its file system
            matched = remote.glob(spec) if any(c in spec for c in "*?[") else [spec]
            if not matched:
                raise FileNotFoundError(f"--eval {spec} matches no file")
            for path in map(resolve, matched):
                directory = path.is_dir() and not _is_saved_dataset(path)
                out += _files_of(path) if directory else [os.fspath(path)]
        elif any(c in spec for c in "*?["):
            matched = sorted(glob.glob(os.path.expanduser(spec)))
            if not matched:
                raise FileNotFoundError(f"--eval {spec} matches no file")
            for path in matched:
                directory = Path(path).is_dir() and not _is_saved_dataset(Path(path))
                out += _files_of(Path(path)) if directory else [path]
        elif Path(spec).expanduser().is_dir() and not _is_saved_dataset(Path(spec).expanduser()):
            out += _files_of(Path(spec).expanduser())
        else:
            out.append(spec)
    if not out:
        raise FileNotFoundError(f"--eval {specs} holds no file")
    return out


def _is_saved_dataset(directory: Path) -> bool:
    from mluke_jax.finetune.hf_datasets import DATASET_MARKERS

    return any((directory / marker).is_file() for marker in DATASET_MARKERS)


def _files_of(directory: Path) -> list[str]:
    return sorted(os.fspath(p) for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def language_of(example: Any) -> str | None:
    """The example's language; MLQA's cross-lingual questions (asked in another language than
    their context's) as their file names say it, ``context-de-question-en``."""
    language = getattr(example, "language", None) or None
    asked_in = getattr(example, "question_language", None)
    if language and asked_in and asked_in != language:
        return f"context-{language}-question-{asked_in}"
    return language


def concatenated(per_file: list[tuple[str, list]]) -> tuple[list, dict[str, list[int]]]:
    """The examples of every file in one list (NER documents kept apart: each file's document
    numbers come after the previous file's) and the indices of each language's examples."""
    examples: list = []
    groups: dict[str, list[int]] = {}
    document_offset = 0
    for path, items in per_file:
        documents = [e.document for e in items if hasattr(e, "document")]
        for example in items:
            if hasattr(example, "document"):
                example = dataclasses.replace(example, document=example.document + document_offset)
            groups.setdefault(language_of(example) or Path(path).name, []).append(len(examples))
            examples.append(example)
        document_offset += max(documents) + 1 if documents else 0
    return examples, groups


def subset(prepared: Prepared, outputs: list[dict], indices: list[int]) -> tuple[Prepared, list[dict]]:
    """The features and outputs of the examples ``indices``, renumbered as a data set of their own
    (a feature's key is its example's index, or a tuple that starts with it)."""
    new = {old: n for n, old in enumerate(sorted(indices))}
    features, keys, kept = [], [], []
    for key, feature, out in zip(prepared.keys, prepared.features, outputs):
        old = key if isinstance(key, int | np.integer) else key[0]
        if old in new:
            keys.append(new[old] if isinstance(key, int | np.integer) else (new[old], *key[1:]))
            features.append(feature)
            kept.append(out)
    return Prepared(features, keys, [prepared.examples[i] for i in sorted(indices)]), kept


def average(per_language: dict[str, dict[str, float]], leave_out: str | None = None) -> dict[str, float]:
    """Each metric's mean over the languages (without ``leave_out``)."""
    chosen = [scores for language, scores in per_language.items() if language != leave_out]
    names = [k for k, v in chosen[0].items() if isinstance(v, int | float)] if chosen else []
    return {name: float(np.mean([scores[name] for scores in chosen])) for name in names}


def training_language(examples: list) -> str | None:
    """The one language of the training examples, or None (several, or none known)."""
    found = {language_of(e) for e in examples}
    return found.pop() if len(found) == 1 and None not in found else None


def table(result: dict[str, Any]) -> str:
    """``metrics.json``'s per-language scores as a markdown table: a row per language, then the
    average and the average without the training language."""
    per_language = result["per_language"]
    names = list(result["average"])
    rows = [("language", *names), ("---",) * (len(names) + 1)]
    for language, scores in per_language.items():
        rows.append((language, *(f"{scores[n]:.4g}" for n in names)))
    rows.append(("average", *(f"{result['average'][n]:.4g}" for n in names)))
    if "average_without_train_language" in result:
        without = result["average_without_train_language"]
        rows.append((f"average without {result['train_language']}", *(f"{without[n]:.4g}" for n in names)))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
