"""The five recipes: how each reads its data, turns examples into fixed-shape features, and turns
model outputs back into predictions and a metric.

Every feature is a dict of numpy arrays padded to ``max_length`` words (and ``max_entities``
entities), so a whole run compiles its train step once.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from mluke_jax.finetune import metrics, qa, readers
from mluke_jax.finetune.readers import DataError


@dataclasses.dataclass
class Settings:
    max_length: int = 128
    max_entities: int = 64  # ner: spans per feature; qa: linked entities per feature
    max_span_words: int = 8  # ner: longest span enumerated, in words
    ner_context: bool = True  # ner: each sentence with as much of its document around it as fits
    max_answer_tokens: int = 30  # qa
    doc_stride: int = 128  # qa: tokens shared by consecutive windows of a long context
    max_question_tokens: int = 64  # qa
    entities: str = "none"  # qa: "auto" links question and context with mention_db
    mention_db: str | None = None  # qa
    language: str | None = None  # xnli with XLM: rows without a language column; qa: the linker's
    data_format: str = "auto"  # the data files' layout (readers.NER_FORMATS, NLI_FORMATS, QA_FORMATS), auto: detected


@dataclasses.dataclass
class Prepared:
    """Features of one file plus what turning predictions back needs."""

    features: list[dict[str, np.ndarray]]
    keys: list[Any]  # per feature: what it covers (sentence and spans, example index, ...)
    examples: list[Any]


def check_known(labels: set[str], known: list[str], path: str, what: str = "label") -> None:
    unknown = sorted(labels - set(known))
    if unknown:
        raise DataError(f"{path}: {what}s {unknown[:5]} are not among the training data's {sorted(known)[:10]}")


def _array(encoded: dict) -> dict[str, np.ndarray]:
    return {
        k: np.asarray(v[0] if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == 1 else v)
        for k, v in encoded.items()
    }


def word_offsets(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """``" ".join(words)`` and each word's character span."""
    offsets, position = [], 0
    for word in words:
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), offsets


class Task:
    name: str
    heads: dict[str, str]  # model_type -> head class
    multi_label = False
    formats: tuple[str, ...] = ()  # the layouts --format may name (besides auto)
    metrics: tuple[str, ...] = ()  # what evaluate returns (what --select-best may name)

    def check_format(self, data_format: str) -> None:
        if data_format != "auto" and data_format not in self.formats:
            known = f"one of {list(self.formats)} or auto" if self.formats else "auto (its one layout)"
            raise ValueError(f"--format {data_format} is not a layout of task {self.name}: choose {known}")

    def read(self, path: str, settings: Settings | None = None) -> list:
        raise NotImplementedError

    def load(self, spec: str, settings: Settings | None = None) -> list:
        """The examples of ``spec``: a file in one of the task's published layouts (:meth:`read`),
        or a Hugging Face dataset (``hf:NAME[:CONFIG][@SPLIT]``, a ``save_to_disk`` directory, a
        parquet or JSON-lines file with the hub's columns: :mod:`.hf_datasets`)."""
        from mluke_jax.finetune import hf_datasets
        from mluke_jax.paths import is_remote, local_copy

        if is_remote(spec):  # a file or saved dataset in a bucket: read from a local copy
            spec = str(local_copy(spec))
        if hf_datasets.is_dataset(spec, self.name):
            if settings is not None and settings.data_format != "auto":
                raise ValueError(f"--format {settings.data_format} names a file layout; {spec} is a dataset")
            return hf_datasets.read(self.name, spec, settings.language if settings else None)
        return self.read(spec, settings)

    def label_set(self, examples: list) -> list[str]:
        """The labels the model predicts, in id order (from the training data)."""
        return sorted(set(self.labels_of(examples)))

    def check_labels(self, examples: list, labels: list[str], path: str) -> None:
        check_known(set(self.labels_of(examples)), labels, path)

    def labels_of(self, examples: list) -> list[str]:
        raise NotImplementedError

    def prepare(
        self, examples: list, tokenizer, labels: list[str], settings: Settings, training: bool, progress: Callable
    ) -> Prepared:
        raise NotImplementedError

    def evaluate(
        self, prepared: Prepared, outputs: list[dict[str, np.ndarray]], labels: list[str], settings: Settings, tokenizer
    ) -> dict[str, float]:
        raise NotImplementedError


