"""Readers for the data formats of the fine-tuning recipes. A malformed line is a ``DataError``
(a ``ValueError``) naming the file and the line.

- CoNLL-2003 (``ner``): ``word ... tag`` per line (the tag is the last column, IOB1 or IOB2),
  sentences separated by blank lines; a ``-DOCSTART-`` line starts a new document (each sentence
  keeps its document's number: the recipe reads a sentence with its neighbours as context).
- TACRED (``relation``): a JSON list of ``{"token": [...], "subj_start", "subj_end", "obj_start",
  "obj_end" (inclusive word indices), "relation"}``.
- Open Entity (``entity-typing``): JSON lines (or a JSON list) of ``{"sent", "start", "end"
  (character offsets of the mention), "labels": [...]}`` as in the LUKE repository.
- SQuAD 1.1 (``qa``): ``{"data": [{"paragraphs": [{"context", "qas": [{"id", "question",
  "answers": [{"text", "answer_start"}]}]}]}]}``.
- XNLI-style TSV (``xnli``): ``premise<TAB>hypothesis<TAB>label[<TAB>language]``; a first line
  whose label column reads ``label`` is a header.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

from mluke_jax.text_files import read_text


class DataError(ValueError):
    """A data file that does not follow its format: names the file and the line."""


@dataclasses.dataclass
class Sentence:
    """A NER sentence: words and their entities ``(first_word, last_word_inclusive, type)``;
    ``document``: the number of its document (``-DOCSTART-`` lines start a new one)."""

    words: list[str]
    entities: list[tuple[int, int, str]]
    document: int = 0


@dataclasses.dataclass
class RelationExample:
    tokens: list[str]
    head: tuple[int, int]  # inclusive word indices
    tail: tuple[int, int]
    relation: str


@dataclasses.dataclass
class TypingExample:
    text: str
    span: tuple[int, int]  # character offsets, end exclusive
    labels: list[str]


@dataclasses.dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[tuple[str, int]]  # (text, character start)


@dataclasses.dataclass
class PairExample:
    premise: str
    hypothesis: str
    label: str
    language: str | None = None


def _lines(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} not found")
    return read_text(path).splitlines()


def _json(path: str | Path) -> Any:
    path = Path(path)
    text = "\n".join(_lines(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


def read_conll(path: str | Path) -> list[Sentence]:
    """CoNLL-2003 sentences; IOB1 (``I-`` may open an entity) and IOB2 tags both read."""
    sentences, words, tags, start_line, document = [], [], [], 1, 0

    def close(line_number: int) -> None:
        if words:
            sentences.append(Sentence(list(words), _entities_of(tags, path, start_line), document))
        words.clear()
        tags.clear()

    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            close(number)
            start_line = number + 1
            continue
        if line.startswith("-DOCSTART-"):
            close(number)
            document += bool(sentences)
            continue
        fields = line.split()
        if len(fields) < 2:
            raise DataError(f"{path}:{number}: expected 'word ... tag', got {line!r}")
        tag = fields[-1]
        if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
            raise DataError(f"{path}:{number}: tag {tag!r} is not O, B-TYPE or I-TYPE")
        if not words:
            start_line = number
        words.append(fields[0])
        tags.append(tag)
    close(0)
    return sentences


def _entities_of(tags: list[str], path, line: int) -> list[tuple[int, int, str]]:
    entities, start, kind = [], None, None
    for i, tag in enumerate(tags + ["O"]):
        continues = tag.startswith("I-") and kind == tag[2:] and start is not None
        if start is not None and not continues:
            entities.append((start, i - 1, kind))
            start = kind = None
        if tag != "O" and not continues:
            start, kind = i, tag[2:]
    return entities


def read_tacred(path: str | Path) -> list[RelationExample]:
    data = _json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of TACRED examples")
    out = []
    for number, item in enumerate(data, 1):
        try:
            tokens = list(item["token"])
            head = (int(item["subj_start"]), int(item["subj_end"]))
            tail = (int(item["obj_start"]), int(item["obj_end"]))
            relation = str(item["relation"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{path}: example {number}: missing or bad field {e}") from None
        for name, (a, b) in (("subj", head), ("obj", tail)):
            if not 0 <= a <= b < len(tokens):
                raise DataError(
                    f"{path}: example {number}: {name}_start/{name}_end {a}..{b} outside the {len(tokens)} tokens"
                )
        out.append(RelationExample(tokens, head, tail, relation))
    return out


def read_open_entity(path: str | Path) -> list[TypingExample]:
    lines = _lines(path)
    stripped = "\n".join(lines).lstrip()
    if stripped.startswith("["):
        items = list(enumerate(_json(path), 1))
        where = "example"
    else:
        items = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    items.append((number, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{number}: not valid JSON ({e.msg})") from None
        where = "line"
    out = []
    for number, item in items:
        try:
            text, start, end, labels = (
                str(item["sent"]),
                int(item["start"]),
                int(item["end"]),
                [str(x) for x in item["labels"]],
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{path}: {where} {number}: missing or bad field {e}") from None
        if not 0 <= start < end <= len(text):
            raise DataError(
                f"{path}: {where} {number}: mention {start}..{end} outside the sentence (length {len(text)})"
            )
        out.append(TypingExample(text, (start, end), labels))
    return out


def read_squad(path: str | Path) -> list[QAExample]:
    data = _json(path)
    out = []
    try:
        articles = data["data"]
    except (KeyError, TypeError):
        raise DataError(f"{path}: expected SQuAD JSON with a 'data' list") from None
    for article in articles:
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context")
            if not isinstance(context, str):
                raise DataError(f"{path}: a paragraph without 'context'")
            for qa in paragraph.get("qas", []):
                try:
                    answers = [(str(a["text"]), int(a["answer_start"])) for a in qa.get("answers", [])]
                    example = QAExample(str(qa["id"]), str(qa["question"]), context, answers)
                except (KeyError, TypeError, ValueError) as e:
                    raise DataError(f"{path}: question {qa.get('id', '?')}: missing or bad field {e}") from None
                for text, start in answers:
                    if context[start : start + len(text)] != text:
                        raise DataError(
                            f"{path}: question {example.id}: answer {text!r} is not at character {start} of its context"
                        )
                out.append(example)
    return out


def read_pairs(path: str | Path) -> list[PairExample]:
    out = []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) not in (3, 4):
            raise DataError(
                f"{path}:{number}: expected premise<TAB>hypothesis<TAB>label[<TAB>language], got {len(fields)} columns"
            )
        if number == 1 and fields[2].strip().lower() == "label":
            continue  # header
        out.append(
            PairExample(fields[0], fields[1], fields[2].strip(), fields[3].strip() if len(fields) == 4 else None)
        )
    return out
