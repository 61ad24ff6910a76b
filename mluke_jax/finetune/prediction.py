"""Predictions on raw text with a fine-tuned model: ``python -m mluke_jax.finetune predict TASK``
and :func:`predict` / :class:`Predictor`.

Input: one record per line, a JSON object or (``ner``) a plain text, (``xnli``, ``paws-x``) two
texts separated by a tab; blank lines are skipped:

- ``ner``: ``{"text": ...}``. The text is cut into words (letters and digits, or one other
  character), every run of up to ``max_span_words`` words is a candidate span (all of them found
  in one vectorised pass), and the spans are classified in one forward pass per
  ``max_entities`` of them; the decoded entities do not overlap (highest score first, as LUKE).
- ``relation``: ``{"text", "head": [start, end], "tail": [start, end]}`` (character offsets).
- ``entity-typing``: ``{"text", "span": [start, end]}``.
- ``qa``: ``{"question", "context"}``; long contexts are read in windows (``doc_stride``); the
  answer is the whitespace-separated words its tokens fall in, without punctuation at its edges.
- ``xnli``: ``{"premise", "hypothesis"}`` (XLM: and ``"language"``).
- ``paws-x``: ``{"sentence1", "sentence2"}`` (XLM: and ``"language"``), or ``sentence1<TAB>sentence2``.

Other fields of a record (an ``"id"``, a ``"language"``) are copied to its prediction; a record
without a ``"language"`` gets ``PredictSettings.language`` (``--language``) where one is set, so
that the predictions of a multilingual file can be grouped by language. Output: one JSON object per
record, with its ``line``: ``entities`` (``start``, ``end``, ``text``, ``label``, ``score``),
``label`` and ``score``, ``labels`` and ``scores``, or ``answer``, ``start``, ``end``, ``score``.
Character offsets index the record's own text (end exclusive).

Batches have a few fixed shapes: the word axis is padded to the smallest of the length
``buckets`` (32, 64, 128, ... up to ``max_length``) that holds it, the entity axis to the task's
width, the batch to ``batch_size``; so a file of mixed lengths compiles the model at most once
per bucket. A malformed line is reported with its file and line and the other lines are still
predicted.
"""

import dataclasses
import json
import re
import sys
import time
import unicodedata
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax.finetune import qa
from mluke_jax.finetune.readers import QAExample
from mluke_jax.finetune.tasks import TASKS, Settings, _pieces, _word_token_counts, non_overlapping
from mluke_jax.progress import progress_bar
from mluke_jax.text_files import read_text
from mluke_jax.warn import warn

WORD = re.compile(r"\w+|[^\w\s]")  # a word: letters and digits, or one other visible character
FIELDS = {
    "ner": ("text",),
    "relation": ("text", "head", "tail"),
    "entity-typing": ("text", "span"),
    "qa": ("question", "context"),
    "xnli": ("premise", "hypothesis"),
    "paws-x": ("sentence1", "sentence2"),
}
WORD_AXIS = ("input_ids", "attention_mask", "token_type_ids", "langs")


@dataclasses.dataclass
class PredictSettings:
    """How raw text becomes batches (see the module docstring)."""

    batch_size: int = 16
    max_length: int = 512  # longest word sequence; capped by the model's positions
    buckets: tuple[int, ...] | None = None  # default: 32, 64, 128, ... up to max_length
    max_entities: int = 128  # ner: candidate spans per forward pass; qa: linked entities per window
    max_span_words: int = 8  # ner: longest candidate span, in words
    doc_stride: int = 128  # qa
    max_question_tokens: int = 64  # qa
    max_answer_tokens: int = 30  # qa
    entities: str = "none"  # qa: "auto" links question and context with mention_db
    mention_db: str | None = None  # qa
    language: str | None = None  # qa linking; xnli with XLM: records without a "language"
    bf16: bool = False  # bfloat16 compute (float32 accumulation), as on TPUs and GPUs

    def __post_init__(self):
        for name in ("batch_size", "max_entities", "max_span_words", "max_answer_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {self.max_length}")

    def length_buckets(self) -> tuple[int, ...]:
        if self.buckets:  # the longest is always max_length: every row fits one
            return tuple(sorted({b for b in self.buckets if 0 < b < self.max_length} | {self.max_length}))
        out, size = [], 32
        while size < self.max_length:
            out.append(size)
            size *= 2
        return (*out, self.max_length)


