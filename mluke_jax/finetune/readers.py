"""Readers for the data formats of the fine-tuning recipes. A malformed line is a ``DataError``
(a ``ValueError``) naming the file and the line.

- NER (``ner``), one word a line, sentences separated by blank lines, IOB1, IOB2 or BIOES tags
  (:data:`NER_FORMATS`, detected from the file or named with ``--format``):

  - CoNLL-2003 and CoNLL-2002 (``conll2003``, ``conll2002``): ``word ... tag``, the tag in the last
    column (Spanish: ``word tag``; Dutch and CoNLL-2003: ``word POS [chunk] tag``). A
    ``-DOCSTART-`` line (Dutch: ``-DOCSTART- -DOCSTART- O``) starts a new document, and each
    sentence keeps its document's number: the recipe reads it with its neighbours as context. A
    file without document markers has no documents: each sentence is read alone.
  - WikiANN / PAN-X as XTREME distributes it (``wikiann``): ``lang:word<TAB>tag``; the prefix is
    stripped and becomes the sentence's ``language``; no documents.
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
import re
from pathlib import Path
from typing import Any

from mluke_jax.text_files import read_text


class DataError(ValueError):
    """A data file that does not follow its format: names the file and the line."""


@dataclasses.dataclass
class Sentence:
    """A NER sentence: words and their entities ``(first_word, last_word_inclusive, type)``;
    ``document``: the number of its document (``-DOCSTART-`` lines start a new one; in a file
    without them every sentence is a document of its own); ``language``: WikiANN's prefix."""

    words: list[str]
    entities: list[tuple[int, int, str]]
    document: int = 0
    language: str | None = None


NER_FORMATS = ("conll2003", "conll2002", "wikiann")
# a WikiANN / PAN-X line: a language code, a colon, the word, a tab, the tag
WIKIANN_LINE = re.compile(r"^([a-z]{2,3}(?:-[a-z]+)?):(.+)\t(\S+)$")


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
    """A question on a context. ``language``: the context's (MLQA / XQuAD file names, ``--language``);
    ``question_language``: MLQA's cross-lingual files ask in another; ``scoring``: ``mlqa`` (MLQA's
    per-language answer normalisation, with the context's language) or ``squad`` (SQuAD v1.1's)."""

    id: str
    question: str
    context: str
    answers: list[tuple[str, int]]  # (text, character start)
    language: str | None = None
    question_language: str | None = None
    scoring: str = "squad"


QA_FORMATS = ("squad", "mlqa", "xquad")
# the published file names: MLQA's dev/test-context-LANG-question-LANG.json, XQuAD's xquad.LANG.json
MLQA_FILE = re.compile(r"^(?:dev|test)-context-([a-z]{2})-question-([a-z]{2})\.json$")
XQUAD_FILE = re.compile(r"^xquad\.([a-z]{2})\.json$")


@dataclasses.dataclass
class PairExample:
    premise: str
    hypothesis: str
    label: str
    language: str | None = None


class Examples(list):
    """A reader's examples, with ``skipped``: the rows it left out on purpose (MultiNLI's ``-``)."""

    def __init__(self, items=(), skipped: int = 0):
        super().__init__(items)
        self.skipped = skipped


def _lines(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} not found")
    return read_text(path).splitlines()


