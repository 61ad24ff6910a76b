"""The recipes' data through Hugging Face ``datasets`` (the optional extra ``mluke-jax[datasets]``).

``--train`` / ``--eval`` take, besides the published files:

- ``hf:NAME[:CONFIG][@SPLIT]``: ``datasets.load_dataset(NAME, CONFIG, split=SPLIT)``, e.g.
  ``hf:xnli:de@test``, ``hf:wikiann:de@validation``, ``hf:facebook/mlqa:mlqa.de.en@test``. Online
  only, or from the ``datasets`` cache with ``HF_HUB_OFFLINE=1``; without a network the hub is
  asked once (no retries) and the error comes within seconds.
- a directory written by ``Dataset.save_to_disk`` (or ``DatasetDict.save_to_disk``, with
  ``@SPLIT`` after it when it holds several splits);
- a parquet file, or a JSON-lines file, with the hub's columns.

The hub's schemas: NER ``tokens`` + ``ner_tags`` (conll2003, wikiann, xtreme ``PAN-X.*``; tag names
from the ``ClassLabel`` feature, or the hub's conll2003 / wikiann order where a JSON-lines file has
bare numbers; ``langs`` gives the language); NLI ``premise`` / ``hypothesis`` / ``label`` (xnli);
PAWS-X ``sentence1`` / ``sentence2`` / ``label``; QA ``id`` / ``context`` / ``question`` /
``answers`` (squad, mlqa, xquad); relation and entity typing: TACRED's and Open Entity's own
fields. The language of an example is its row's (``langs``, ``language``), else the dataset's
configuration where that names one (``de``, ``PAN-X.de``, ``mlqa.de.en``, ``xquad.de``), else
``--language``. A hub dataset has no document markers: every NER sentence is read alone.
"""

import os
import re
from pathlib import Path
from typing import Any

from mluke_jax.finetune import readers
from mluke_jax.finetune.readers import DataError, PairExample, QAExample, Sentence

HF_SPEC = re.compile(r"^hf:(?P<name>[^:@]+)(?::(?P<config>[^@]+))?(?:@(?P<split>.+))?$")
DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
# the hub's tag ids where a file has bare numbers: conll2003's (wikiann's and PAN-X's are its first seven)
HUB_NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
HUB_XNLI_LABELS = ("entailment", "neutral", "contradiction")
# the columns each task needs, as the hub names them
COLUMNS = {
    "ner": ("tokens", "ner_tags"),
    "xnli": ("premise", "hypothesis", "label"),
    "paws-x": ("sentence1", "sentence2", "label"),
    "qa": ("id", "context", "question", "answers"),
    "relation": ("token", "subj_start", "subj_end", "obj_start", "obj_end", "relation"),
    "entity-typing": ("sent", "start", "end", "labels"),
}
SCHEMAS = {
    "ner": "conll2003 / wikiann / xtreme PAN-X",
    "xnli": "xnli",
    "paws-x": "paws-x",
    "qa": "squad / mlqa / xquad",
    "relation": "TACRED's",
    "entity-typing": "Open Entity's",
}


def is_dataset(spec: Any, task: str) -> bool:
    """Whether ``spec`` names a ``datasets`` source (see the module docstring) rather than a
    published file: an ``hf:`` name, a saved dataset directory, a parquet file, or a JSON-lines
    file whose first record has the hub's columns for ``task``."""
    text = str(spec)
    if text.startswith("hf:"):
        return True
    path = Path(os.path.expanduser(text.rsplit("@", 1)[0] if "@" in text else text))
    if path.is_dir():
        return any((path / marker).is_file() for marker in DATASET_MARKERS)
    if path.suffix == ".parquet":
        return True
    if path.suffix in (".jsonl", ".json") and path.is_file():
        return _first_record_has(path, COLUMNS.get(task, ()))
    return False