@dataclasses.dataclass
class Predictions:
    """``records``: one prediction per predicted line, in input order; ``errors``: ``"FILE:LINE:
    why"`` of each line that could not be predicted; ``shapes``: the batch shapes the model ran."""

    records: list[dict[str, Any]]
    errors: list[str]
    shapes: set[tuple[int, int]]
    seconds: float


class LineError(ValueError):
    pass


class UntrainedHeadError(ValueError):
    """The model directory has no trained head for the task: its predictions would be random."""


def _trained_head(head: type, model: str, task: str, changes: dict[str, Any]) -> Any:
    """``head`` loaded from ``model``, refused when any of its parameters would be initialised
    (a pretraining output, a bare encoder, another task's head): a new head predicts noise."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded, info = head.from_pretrained(model, output_loading_info=True, **changes)
    if info["missing_keys"]:
        missing = info["missing_keys"]
        listed = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        remedy = (
            "use a checkpoint with its masked-LM head (a released mLUKE / XLM model, or one pretrained with python "
            "-m mluke_jax.pretrain)"
            if task == "fill-mask"
            else f"fine-tune it first, python -m mluke_jax.finetune {task} --model {model} --train FILE --eval FILE "
            "--output OUT, then predict with --model OUT/model"
        )
        raise UntrainedHeadError(
            f"{model} has no trained {head.__name__} head (its parameters {listed} are not in the checkpoint, so "
            f"they would be random and every prediction meaningless): {remedy}"
        )
    for warning in caught:  # the others (none expected) reach the caller, attributed to its line as before
        warn(str(warning.message), warning.category)
    return loaded


class Predictor:
    """A fine-tuned model and its tokenizer, loaded once, for :meth:`predict` calls.

    Args:
        task: ``ner``, ``relation``, ``entity-typing``, ``qa``, ``xnli`` or ``paws-x``.
        model: a model directory written by the recipe (``OUT/model``) or any directory / hub
            name holding the task's head (e.g. ``studio-ousia/luke-large-finetuned-conll-2003``).
        settings: :class:`PredictSettings`.
    """

    def __init__(self, task: str, model: str, settings: PredictSettings | None = None):
        import mluke_jax
        from mluke_jax.finetune.run import load_tokenizer, model_family

        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}: choose one of {sorted(TASKS)}")
        self.task, self.settings = task, settings or PredictSettings()
        family = model_family(model)
        heads = TASKS[task].heads
        if family not in heads:
            raise ValueError(
                f"task {task} needs an mLUKE / LUKE model (its head is {heads['luke']}); {model} is {family}"
            )
        changes = {"dtype": "bfloat16"} if self.settings.bf16 else {}
        self.model = _trained_head(getattr(mluke_jax, heads[family]), model, task, changes)
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions:
            limit = positions - 2 if family == "luke" else positions  # RoBERTa's positions start after <pad>
            self.settings = dataclasses.replace(self.settings, max_length=min(self.settings.max_length, limit))
        recipe = Settings(
            max_length=self.settings.max_length,
            max_entities=self.settings.max_entities,
            doc_stride=self.settings.doc_stride,
            max_question_tokens=self.settings.max_question_tokens,
            entities=self.settings.entities,
            mention_db=self.settings.mention_db,
            language=self.settings.language,
        )
        self._recipe = recipe
        self.tokenizer = load_tokenizer(model, family, task, recipe)
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    # ------------------------------------------------------------------------ reading
    def read(self, source: str | Path | Iterable[str | dict]) -> tuple[list[tuple[int, dict]], list[str]]:
        """``(line number, record)`` of every usable line and the errors of the others; ``source``
        a file, or the records / lines themselves (numbered from 1)."""
        name = _source_name(source)
        if isinstance(source, (str, Path)):
            from mluke_jax.paths import is_remote, local_copy

            path = local_copy(source) if is_remote(source) else Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"input file {path} not found")
            # "\n" only: JSON holds U+2028 and other line separators unescaped; a BOM is dropped
            lines = [line.rstrip("\r") for line in read_text(path).split("\n")]
            if lines and lines[-1] == "":
                lines.pop()
        else:
            lines = list(source)
        records, errors = [], []
        for number, line in enumerate(lines, 1):
            try:
                record = self._record(line)
            except LineError as e:
                errors.append(f"{name}:{number}: {e}")
                continue
            if record is not None:
                records.append((number, record))
        return records, errors

    def _record(self, line: str | dict) -> dict | None:
        fields = FIELDS[self.task]
        if isinstance(line, dict):
            record = dict(line)
        elif not line.strip():
            return None
        elif line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise LineError(f"not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise LineError("a JSON line must be an object")
        elif self.task == "ner":
            record = {"text": line}
        elif self.task in ("xnli", "paws-x") and "\t" in line:
            first, _, second = line.partition("\t")
            record = dict(zip(fields, (first, second)))
        else:
            raise LineError(f"expected a JSON object with {', '.join(fields)}")
        missing = [f for f in fields if f not in record]
        if missing:
            raise LineError(
                f"the record lacks {', '.join(repr(m) for m in missing)} (a {self.task} record has {fields})"
            )
        for field in fields:
            value = record[field]
            if field in ("head", "tail", "span"):
                record[field] = _span(value, record["text"], field)
            elif not isinstance(value, str):
                raise LineError(f"{field!r} must be a string, got {type(value).__name__}")
            elif not value.strip():
                raise LineError(f"{field!r} is empty")
        return record

    # ----------------------------------------------------------------------- predicting
    def predict(self, source: str | Path | Iterable[str | dict], *, progress: bool = False) -> Predictions:
        """Predictions of every record of ``source`` (a file, or records / lines)."""
        started = time.perf_counter()
        records, errors = self.read(source)
        rows, owners = [], []
        for index, (number, record) in enumerate(records):
            try:
                found = getattr(self, "_rows_" + self.task.replace("-", "_"))(record)
            except LineError as e:
                errors.append(f"{_source_name(source)}:{number}: {e}")
                continue
            rows += [row for row, _ in found]
            owners += [(index, key) for _, key in found]
        outputs, shapes = self._run(rows, progress)
        per_record: dict[int, list] = {}
        for (index, key), row, out in zip(owners, rows, outputs):
            per_record.setdefault(index, []).append((key, row, out))
        decode = getattr(self, "_decode_" + self.task.replace("-", "_"))
        out_records = []
        for index, (number, record) in enumerate(records):
            if index in per_record:
                extra = {k: v for k, v in record.items() if k not in FIELDS[self.task]}
                if self.settings.language and not extra.get("language"):
                    extra["language"] = self.settings.language  # the language the record was read in
                out_records.append({"line": number, **extra, **decode(record, per_record[index])})
        errors.sort(key=_line_of)
        return Predictions(out_records, errors, shapes, time.perf_counter() - started)

    def _run(self, rows: list[dict], progress: bool) -> tuple[list[dict], set]:
        """Model outputs of every row, in batches of a few fixed shapes."""
        buckets = self.settings.length_buckets()
        by_bucket: dict[int, list[int]] = {}
        for n, row in enumerate(rows):
            length = int(np.sum(row["attention_mask"]))
            bucket = next((b for b in buckets if b >= length), None)
            if bucket is None:  # cannot happen: every task cuts its rows to max_length
                raise AssertionError(f"a row of {length} tokens is longer than the largest bucket {buckets[-1]}")
            by_bucket.setdefault(bucket, []).append(n)
        size = self.settings.batch_size
        batches = [(b, ns[i : i + size]) for b, ns in sorted(by_bucket.items()) for i in range(0, len(ns), size)]
        outputs: list[dict | None] = [None] * len(rows)
        shapes = set()
        for bucket, numbers in progress_bar(batches, desc=f"predicting {self.task}", enabled=progress, unit="batch"):
            chunk = [self._padded(rows[n], bucket) for n in numbers]
            chunk += [chunk[0]] * (size - len(chunk))
            batch = {k: np.stack([r[k] for r in chunk]) for k in chunk[0]}
            shapes.add((size, bucket))
            out = self.model(**batch)
            fields = {
                name: np.asarray(getattr(out, name))
                for name in ("logits", "start_logits", "end_logits")
                if getattr(out, name, None) is not None
            }
            for i, n in enumerate(numbers):
                outputs[n] = {k: v[i] for k, v in fields.items()}
        return outputs, shapes

    def _padded(self, row: dict, length: int) -> dict[str, np.ndarray]:
        out = {}
        for key, value in row.items():
            value = np.asarray(value)
            if key in WORD_AXIS:
                fill = self.tokenizer.pad_token_id if key == "input_ids" else (value[-1] if key == "langs" else 0)
                value = value[:length]
                value = np.concatenate([value, np.full(length - len(value), fill, value.dtype)])
            out[key] = value.astype(np.int32)
        return out

    # --------------------------------------------------------------- per task: rows
    def _rows_ner(self, record):
        text = record["text"]
        words = [m.span() for m in WORD.finditer(text)]
        if not words:
            raise LineError("the text has no words")
        counts = _word_token_counts(self.tokenizer, [" " + text[a:b] for a, b in words])
        # a character the tokenizer drops (a zero-width space) is no word
        words, counts = [w for w, n in zip(words, counts) if n], [n for n in counts if n]
        if not words:
            raise LineError("the text has no words the tokenizer keeps")
        rows = []
        for a, b in _pieces(counts, self.settings.max_length - 2):  # a text longer than fits: in pieces
            rows += self._ner_piece_rows(text, words[a:b])
        return rows

    def _ner_piece_rows(self, text: str, words: list[tuple[int, int]]) -> list:
        """Rows of the candidate spans of ``words`` (character spans in ``text``), read as one
        piece of text; halved when its words come out longer together than counted apart."""
        settings = self.settings
        offset = words[0][0]
        piece = text[offset : words[-1][1]]
        starts, ends = _candidate_spans(len(words), settings.max_span_words)
        char_starts = np.array([w[0] for w in words])[starts] - offset
        char_ends = np.array([w[1] for w in words])[ends] - offset
        spans = list(zip(char_starts.tolist(), char_ends.tolist()))
        rows = []
        for first in range(0, len(spans), settings.max_entities):
            group = spans[first : first + settings.max_entities]
            encoded = self._tokenize(
                piece,
                entity_spans=group,
                task="entity_span_classification",
                max_entity_length=settings.max_entities,
                padding="max_length",
                max_length=settings.max_length,
                truncation=True,
                return_tensors="np",
            )
            row = {k: v[0] for k, v in encoded.items()}
            if int(row["entity_attention_mask"].sum()) < len(group):  # truncation cut a mention
                if len(words) == 1:
                    raise LineError(f"the word {piece!r} alone has more tokens than max_length {settings.max_length}")
                half = len(words) // 2
                return self._ner_piece_rows(text, words[:half]) + self._ner_piece_rows(text, words[half:])
            rows.append((row, [(s + offset, e + offset) for s, e in group]))
        return rows

    def _rows_relation(self, record):
        return [
            (self._entity_row(record["text"], [record["head"], record["tail"]], "entity_pair_classification"), None)
        ]

    def _rows_entity_typing(self, record):
        return [(self._entity_row(record["text"], [record["span"]], "entity_classification"), None)]

    def _entity_row(self, text, spans, task):
        encoded = self._tokenize(
            text,
            entity_spans=spans,
            task=task,
            truncation=True,
            max_length=self.settings.max_length,
            padding="max_length",
            return_tensors="np",
        )
        row = {k: v[0] for k, v in encoded.items()}
        if int(row["entity_attention_mask"].sum()) < len(spans):
            raise LineError(f"an entity lies beyond max_length {self.settings.max_length} tokens")
        return row

    def _rows_qa(self, record):
        context = record["context"]
        # whitespace-separated words: cutting there leaves the context's tokens as training saw them
        words = [m.span() for m in re.finditer(r"\S+", context)]
        example = QAExample(str(record.get("id", "")), record["question"], context, [])
        linker, language = qa.linker_for(self._recipe, self.tokenizer)
        try:
            features, keys, word_tokens = qa.question_features(
                example, self.tokenizer, self._recipe, False, linker, language, cut_at=words
            )
        except ValueError as e:
            raise LineError(str(e)) from None
        word_starts = np.array([a for a, _ in word_tokens] or [0])
        return [(feature, (key, words, word_starts)) for feature, key in zip(features, keys)]

    def _rows_xnli(self, record):
        first, second = FIELDS[self.task]
        common = dict(truncation=True, max_length=self.settings.max_length, padding="max_length", return_tensors="np")
        if type(self.tokenizer).__name__ == "XLMTokenizer":
            language = record.get("language") or self.settings.language
            if language and self.tokenizer.lang2id:
                common["lang"] = language
        else:
            common["task"] = None  # a pair of texts, whatever task the tokenizer files name
        encoded = self._tokenize(record[first], record[second], **common)
        return [({k: v[0] for k, v in encoded.items()}, None)]

    _rows_paws_x = _rows_xnli

    def _tokenize(self, *args, **kwargs) -> dict:
        """The tokenizer's call; what it refuses (a span of spaces only, overlapping pair spans,
        an unknown language) is that line's error."""
        try:
            return self.tokenizer(*args, **kwargs)
        except ValueError as e:
            raise LineError(str(e)) from None

    # ------------------------------------------------------------- per task: decoding
    def _decode_ner(self, record, found):
        text, candidates = record["text"], []
        for spans, _, out in found:
            logits = out["logits"][: len(spans)]
            probabilities = _softmax(logits)
            best = probabilities.argmax(-1)
            for (start, end), label, p in zip(spans, best, probabilities):
                if label != 0:
                    candidates.append((float(p[label]), start, end - 1, self.labels[int(label)]))
        entities = sorted(non_overlapping(candidates), key=lambda c: c[1])
        return {
            "text": text,
            "entities": [
                {"start": s, "end": e + 1, "text": text[s : e + 1], "label": label, "score": round(score, 6)}
                for score, s, e, label in entities
            ],
        }

    def _decode_single_label(self, record, found):
        ((_, _, out),) = found
        probabilities = _softmax(out["logits"])
        best = int(probabilities.argmax())
        return {"label": self.labels[best], "score": round(float(probabilities[best]), 6)}

    _decode_relation = _decode_xnli = _decode_paws_x = _decode_single_label

    def _decode_entity_typing(self, record, found):
        ((_, _, out),) = found
        probabilities = 1 / (1 + np.exp(-out["logits"]))
        chosen = np.flatnonzero(probabilities > 0.5)
        return {
            "labels": [self.labels[i] for i in chosen],
            "scores": {self.labels[i]: round(float(probabilities[i]), 6) for i in chosen},
        }

    def _decode_qa(self, record, found):
        keys = [(0, *key[0]) for key, _, _ in found]
        outputs = [out for _, _, out in found]
        score, index, s, e = qa.best_spans(keys, outputs, self.settings.max_answer_tokens)[0]
        (offset, _, first), words, word_starts = found[index][0]
        context = record["context"]
        # the answer's tokens -> the context's words that hold them
        first_word = max(int(np.searchsorted(word_starts, s - offset + first, side="right")) - 1, 0)
        last_word = max(int(np.searchsorted(word_starts, e - offset + first, side="right")) - 1, first_word)
        start, end = words[first_word][0], words[last_word][1]
        while end - start > 1 and _is_punctuation(context[end - 1]):  # "Paris," -> "Paris"
            end -= 1
        while end - start > 1 and _is_punctuation(context[start]):  # "(1867" -> "1867"
            start += 1
        return {"answer": context[start:end], "start": start, "end": end, "score": round(score, 6)}