class NER(Task):
    """CoNLL-2003 NER as span classification (LUKE's recipe): every span of up to
    ``max_span_words`` words is an entity of the sentence, classified as a type or ``O``;
    predictions are decoded greedily, highest score first, without overlaps."""

    name = "ner"
    heads = {"luke": "LukeForEntitySpanClassification"}
    metrics = ("precision", "recall", "f1")
    formats = readers.NER_FORMATS

    def read(self, path, settings=None):
        return readers.read_conll(path, settings.data_format if settings else "auto")

    def labels_of(self, sentences):
        return [kind for s in sentences for _, _, kind in s.entities]

    def label_set(self, sentences):
        return ["O"] + sorted(set(self.labels_of(sentences)))

    def prepare(self, sentences, tokenizer, labels, settings, training, progress):
        index = {name: i for i, name in enumerate(labels)}
        features, keys = [], []
        lengths = _word_token_counts(tokenizer, [w for s in sentences for w in s.words])
        first_word = np.cumsum([0] + [len(s.words) for s in sentences])
        # each document's words and their token counts, and where each sentence starts in its document
        document_words: dict[int, list[str]] = {}
        document_lengths: dict[int, list[int]] = {}
        starts: list[int] = []
        for number, sentence in enumerate(sentences):
            words = document_words.setdefault(sentence.document, [])
            starts.append(len(words))
            words += sentence.words
            counts = lengths[first_word[number] : first_word[number + 1]]
            document_lengths.setdefault(sentence.document, []).extend(counts)
        budget = settings.max_length - 2  # <s> ... </s>
        for number, sentence in enumerate(progress(sentences)):
            here, own = starts[number], lengths[first_word[number] : first_word[number + 1]]
            in_document = document_words[sentence.document]
            gold = {(a, b): kind for a, b, kind in sentence.entities}
            for a, b in _pieces(own, budget):  # a sentence longer than fits is read in pieces
                left, right = (
                    _context(document_lengths[sentence.document], here + a, here + b, budget - sum(own[a:b]))
                    if settings.ner_context
                    else (here + a, here + b)
                )
                words = in_document[left : here + a] + sentence.words[a:b] + in_document[here + b : right]
                text, offsets = word_offsets(words)
                shift = here + a - left  # where the piece's first word is in ``words``
                spans = [(i, j) for i in range(a, b) for j in range(i, min(b, i + settings.max_span_words))]
                for start in range(0, len(spans), settings.max_entities):
                    group = spans[start : start + settings.max_entities]
                    entity_spans = [(offsets[i - a + shift][0], offsets[j - a + shift][1]) for i, j in group]
                    encoded = _encode_spans(tokenizer, text, entity_spans, settings)
                    while encoded["input_ids"].shape[1] > settings.max_length and len(words) > b - a:
                        # the words counted apart came out longer together: one context word fewer
                        drop_left = shift > 0 and (shift >= len(words) - shift - (b - a))
                        words = words[1:] if drop_left else words[:-1]
                        shift -= drop_left
                        text, offsets = word_offsets(words)
                        entity_spans = [(offsets[i - a + shift][0], offsets[j - a + shift][1]) for i, j in group]
                        encoded = _encode_spans(tokenizer, text, entity_spans, settings)
                    if encoded["input_ids"].shape[1] > settings.max_length:
                        raise DataError(
                            f"sentence {number + 1}: word {sentence.words[a]!r} alone has more tokens than "
                            f"--max-length {settings.max_length}"
                        )
                    feature = _array(encoded)
                    target = np.full(settings.max_entities, -100, np.int32)
                    target[: len(group)] = [index[gold.get(span, "O")] for span in group]
                    feature["labels"] = target
                    features.append(feature)
                    keys.append((number, group))
        return Prepared(features, keys, sentences)

    def evaluate(self, prepared, outputs, labels, settings, tokenizer):
        candidates: dict[int, list] = {i: [] for i in range(len(prepared.examples))}
        for (number, group), out in zip(prepared.keys, outputs):
            logits = out["logits"][: len(group)]
            probabilities = np.exp(logits - logits.max(-1, keepdims=True))
            probabilities /= probabilities.sum(-1, keepdims=True)
            for (i, j), p in zip(group, probabilities):
                best = int(p.argmax())
                if best != 0:
                    candidates[number].append((float(p[best]), i, j, labels[best]))
        predicted = [{(i, j, kind) for _, i, j, kind in non_overlapping(candidates[n])} for n in candidates]
        gold = [set(s.entities) for s in prepared.examples]
        return metrics.span_f1(predicted, gold)


