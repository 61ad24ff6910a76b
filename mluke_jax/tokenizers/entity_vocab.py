"""Entity vocabularies: transformers' ``entity_vocab.json`` and the original LUKE formats.

- ``entity_vocab.json`` (transformers): ``{"[MASK]": 0, "en:Tokyo": 5, ...}``; mLUKE titles carry
  their language (``"lang:title"``), the special entities are bare.
- ``*.jsonl`` (original mLUKE): one object per line, ``{"id": 5, "entities": [["Tokyo", "en"],
  ["東京", "ja"]], "count": 42}``. Read as transformers' converter reads it: every title as
  ``"lang:title"``, a special entity under its bare name, and ``[MASK2]`` appended after the largest
  id when absent (the converter gives it a copy of ``[MASK]``'s embedding).
- ``*.tsv`` (original English LUKE): ``title<TAB>count`` lines, the id is the line number.
"""

import json
import os
from pathlib import Path

SPECIAL_ENTITIES = ("[PAD]", "[UNK]", "[MASK]", "[MASK2]")


def read_entity_vocab(path: str | os.PathLike) -> dict[str, int]:
    """Name -> id from any of the three formats (chosen by the file name's ending); ``path`` may be
    in a bucket (read from a local copy)."""
    from mluke_jax.paths import is_remote, local_copy

    path = local_copy(path) if is_remote(path) else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"entity vocabulary {path} not found")
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    if path.suffix == ".tsv":
        vocab = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            title = line.rsplit("\t", 1)[0]
            vocab.setdefault(title, number)
        return vocab
    vocab = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
        raise ValueError(f"{path} is not an entity vocabulary: expected a JSON object of name -> integer id")
    return vocab


def _read_jsonl(path: Path) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            entity_id, names = int(item["id"]), item["entities"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{number}: not an mLUKE entity line with 'id' and 'entities' ({e})") from None
        for title, language in names:
            if title in SPECIAL_ENTITIES:
                vocab[title] = entity_id
                break
            vocab[f"{language}:{title}"] = entity_id
    if "[MASK2]" not in vocab and vocab:
        vocab["[MASK2]"] = max(vocab.values()) + 1
    return vocab


def write_entity_vocab(vocab: dict[str, int], path: str | os.PathLike) -> None:
    """transformers' ``entity_vocab.json`` (sorted names, as its tokenizer writes it)."""
    Path(path).write_text(json.dumps(vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def find_entity_vocab(directory: str | os.PathLike) -> Path:
    """``entity_vocab.json``, else ``entity_vocab.jsonl`` / ``entity_vocab.tsv`` in ``directory``."""
    directory = Path(directory)
    for name in ("entity_vocab.json", "entity_vocab.jsonl", "entity_vocab.tsv"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"{directory} has no entity vocabulary (entity_vocab.json, entity_vocab.jsonl or entity_vocab.tsv)"
    )