def _json_lines(path: str | Path, lines: list[str]) -> list[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line of a JSON-lines file."""
    out = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append((number, json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{number}: not valid JSON ({e.msg})") from None
    return out


def _json(path: str | Path) -> Any:
    path = Path(path)
    text = "\n".join(_lines(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


def ner_format(path: str | Path, lines: list[str]) -> str:
    """``wikiann`` when the file's first word line is ``lang:word<TAB>tag``, else ``conll2003``
    (CoNLL-2002 reads the same way)."""
    first = next((line for line in lines if line.strip() and not line.startswith("-DOCSTART-")), "")
    return "wikiann" if WIKIANN_LINE.match(first) else "conll2003"


def read_conll(path: str | Path, data_format: str = "auto") -> list[Sentence]:
    """The NER sentences of a CoNLL-2003, CoNLL-2002 or WikiANN file (``data_format``: one of
    :data:`NER_FORMATS`, or ``auto`` to detect it); IOB1 (``I-`` may open an entity), IOB2 and
    BIOES tags all read."""
    lines = _lines(path)
    detected = ner_format(path, lines)
    if data_format == "auto":
        data_format = detected
    elif data_format not in NER_FORMATS:
        raise ValueError(f"unknown NER format {data_format!r}: choose one of {list(NER_FORMATS)} (or auto)")
    elif data_format != "wikiann" and detected == "wikiann":
        raise DataError(
            f"{path}: --format {data_format} names a CoNLL file, but its lines are WikiANN's lang:word<TAB>tag: "
            "pass --format wikiann, or no --format"
        )
    wikiann = data_format == "wikiann"
    has_documents = not wikiann and any(line.startswith("-DOCSTART-") for line in lines)
    sentences, words, tags, languages, start_line, document = [], [], [], [], 1, 0

    def close() -> None:
        nonlocal document
        if words:
            number = document if has_documents else len(sentences)  # no markers: each sentence alone
            language = languages[0] if wikiann else None
            sentences.append(Sentence(list(words), _entities_of(tags, path, start_line), number, language))
        words.clear()
        tags.clear()
        languages.clear()

    for number, line in enumerate(lines, 1):
        if not line.strip():
            close()
            start_line = number + 1
            continue
        if line.startswith("-DOCSTART-") and not wikiann:
            close()
            document += bool(sentences)
            continue
        if wikiann:
            match = WIKIANN_LINE.match(line)
            if match is None:
                raise DataError(
                    f"{path}:{number}: expected WikiANN's lang:word<TAB>tag (e.g. en:Tokyo<TAB>B-LOC), got {line!r}"
                )
            language, word, tag = match.groups()
            languages.append(language)
        else:
            fields = line.split()
            if len(fields) < 2:
                raise DataError(
                    f"{path}:{number}: expected 'word ... tag', got {line!r} (the layouts read: CoNLL-2003 / "
                    "CoNLL-2002 'word [POS [chunk]] tag', WikiANN 'lang:word<TAB>tag')"
                )
            word, tag = fields[0], fields[-1]
        if tag != "O" and not (tag[:2] in ("B-", "I-", "E-", "S-") and len(tag) > 2):
            raise DataError(f"{path}:{number}: tag {tag!r} is not O, B-TYPE, I-TYPE, E-TYPE or S-TYPE")
        if not words:
            start_line = number
        words.append(word)
        tags.append(tag)
    close()
    return sentences


def _entities_of(tags: list[str], path, line: int) -> list[tuple[int, int, str]]:
    """Entities of IOB1, IOB2 or BIOES tags: ``B-`` and ``S-`` open one, ``I-`` and ``E-``
    continue one of their type (or open one, as IOB1 and conlleval read them), ``E-`` and ``S-``
    close it."""
    entities, start, kind = [], None, None
    for i, tag in enumerate(tags + ["O"]):
        continues = tag[:2] in ("I-", "E-") and kind == tag[2:] and start is not None
        if start is not None and not continues:
            entities.append((start, i - 1, kind))
            start = kind = None
        if tag != "O" and not continues:
            start, kind = i, tag[2:]
        if tag[:2] in ("E-", "S-"):
            entities.append((start, i, kind))
            start = kind = None
    return entities


def read_tacred(path: str | Path) -> list[RelationExample]:
    data = _json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of TACRED examples")
    return tacred_examples(list(enumerate(data, 1)), path)


def tacred_examples(items: list[tuple[int, Any]], source: Any, where: str = "example") -> list[RelationExample]:
    """TACRED's records (``token``, ``subj_start/end``, ``obj_start/end``, ``relation``), numbered."""
    out = []
    for number, item in items:
        try:
            tokens = list(item["token"])
            head = (int(item["subj_start"]), int(item["subj_end"]))
            tail = (int(item["obj_start"]), int(item["obj_end"]))
            relation = str(item["relation"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{source}: {where} {number}: missing or bad field {e}") from None
        for name, (a, b) in (("subj", head), ("obj", tail)):
            if not 0 <= a <= b < len(tokens):
                raise DataError(
                    f"{source}: {where} {number}: {name}_start/{name}_end {a}..{b} outside the {len(tokens)} tokens"
                )
        out.append(RelationExample(tokens, head, tail, relation))
    return out


def read_open_entity(path: str | Path) -> list[TypingExample]:
    lines = _lines(path)
    stripped = "\n".join(lines).lstrip()
    if stripped.startswith("["):
        return open_entity_examples(list(enumerate(_json(path), 1)), path)
    return open_entity_examples(_json_lines(path, lines), path, "line")


def open_entity_examples(items: list[tuple[int, Any]], source: Any, where: str = "example") -> list[TypingExample]:
    """Open Entity's records (``sent``, ``start``, ``end``, ``labels``), numbered."""
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
            raise DataError(f"{source}: {where} {number}: missing or bad field {e}") from None
        if not 0 <= start < end <= len(text):
            raise DataError(
                f"{source}: {where} {number}: mention {start}..{end} outside the sentence (length {len(text)})"
            )
        out.append(TypingExample(text, (start, end), labels))
    return out


def check_answers(example: QAExample, source: Any) -> QAExample:
    """``example``, whose every answer must be where its ``answer_start`` says in the context."""
    for text, start in example.answers:
        if example.context[start : start + len(text)] != text:
            raise DataError(
                f"{source}: question {example.id}: answer {text!r} is not at character {start} of its context"
            )
    return example


def qa_format(path: str | Path) -> tuple[str, str | None, str | None]:
    """``(layout, context language, question language)`` from a SQuAD-layout file's name: MLQA's
    ``test-context-de-question-en.json``, XQuAD's ``xquad.de.json``, else ``squad`` (no language)."""
    name = Path(path).name
    if match := MLQA_FILE.match(name):
        return "mlqa", match[1], match[2]
    if match := XQUAD_FILE.match(name):
        return "xquad", match[1], match[1]
    return "squad", None, None


def read_squad(path: str | Path, data_format: str = "auto", language: str | None = None) -> list[QAExample]:
    """The questions of a SQuAD 1.1, MLQA or XQuAD file (all in SQuAD's layout). Their languages
    come from the file name (:func:`qa_format`), else from ``language`` (``--language``); MLQA's
    are scored with MLQA's normalisation in the context's language, the others with SQuAD v1.1's.
    ``data_format`` (:data:`QA_FORMATS`) names the layout where the file name does not."""
    detected, context_language, question_language = qa_format(path)
    if data_format == "auto":
        data_format = detected
    elif data_format not in QA_FORMATS:
        raise ValueError(f"unknown QA format {data_format!r}: choose one of {list(QA_FORMATS)} (or auto)")
    context_language = context_language or language
    question_language = question_language or context_language
    if data_format == "mlqa":
        from mluke_jax.finetune.metrics import MLQA_LANGUAGES

        if context_language is None:
            raise DataError(
                f"{path}: MLQA is scored in its context's language, and neither the file name "
                "(MLQA's test-context-LANG-question-LANG.json) nor --language gives it"
            )
        if context_language not in MLQA_LANGUAGES:
            raise DataError(
                f"{path}: MLQA has no context language {context_language!r}: its languages are {list(MLQA_LANGUAGES)}"
            )
    data = _json(path)
    out = []
    try:
        articles = data["data"]
    except (KeyError, TypeError):
        raise DataError(f"{path}: expected SQuAD JSON with a 'data' list") from None
    scoring = "mlqa" if data_format == "mlqa" else "squad"
    for article in articles:
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context")
            if not isinstance(context, str):
                raise DataError(f"{path}: a paragraph without 'context'")
            for qa in paragraph.get("qas", []):
                try:
                    answers = [(str(a["text"]), int(a["answer_start"])) for a in qa.get("answers", [])]
                    example = QAExample(
                        str(qa["id"]),
                        str(qa["question"]),
                        context,
                        answers,
                        context_language,
                        question_language,
                        scoring,
                    )
                except (KeyError, TypeError, ValueError) as e:
                    raise DataError(f"{path}: question {qa.get('id', '?')}: missing or bad field {e}") from None
                out.append(check_answers(example, path))
    return out


def nli_format(path: str | Path, lines: list[str]) -> str:
    """The layout of a sentence-pair file, from its first line: ``multinli`` JSON lines, a header
    naming ``gold_label``, ``sentence1`` and ``sentence2`` (``xnli``: the XNLI-1.0 release, with a
    ``language`` column; ``multinli``: MultiNLI 1.0's ``.txt``), PAWS-X's header (``paws-x``, for
    the error that names it), else ``tsv``."""
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("{"):
        try:
            if isinstance(json.loads(first), dict):
                return "multinli"
        except json.JSONDecodeError:
            pass  # a premise that starts with a brace
    columns = {c.strip() for c in first.split("\t")}
    if columns == set(PAWSX_HEADER):
        return "paws-x"
    if {"gold_label", "sentence1", "sentence2"} <= columns:
        return "xnli" if "language" in columns else "multinli"
    return "tsv"


def read_pairs(path: str | Path, data_format: str = "auto") -> "Examples":
    """Sentence pairs of one of :data:`NLI_FORMATS` (``auto``: :func:`nli_format`). Rows of the
    XNLI-1.0 and MultiNLI releases whose ``gold_label`` is ``-`` (no annotator majority) are
    skipped, as the original code does, and counted in the result's ``skipped``."""
    lines = _lines(path)
    detected = nli_format(path, lines)
    if data_format == "auto":
        data_format = detected
    elif data_format not in NLI_FORMATS:
        raise ValueError(f"unknown sentence-pair format {data_format!r}: choose one of {list(NLI_FORMATS)} (or auto)")
    if detected == "paws-x":
        raise DataError(
            f"{path}: the file is PAWS-X's ({NLI_LAYOUTS['paws-x']}), a paraphrase task, not NLI: run the paws-x task"
        )
    if data_format != detected and not (data_format == "multinli" and detected == "xnli"):
        raise DataError(
            f"{path}: --format {data_format} does not fit the file, which reads as {detected} "
            f"({NLI_LAYOUTS[detected]}): pass --format {detected}, or no --format"
        )
    if data_format == "tsv":
        return Examples(_read_plain_pairs(path, lines))
    if lines and lines[0].lstrip().startswith("{") and nli_format(path, lines[:1]) == "multinli":
        rows = _json_lines(path, lines)
    else:
        header = [c.strip() for c in lines[0].split("\t")]
        rows = []
        for number, line in enumerate(lines[1:], 2):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < len(header):  # trailing empty columns may be cut off
                fields += [""] * (len(header) - len(fields))
            rows.append((number, dict(zip(header, fields))))
    out, dashes = [], 0
    for number, row in rows:
        missing = [k for k in ("gold_label", "sentence1", "sentence2") if not isinstance(row.get(k), str)]
        if missing:
            raise DataError(f"{path}:{number}: the row has no {', '.join(missing)}")
        label = row["gold_label"].strip()
        if label == "-":
            dashes += 1
            continue
        if label not in NLI_LABELS:
            raise DataError(
                f"{path}:{number}: gold_label {label!r} is not one of {data_format}'s labels {list(NLI_LABELS)} "
                "(or '-', no majority)"
            )
        language = (row.get("language") or "").strip() or ("en" if data_format == "multinli" else None)
        out.append(PairExample(row["sentence1"], row["sentence2"], label, language))
    return Examples(out, skipped=dashes)


NLI_FORMATS = ("tsv", "xnli", "multinli")
NLI_LABELS = ("contradiction", "entailment", "neutral")  # the XNLI and MultiNLI releases'
NLI_LAYOUTS = {
    "tsv": "premise<TAB>hypothesis<TAB>label[<TAB>language]",
    "xnli": "the XNLI-1.0 release: a header with language, gold_label, sentence1, sentence2",
    "multinli": "MultiNLI 1.0: .jsonl, or the .txt with a header of gold_label, sentence1, sentence2",
    "paws-x": "PAWS-X: a header id<TAB>sentence1<TAB>sentence2<TAB>label",
}
PAWSX_HEADER = ("id", "sentence1", "sentence2", "label")
PAWSX_LABELS = ("0", "1")  # 1: the two sentences are paraphrases


def read_paws_x(path: str | Path, language: str | None = None) -> Examples:
    """The sentence pairs of a PAWS-X TSV (``id sentence1 sentence2 label``, with that header).
    The language is the file's directory where it is a language code, as the release lays them
    out (``x-final/de/test_2k.tsv``), else ``language`` (``--language``)."""
    lines = _lines(path)
    if not lines or tuple(c.strip() for c in lines[0].split("\t")) != PAWSX_HEADER:
        first = lines[0] if lines else ""
        raise DataError(f"{path}:1: expected PAWS-X's header id<TAB>sentence1<TAB>sentence2<TAB>label, got {first!r}")
    directory = Path(path).parent.name
    language = directory if re.fullmatch(r"[a-z]{2}", directory) else language
    out = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(PAWSX_HEADER):
            raise DataError(
                f"{path}:{number}: expected 4 tab-separated fields (id, sentence1, sentence2, label), got {len(fields)}"
            )
        label = fields[3].strip()
        if label not in PAWSX_LABELS:
            raise DataError(f"{path}:{number}: label {label!r} is not 0 or 1 (1: paraphrases)")
        out.append(PairExample(fields[1], fields[2], label, language))
    return Examples(out)


def _read_plain_pairs(path: str | Path, lines: list[str]) -> list[PairExample]:
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) not in (3, 4):
            raise DataError(
                f"{path}:{number}: expected premise<TAB>hypothesis<TAB>label[<TAB>language], got {len(fields)} "
                f"columns (the layouts read: {'; '.join(NLI_LAYOUTS.values())})"
            )
        if number == 1 and fields[2].strip().lower() == "label":
            continue  # header
        out.append(
            PairExample(fields[0], fields[1], fields[2].strip(), fields[3].strip() if len(fields) == 4 else None)
        )
    return out