def non_overlapping(candidates: list[tuple[float, int, int, str]]) -> list[tuple[float, int, int, str]]:
    """``(score, first word, last word, label)`` spans kept greedily, highest score first, each
    sharing no word with one kept before (LUKE's NER decoding)."""
    taken, used = [], set()
    for candidate in sorted(candidates, reverse=True):
        words = set(range(candidate[1], candidate[2] + 1))
        if not used & words:
            taken.append(candidate)
            used |= words
    return taken


def _word_token_counts(tokenizer, words: list[str]) -> list[int]:
    """Tokens of each word as it reads after a space (one sentencepiece call)."""
    return [len(ids) for ids, _ in tokenizer.encode_mentions(words, [[]] * len(words))]


def _pieces(lengths: list[int], budget: int) -> list[tuple[int, int]]:
    """``[start, end)`` word ranges of a sentence, each of at most ``budget`` tokens (a word longer
    than that alone): the whole sentence when it fits."""
    pieces, start, used = [], 0, 0
    for i, n in enumerate(lengths):
        if used + n > budget and i > start:
            pieces.append((start, i))
            start, used = i, 0
        used += n
    pieces.append((start, len(lengths)))
    return pieces


def _context(lengths: list[int], start: int, end: int, room: int) -> tuple[int, int]:
    """``[left, right)``: the document's words around ``[start, end)`` that fit in ``room`` tokens,
    as many on each side as the other side leaves (the original LUKE NER reader's context)."""
    left, right = start, end
    grew = True
    while grew:
        grew = False
        if left > 0 and lengths[left - 1] <= room and (start - left <= right - end or right == len(lengths)):
            left -= 1
            room -= lengths[left]
            grew = True
        elif right < len(lengths) and lengths[right] <= room:
            room -= lengths[right]
            right += 1
            grew = True
        elif left > 0 and lengths[left - 1] <= room:
            left -= 1
            room -= lengths[left]
            grew = True
    return left, right


def _encode_spans(tokenizer, text: str, entity_spans: list[tuple[int, int]], settings: Settings) -> dict:
    return tokenizer(
        text,
        entity_spans=entity_spans,
        task="entity_span_classification",
        padding="max_length",
        max_length=settings.max_length,
        max_entity_length=settings.max_entities,
        return_tensors="np",
    )


class Relation(Task):
    """TACRED relation classification: the head entity wrapped in ``<ent>``, the tail in ``<ent2>``,
    their states concatenated (``LukeForEntityPairClassification``); micro F1 without
    ``no_relation``."""

    name = "relation"
    heads = {"luke": "LukeForEntityPairClassification"}
    negative = "no_relation"
    metrics = ("precision", "recall", "f1", "accuracy")

    def read(self, path, settings=None):
        return readers.read_tacred(path)

    def labels_of(self, examples):
        return [e.relation for e in examples]

    def prepare(self, examples, tokenizer, labels, settings, training, progress):
        index = {name: i for i, name in enumerate(labels)}
        features = []
        for number, example in enumerate(progress(examples)):
            text, offsets = word_offsets(example.tokens)
            spans = [(offsets[a][0], offsets[b][1]) for a, b in (example.head, example.tail)]
            encoded = tokenizer(
                text,
                entity_spans=spans,
                task="entity_pair_classification",
                padding="max_length",
                truncation=True,
                max_length=settings.max_length,
                return_tensors="np",
            )
            if encoded["entity_attention_mask"].sum() < 2:
                raise DataError(
                    f"example {number + 1}: an entity lies beyond --max-length {settings.max_length} tokens"
                )
            feature = _array(encoded)
            feature["labels"] = np.int32(index[example.relation])
            features.append(feature)
        return Prepared(features, list(range(len(examples))), examples)

    def evaluate(self, prepared, outputs, labels, settings, tokenizer):
        predicted = [labels[int(o["logits"].argmax())] for o in outputs]
        scores = metrics.relation_f1(predicted, [e.relation for e in prepared.examples], self.negative)
        return {**scores, **metrics.accuracy(predicted, [e.relation for e in prepared.examples])}