def read(task: str, spec: Any, language: str | None = None) -> list:
    """The examples of ``task`` in the dataset ``spec`` (``language``: for rows that name none)."""
    dataset, where = load(spec)
    missing = [c for c in COLUMNS[task] if c not in dataset.column_names]
    if missing:
        raise DataError(
            f"{where}: the dataset has the columns {dataset.column_names}, not {missing}: task {task} reads "
            f"{list(COLUMNS[task])} ({SCHEMAS[task]} schema)"
        )
    info = dataset.info
    language = _configured_language(getattr(info, "config_name", None), getattr(info, "dataset_name", None)) or (
        language
    )
    return CONVERTERS[task](dataset, where, language)


def load(spec: Any) -> tuple[Any, str]:
    """``(datasets.Dataset, a name for messages)`` of ``spec``."""
    try:
        import datasets
    except ImportError:
        raise ImportError(
            f"{spec} is a Hugging Face dataset: install the datasets extra, pip install 'mluke-jax[datasets]'"
        ) from None
    text = str(spec)
    if match := HF_SPEC.match(text):
        return _from_hub(datasets, match["name"], match["config"], match["split"]), text
    path, split = (text.rsplit("@", 1) if "@" in text and not Path(text).exists() else (text, ""))
    path = Path(os.path.expanduser(path))
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            loaded = _split_of(loaded, split or None, text)
        return loaded, text
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} not found")
    builder = datasets.Dataset.from_parquet if path.suffix == ".parquet" else datasets.Dataset.from_json
    return builder(str(path)), text


def _from_hub(datasets: Any, name: str, config: str | None, split: str | None) -> Any:
    if split is None:
        raise ValueError(f"hf:{name}{':' + config if config else ''}: name a split, e.g. hf:{name}:CONFIG@test")
    spec = f"hf:{name}{':' + config if config else ''}@{split}"
    offline = os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")
    if not offline:
        _check_hub(name, spec)
    # datasets reads HF_HUB_OFFLINE when first imported: a later setting must still stop its retries
    was_offline = datasets.config.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = was_offline or offline
    try:
        return datasets.load_dataset(name, config, split=split)
    except Exception as e:  # noqa: BLE001 - the library's errors come in many types
        reason = (str(e).splitlines() or [type(e).__name__])[0]
        hint = " (HF_HUB_OFFLINE is set: only datasets in the local cache load)" if offline else ""
        raise OSError(f"{spec}: load_dataset failed{hint}: {type(e).__name__}: {reason}") from None
    finally:
        datasets.config.HF_HUB_OFFLINE = was_offline


def _check_hub(name: str, spec: str) -> None:
    """One request to the hub (no retries), so that a machine without a network learns it in
    seconds rather than after ``datasets``' retries."""
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hub_errors

    from mluke_jax.hf.hub import HUB_TIMEOUT_SECONDS

    try:
        HfApi().dataset_info(name, timeout=HUB_TIMEOUT_SECONDS)
    except hub_errors.RepositoryNotFoundError:
        raise FileNotFoundError(f"{spec}: the hub has no dataset {name!r}") from None
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        reason = (str(e).splitlines() or [""])[0]
        raise OSError(
            f"{spec}: could not reach the Hugging Face hub ({type(e).__name__}: {reason}). Are you offline? Load it "
            "where you have internet and save it with Dataset(Dict).save_to_disk(DIR), then pass DIR (DIR@SPLIT), "
            "or set HF_HUB_OFFLINE=1 to use the datasets cache"
        ) from None


def _split_of(splits: Any, split: str | None, where: str) -> Any:
    if split is None and len(splits) == 1:
        return next(iter(splits.values()))
    if split not in splits:
        example = f"{where}@{next(iter(splits))}"
        raise ValueError(f"{where}: name one of its splits {list(splits)} after an @, e.g. {example}")
    return splits[split]


def _first_record_has(path: Path, columns: tuple[str, ...]) -> bool:
    import json

    if not columns:
        return False
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(record, dict) and all(c in record for c in columns)
    return False