def predict(
    task: str, model: str, source: str | Path | Iterable[str | dict], *, progress: bool = False, **settings: Any
) -> Predictions:
    """Load ``model`` and predict every record of ``source`` (a file, or records / lines);
    ``settings``: :class:`PredictSettings` fields. Keep a :class:`Predictor` for repeated calls."""
    return Predictor(task, model, PredictSettings(**settings)).predict(source, progress=progress)


def write_jsonl(records: list[dict], path: str | Path) -> None:
    """The records, one JSON object per line, written to a temporary file and renamed (never half
    written); in a bucket, one upload (the store makes it atomic)."""
    from mluke_jax import remote
    from mluke_jax.paths import is_remote, resolve

    if is_remote(path):
        remote.check_reachable(path)
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        remote.write_text_atomic(resolve(path), text)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _candidate_spans(words: int, max_span_words: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last word of every run of 1..``max_span_words`` words, in one vectorised pass
    (ordered by first word, then length)."""
    starts = np.repeat(np.arange(words), max_span_words)
    ends = starts + np.tile(np.arange(max_span_words), words)
    keep = ends < words
    return starts[keep], ends[keep]


def _span(value: Any, text: Any, field: str) -> tuple[int, int]:
    if not isinstance(text, str):
        raise LineError(f"'text' must be a string, got {type(text).__name__}")
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise LineError(f"{field!r} must be [start, end] character offsets, got {value!r}")
    start, end = value
    if not 0 <= start < end <= len(text):
        raise LineError(f"{field!r} {[start, end]} is outside the text (length {len(text)}) or empty")
    return start, end


def _is_punctuation(character: str) -> bool:
    return unicodedata.category(character).startswith("P")


def _source_name(source) -> str:
    return str(source) if isinstance(source, (str, Path)) else "input"


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def _line_of(error: str) -> int:
    match = re.search(r":(\d+): ", error)
    return int(match.group(1)) if match else sys.maxsize