class EntityTyping(Task):
    """Open Entity typing: the mention wrapped in ``<ent>``, multi-label
    ``LukeForEntityClassification`` (a type is predicted when its logit is > 0); micro F1."""

    name = "entity-typing"
    heads = {"luke": "LukeForEntityClassification"}
    multi_label = True
    metrics = ("precision", "recall", "f1")

    def read(self, path, settings=None):
        return readers.read_open_entity(path)

    def labels_of(self, examples):
        return [label for e in examples for label in e.labels]

    def prepare(self, examples, tokenizer, labels, settings, training, progress):
        index = {name: i for i, name in enumerate(labels)}
        features = []
        for number, example in enumerate(progress(examples)):
            encoded = tokenizer(
                example.text,
                entity_spans=[example.span],
                task="entity_classification",
                padding="max_length",
                truncation=True,
                max_length=settings.max_length,
                return_tensors="np",
            )
            if encoded["entity_attention_mask"].sum() < 1:
                raise DataError(
                    f"example {number + 1}: the mention lies beyond --max-length {settings.max_length} tokens"
                )
            feature = _array(encoded)
            target = np.zeros(len(labels), np.float32)
            target[[index[label] for label in example.labels]] = 1.0
            feature["labels"] = target
            features.append(feature)
        return Prepared(features, list(range(len(examples))), examples)

    def evaluate(self, prepared, outputs, labels, settings, tokenizer):
        predicted = [{labels[i] for i in np.flatnonzero(o["logits"] > 0)} for o in outputs]
        return metrics.multilabel_f1(predicted, [set(e.labels) for e in prepared.examples])


class QuestionAnswering(Task):
    """SQuAD 1.1, MLQA and XQuAD extractive QA (``LukeForQuestionAnswering``): long contexts in
    overlapping windows, entities from a mention database with ``entities="auto"`` (:mod:`.qa`);
    exact match and F1 as the official scripts compute them (MLQA's per language)."""

    name = "qa"
    heads = {"luke": "LukeForQuestionAnswering"}
    formats = readers.QA_FORMATS
    metrics = ("exact_match", "f1")

    def read(self, path, settings=None):
        settings = settings or Settings()
        return readers.read_squad(path, settings.data_format, settings.language)

    def labels_of(self, examples):
        return []  # spans, not labels

    def prepare(self, examples, tokenizer, labels, settings, training, progress):
        linker, language = qa.linker_for(settings, tokenizer)
        features, keys = [], []
        for number, example in enumerate(progress(examples)):
            found, where, _ = qa.question_features(example, tokenizer, settings, training, linker, language)
            features += found
            keys += [(number, *w) for w in where]
        return Prepared(features, keys, examples)

    def evaluate(self, prepared, outputs, labels, settings, tokenizer):
        predictions = qa.best_answers(
            prepared.keys, prepared.features, outputs, prepared.examples, settings.max_answer_tokens, tokenizer
        )
        return qa.scores(predictions, prepared.examples)


class NLI(Task):
    """XNLI-style sentence-pair classification (``LukeForSequenceClassification`` or
    ``XLMForSequenceClassification``; XLM gets each row's language as ``lang=``, so its Moses
    rules and language embeddings); accuracy."""

    name = "xnli"
    heads = {"luke": "LukeForSequenceClassification", "xlm": "XLMForSequenceClassification"}
    formats = readers.NLI_FORMATS
    metrics = ("accuracy",)

    def read(self, path, settings=None):
        return readers.read_pairs(path, settings.data_format if settings else "auto")

    def labels_of(self, examples):
        return [e.label for e in examples]

    def prepare(self, examples, tokenizer, labels, settings, training, progress):
        index = {name: i for i, name in enumerate(labels)}
        features = []
        common = dict(padding="max_length", truncation=True, max_length=settings.max_length, return_tensors="np")
        xlm = type(tokenizer).__name__ == "XLMTokenizer"
        for example in progress(examples):
            if xlm:
                language = example.language or settings.language
                encoded = (
                    tokenizer(example.premise, example.hypothesis, lang=language, **common)
                    if language and tokenizer.lang2id
                    else tokenizer(example.premise, example.hypothesis, **common)
                )
            else:
                encoded = tokenizer(example.premise, example.hypothesis, **common)
            feature = _array(encoded)
            feature["labels"] = np.int32(index[example.label])
            features.append(feature)
        return Prepared(features, list(range(len(examples))), examples)

    def evaluate(self, prepared, outputs, labels, settings, tokenizer):
        predicted = [labels[int(o["logits"].argmax())] for o in outputs]
        return metrics.accuracy(predicted, [e.label for e in prepared.examples])


class ParaphraseIdentification(NLI):
    """PAWS-X: is the second sentence a paraphrase of the first (label 1) or not (0), as XTREME
    runs it (sentence-pair classification, accuracy); languages from the release's directories."""

    name = "paws-x"
    formats = ()

    def read(self, path, settings=None):
        return readers.read_paws_x(path, settings.language if settings else None)


TASKS: dict[str, Task] = {
    t.name: t for t in (NER(), Relation(), EntityTyping(), QuestionAnswering(), NLI(), ParaphraseIdentification())
}