def _configured_language(config: str | None, dataset: str | None) -> str | None:
    """The language a configuration names: ``de``, ``PAN-X.de``, ``mlqa.de.en`` (the context's),
    ``xquad.de``; None for others (``default``, ``conll2003``, ``all_languages``)."""
    if not config:
        return None
    if re.fullmatch(r"[a-z]{2,3}", config):
        return config
    match = re.fullmatch(r"(?:PAN-X|xquad|mlqa|PAWS-X|XNLI)\.([a-z]{2,3})(?:\.[a-z]{2,3})?", config)
    return match[1] if match else None


def _names(dataset: Any, column: str, fallback: tuple[str, ...]) -> tuple[str, ...] | None:
    """The ``ClassLabel`` names of ``column`` (or of its items), else ``fallback``."""
    feature = dataset.features[column]
    feature = getattr(feature, "feature", feature)  # a Sequence / List of ClassLabel
    return tuple(feature.names) if hasattr(feature, "names") else fallback


def _label(value: Any, names: tuple[str, ...] | None, where: str, number: int) -> str | None:
    """A label as its name; None for the hub's ``-1`` (no label)."""
    if isinstance(value, str):
        return value
    if value == -1:
        return None
    if names is None or not 0 <= int(value) < len(names):
        raise DataError(f"{where}: row {number}: label {value!r} has no name (the dataset's names: {names})")
    return names[int(value)]


def _ner(dataset, where, language):
    names = _names(dataset, "ner_tags", HUB_NER_TAGS)
    out = []
    for number, row in enumerate(dataset, 1):
        tags = [_label(t, names, where, number) for t in row["ner_tags"]]
        if len(tags) != len(row["tokens"]):
            raise DataError(f"{where}: row {number}: {len(row['tokens'])} tokens but {len(tags)} ner_tags")
        for tag in tags:
            if tag != "O" and not (tag[:2] in ("B-", "I-", "E-", "S-") and len(tag) > 2):
                raise DataError(f"{where}: row {number}: tag {tag!r} is not O, B-TYPE, I-TYPE, E-TYPE or S-TYPE")
        row_language = (row.get("langs") or [None])[0] or language
        entities = readers._entities_of(tags, where, number)
        out.append(Sentence(list(row["tokens"]), entities, number - 1, row_language))
    return out


def _pairs(first: str, second: str, fallback: tuple[str, ...] | None):
    def convert(dataset, where, language):
        names = _names(dataset, "label", fallback)
        out, unlabelled = [], 0
        for number, row in enumerate(dataset, 1):
            label = _label(row["label"], names, where, number)
            if label is None:
                unlabelled += 1
                continue
            out.append(PairExample(row[first], row[second], label, row.get("language") or language))
        return readers.Examples(out, skipped=unlabelled)

    return convert


def _qa(dataset, where, language):
    info = dataset.info
    config = getattr(info, "config_name", None) or ""
    mlqa = re.fullmatch(r"mlqa\.([a-z]{2})\.([a-z]{2})", config)
    out = []
    for row in dataset:
        answers = row["answers"]
        pairs = [(str(t), int(s)) for t, s in zip(answers["text"], answers["answer_start"])]
        example = QAExample(
            str(row["id"]),
            row["question"],
            row["context"],
            pairs,
            mlqa[1] if mlqa else language,
            mlqa[2] if mlqa else language,
            "mlqa" if mlqa else "squad",
        )
        out.append(readers.check_answers(example, where))
    return out


CONVERTERS = {
    "ner": _ner,
    "xnli": _pairs("premise", "hypothesis", HUB_XNLI_LABELS),
    "paws-x": _pairs("sentence1", "sentence2", ("0", "1")),
    "qa": _qa,
    "relation": lambda dataset, where, language: readers.tacred_examples(list(enumerate(dataset, 1)), where, "row"),
    "entity-typing": lambda dataset, where, language: readers.open_entity_examples(
        list(enumerate(dataset, 1)), where, "row"
    ),
}
