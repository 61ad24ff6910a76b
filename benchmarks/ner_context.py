"""NER span F1 with and without document context, from a model pretrained on a generated world and from random weights.

    python benchmarks/ner_context.py [--names 150 --pretrain-pages 6000 --train-docs 250 --eval-docs 150
                                      --hidden 64 --layers 4 --pretrain-steps 4500 --pretrain-batch 32
                                      --epochs 4 --learning-rate 1e-3 --seeds 0 1 2 --work DIR]

Everything is generated, then run through the project's own commands, one process at a time:

1. **The world**: ``--names`` one-word names made of syllables. A name is not tied to a type: in
   each document it is a person (PER), a place (LOC) or a company (ORG), drawn at random, so its
   type can only come from what the document says about it.
2. **Coherent documents**: 2-4 entities, each mentioned once with a cue of its type in its sentence
   (``Mr X arrived on Monday .``, ``many people live in the town of X .``, ``shares of the bank X
   fell on Friday .``) and once or twice in neutral sentences that name it without saying what it
   is (``X was in the news again .``, ``the paper wrote about X and Y .``), plus 0-2 sentences
   without entities, in a random order. A sentence read alone gives the type of a neutral mention
   only by chance; the document gives it.
3. **Pretraining** on the same world: ``--pretrain-pages`` such documents (another draw) and an
   article about each (name, type) as a generated English Wikipedia dump
   (``mluke_jax.testing.toy_wiki.write_dump``), the first mention of each entity in a page linked
   to ``X (person)``, ``X (place)`` or ``X (company)`` (as Wikipedia links an entity once per
   article); the corpus stages (``wikipedia``, ``entity-vocab``, ``examples`` of ``--max-length``
   tokens: the consecutive sentences of a page packed together) with a sentencepiece tokenizer
   learned from the pages (``write_toy_mluke_tokenizer``); then ``python -m mluke_jax.pretrain
   luke`` from a LUKE ``config.json`` (masked words + masked entities; held-out pages evaluated).
4. **NER data** in the CoNLL-2003 layout (``-DOCSTART-`` before each document, IOB2 tags):
   ``--train-docs`` and ``--eval-docs`` coherent documents (draws of their own), and the same
   sentences **shuffled** across the documents of their split and cut into documents of the same
   sizes (the evaluation sentences are the same; only their neighbours change).
5. **Fine-tuning**: ``python -m mluke_jax.finetune ner`` with identical settings on coherent and
   shuffled data, with document context and with ``--no-context``, from the pretrained ``model/``
   and from the same configuration at its random initialisation (the pretraining run's step 0: same
   config and seed, written with the pretraining run's own functions), for each of ``--seeds``;
   the table reports ``metrics.json``'s ``eval.f1``.

A stage whose output is already in ``--work`` is not run again (an interrupted run continues).
"""

import sys

# This directory holds a tokenize.py: it must not shadow the standard library's tokenize.
sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import machine  # noqa: E402

TYPES = ("PER", "LOC", "ORG")
TITLES = {"PER": "person", "LOC": "place", "ORG": "company"}
SYLLABLES = "ka lo mi ra su te vo na ri de ba sol ven tor mar lin gal dor fen pra bel kus tam ho".split()

# {x}, {y}: the entities' names. A cue sentence says what its entities are ...
CUES = {
    "PER": [
        "Mr {x} arrived on Monday .",
        "the lawyer {x} spoke to reporters .",
        "{x} , the singer , was born in the north .",
        "reporters said that Mrs {x} was tired .",
        "the young writer {x} wrote a new book .",
        "the actor {x} smiled at the crowd .",
    ],
    "LOC": [
        "the city of {x} lies on the coast .",
        "many people live in the town of {x} .",
        "the river runs through the city of {x} .",
        "{x} , a small town in the north , was quiet .",
        "it rained all week in the village of {x} .",
        "the streets of the city of {x} were empty .",
    ],
    "ORG": [
        "the company {x} sold more cars .",
        "shares of the bank {x} fell on Friday .",
        "the football club {x} won the game .",
        "workers of the firm {x} went on strike .",
        "the airline {x} opened a new office .",
        "{x} , a large company , hired new staff .",
    ],
}
PAIR_CUES = {  # two entities, both with their cue
    ("PER", "LOC"): ["Mr {x} visited the city of {y} .", "the lawyer {x} grew up in the town of {y} ."],
    ("PER", "ORG"): ["Mrs {x} works for the company {y} .", "the actor {x} left the club {y} ."],
    ("ORG", "LOC"): [
        "the bank {x} opened an office in the town of {y} .",
        "the firm {x} built a factory in the city of {y} .",
    ],
}
# ... a neutral one names them without saying what they are
NEUTRAL = [
    "{x} was in the news again .",
    "nobody talked about {x} on Monday .",
    "the report named {x} twice .",
    "everyone had heard of {x} .",
    "there was a long story about {x} .",
    "a photo of {x} was on the front page .",
    "{x} was mentioned in the paper .",
]
NEUTRAL_PAIRS = [
    "{x} and {y} were in the news .",
    "the paper wrote about {x} and {y} .",
    "people compared {x} with {y} .",
]
FILLER = ["the weather was cold .", "prices went up again .", "the meeting ended late .", "it was a busy week ."]


def world_names(count: int, seed: int) -> list[str]:
    """``count`` distinct names of 2-3 syllables."""
    rng, names = random.Random(seed), set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize())
    return sorted(names)


def _sentence(template: str, entities: dict[str, tuple[str, str]], cued: bool) -> list[tuple[str, str, str, bool]]:
    """(word, IOB2 tag, the entity's title or "", whether the sentence says its type) per word."""
    out = []
    for word in template.split():
        if word in ("{x}", "{y}"):
            name, kind = entities[word[1]]
            out.append((name, f"B-{kind}", f"{name} ({TITLES[kind]})", cued))
        else:
            out.append((word, "O", "", False))
    out[0] = (out[0][0][0].upper() + out[0][0][1:], *out[0][1:])
    return out


def document(
    rng: random.Random, names: list[str], about: tuple[str, str] | None = None
) -> list[list[tuple[str, str, str, bool]]]:
    """2-4 entities of random types (``about``, a (name, type), among them): one cue each (two
    entities share a sentence 30 % of the time when a pair template fits), 1-2 neutral mentions
    each (alone or in pairs), 0-2 fillers, shuffled."""
    entities = [(name, rng.choice(TYPES)) for name in rng.sample(names, rng.randint(2, 4))]
    if about is not None:
        entities = [about] + [e for e in entities if e[0] != about[0]][: len(entities) - 1]
    sentences = []
    waiting = list(range(len(entities)))
    rng.shuffle(waiting)
    while waiting:
        i = waiting.pop()
        pair = next(
            (
                j
                for j in waiting
                if (entities[i][1], entities[j][1]) in PAIR_CUES or (entities[j][1], entities[i][1]) in PAIR_CUES
            ),
            None,
        )
        if pair is not None and rng.random() < 0.3:
            waiting.remove(pair)
            a, b = (i, pair) if (entities[i][1], entities[pair][1]) in PAIR_CUES else (pair, i)
            template = rng.choice(PAIR_CUES[entities[a][1], entities[b][1]])
            sentences.append(_sentence(template, {"x": entities[a], "y": entities[b]}, True))
        else:
            sentences.append(_sentence(rng.choice(CUES[entities[i][1]]), {"x": entities[i]}, True))
    mentions = [i for i in range(len(entities)) for _ in range(rng.randint(1, 2))]
    rng.shuffle(mentions)
    while mentions:
        i = mentions.pop()
        other = next((j for j in mentions if j != i), None)
        if other is not None and rng.random() < 0.3:
            mentions.remove(other)
            sentences.append(_sentence(rng.choice(NEUTRAL_PAIRS), {"x": entities[i], "y": entities[other]}, False))
        else:
            sentences.append(_sentence(rng.choice(NEUTRAL), {"x": entities[i]}, False))
    sentences += [_sentence(rng.choice(FILLER), {}, False) for _ in range(rng.randint(0, 2))]
    rng.shuffle(sentences)
    return sentences


def wikitext(doc: list[list[tuple[str, str, str, bool]]]) -> str:
    """The document as one paragraph, the first mention of each entity a piped link to it (as
    Wikipedia links an entity once per article: the later mentions are plain words)."""
    linked, words = set(), []
    for sentence in doc:
        for word, _, title, _ in sentence:
            words.append(f"[[{title}|{word}]]" if title and title not in linked else word)
            linked.add(title)
    return " ".join(words)


def shuffled(docs: list, seed: int) -> list:
    """The same sentences in a random order, cut into documents of the same sizes."""
    sentences = [s for doc in docs for s in doc]
    random.Random(seed).shuffle(sentences)
    out, at = [], 0
    for doc in docs:
        out.append(sentences[at : at + len(doc)])
        at += len(doc)
    return out


def write_conll(path: Path, docs: list) -> Path:
    lines = []
    for doc in docs:
        lines += ["-DOCSTART- -X- -X- O", ""]
        for sentence in doc:
            lines += [f"{word} NN O {tag}" for word, tag, _, _ in sentence] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cue_share(docs: list) -> float:
    """The share of mentions whose own sentence says what they are."""
    flags = [cued for doc in docs for s in doc for _, tag, _, cued in s if tag != "O"]
    return sum(flags) / len(flags)


def flags(options: dict) -> list[str]:
    return [item for key, value in options.items() for item in (f"--{key}", str(value))]


def run(command: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run one of the project's commands (its output to ``log``); returns the seconds it took."""
    print("  $", " ".join(command), flush=True)
    started = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{log.read_text()[-3000:]}")
    return time.perf_counter() - started


def build_pretraining_corpus(work: Path, names: list[str], args) -> dict[str, Path]:
    from mluke_jax.corpus.entity_vocab import build_entity_vocab
    from mluke_jax.corpus.examples import ExampleSettings, build_examples
    from mluke_jax.corpus.wikipedia import build_wikipedia
    from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer
    from mluke_jax.testing.toy_wiki import write_dump

    corpus = work / "corpus"
    paths = {
        "tokenizer": corpus / "tokenizer",
        "entity_vocab": corpus / "entity_vocab.json",
        "train": corpus / "en-train",
        "held-out": corpus / "en-held-out",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    corpus.mkdir(parents=True, exist_ok=True)
    wikis, texts = {}, []
    for split, reports, seed in (("train", args.pretrain_pages, 1), ("held-out", args.pretrain_eval_pages, 2)):
        rng = random.Random(args.data_seed * 100 + seed)
        pages = [(f"Report {n}", document(rng, names)) for n in range(reports)]
        if split == "train":  # an article for each entity (a link counts only to an existing page), about it
            entities = [(name, kind) for name in names for kind in TYPES]
            pages += [(f"{name} ({TITLES[kind]})", document(rng, names, (name, kind))) for name, kind in entities]
            texts = [" ".join(w for s in doc for w, *_ in s) for _, doc in pages]
        dump = write_dump(corpus / f"en-{split}.xml.bz2", "en", [(t, 0, None, wikitext(d)) for t, d in pages])
        wikis[split] = corpus / f"en-{split}-wiki"
        build_wikipedia(dump, "en", wikis[split], progress=False, overwrite=True)
    write_toy_mluke_tokenizer(
        paths["tokenizer"], sentences=200, vocab_size=args.vocab_size, lite=True, extra_texts=texts
    )
    build_entity_vocab([wikis["train"]], paths["entity_vocab"], progress=False, overwrite=True)
    settings = ExampleSettings(
        max_seq_length=args.max_length, max_entity_length=args.pretrain_max_entities, min_sentence_length=1
    )
    for split in ("train", "held-out"):
        build_examples(
            [wikis[split]], paths["tokenizer"], paths["entity_vocab"], paths[split], settings=settings,
            progress=False, overwrite=True,
        )  # fmt: skip
    return paths


def random_init_model(work: Path, config_path: Path, corpus: dict[str, Path], args) -> Path:
    """The pretraining run's model at step 0 (same config, seed and tokenizer), saved as its ``model/``."""
    out = work / "random-init"
    if (out / "model").exists():
        return out / "model"
    from mluke_jax import MLukeTokenizer
    from mluke_jax.pretrain.init import entity_aware_queries_from_word_queries
    from mluke_jax.pretrain.luke_run import LukeRunConfig, initial_model
    from mluke_jax.pretrain.run import save_model
    from mluke_jax.tokenizers.entity_vocab import read_entity_vocab

    vocab = read_entity_vocab(corpus["entity_vocab"])
    tokenizer = MLukeTokenizer.from_pretrained(corpus["tokenizer"], entity_vocab=vocab)
    config = LukeRunConfig(
        data=(str(corpus["train"]),), init=str(config_path), tokenizer=str(corpus["tokenizer"]), output=str(out),
        batch_size=args.pretrain_batch, max_steps=args.pretrain_steps, seed=args.pretrain_seed,
    )  # fmt: skip
    model = initial_model(config, tokenizer, max(vocab.values()) + 1)
    if model.config.has_entity_aware_query_weights:
        entity_aware_queries_from_word_queries(model)
    return save_model(out, model, "LukeForMaskedLM", tokenizer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a new temporary one)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--names", type=int, default=150, help="names of the world")
    parser.add_argument("--pretrain-pages", type=int, default=6000)
    parser.add_argument("--pretrain-eval-pages", type=int, default=300)
    parser.add_argument("--train-docs", type=int, default=250)
    parser.add_argument("--eval-docs", type=int, default=150)
    parser.add_argument(
        "--vocab-size", type=int, default=1000, help="sentencepiece pieces asked for (it keeps fewer on this text: 266)"
    )
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--entity-emb-size", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--max-length", type=int, default=128, help="word tokens (pretraining examples and NER)")
    parser.add_argument("--pretrain-max-entities", type=int, default=32, help="entities per pretraining example")
    parser.add_argument("--max-entities", type=int, default=40, help="NER: candidate spans per feature")
    parser.add_argument("--pretrain-steps", type=int, default=4500)
    parser.add_argument("--pretrain-batch", type=int, default=32)
    parser.add_argument("--pretrain-learning-rate", type=float, default=1e-3)
    parser.add_argument("--pretrain-seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--max-span-words", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--inits", nargs="+", choices=("pretrained", "random"), default=["pretrained", "random"])
    args = parser.parse_args()

    total_started = time.perf_counter()
    print(machine())
    work = (args.work or Path(tempfile.mkdtemp(prefix="ner-context-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print("working in", work)
    env = {"JAX_COMPILATION_CACHE_DIR": str(work / "xla-cache"), "MLUKE_JAX_CACHE_DIR": str(work / "xla-cache")}
    python = sys.executable
    names = world_names(args.names, args.data_seed)

    # ---------------------------------------------------------------- NER documents
    rng = random.Random(args.data_seed * 100 + 3)
    docs = {"train": [document(rng, names) for _ in range(args.train_docs)]}
    docs["eval"] = [document(rng, names) for _ in range(args.eval_docs)]
    data = work / "ner"
    data.mkdir(exist_ok=True)
    files = {}
    for split, split_docs in docs.items():
        files["coherent", split] = write_conll(data / f"coherent-{split}.txt", split_docs)
        files["shuffled", split] = write_conll(data / f"shuffled-{split}.txt", shuffled(split_docs, args.data_seed))
    sentences = {split: sum(len(d) for d in split_docs) for split, split_docs in docs.items()}
    mentions = {
        split: sum(t != "O" for d in split_docs for s in d for _, t, *_ in s) for split, split_docs in docs.items()
    }
    words = [len(s) for d in docs["train"] for s in d]
    share = cue_share(docs["eval"])
    print(
        f"NER data: {args.names} names; train {len(docs['train'])} documents, {sentences['train']} sentences, "
        f"{mentions['train']} mentions; eval {len(docs['eval'])} documents, {sentences['eval']} sentences, "
        f"{mentions['eval']} mentions; {min(words)}-{max(words)} words a sentence; {share:.1%} of the eval mentions "
        f"have a cue in their own sentence (a reader of the sentence alone that is right on those and guesses the "
        f"others among {len(TYPES)} types: F1 about {share + (1 - share) / len(TYPES):.2f})",
        flush=True,
    )

    # ---------------------------------------------------------------- pretraining
    started = time.perf_counter()
    corpus = build_pretraining_corpus(work, names, args)
    counts = {s: json.loads((corpus[s] / "metadata.json").read_text())["counts"] for s in ("train", "held-out")}
    entities = len(set(json.loads(corpus["entity_vocab"].read_text()).values()))
    print(
        f"pretraining corpus: {counts['train']['pages']} pages ({args.pretrain_pages} documents, "
        f"{args.names * len(TYPES)} entity articles) -> {counts['train']['examples']} examples, "
        f"{counts['train']['entities']} entity mentions, {entities} entity ids; held out {args.pretrain_eval_pages} "
        f"pages -> {counts['held-out']['examples']} examples ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    config_path = work / "model.json"
    config_path.write_text(json.dumps({
        "hidden_size": args.hidden, "num_hidden_layers": args.layers, "num_attention_heads": args.heads,
        "intermediate_size": 4 * args.hidden, "entity_emb_size": args.entity_emb_size,
        "max_position_embeddings": args.max_length + 2, "type_vocab_size": 1,
        "hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout,
    }))  # fmt: skip
    pretrained = work / "pretrain" / "model"
    pretrain_seconds = None
    if "pretrained" in args.inits and not pretrained.exists():
        options = {
            "data": corpus["train"], "eval-data": corpus["held-out"], "init": config_path,
            "tokenizer": corpus["tokenizer"], "output": work / "pretrain", "batch-size": args.pretrain_batch,
            "max-steps": args.pretrain_steps, "learning-rate": args.pretrain_learning_rate,
            "warmup-steps": args.pretrain_steps // 20, "eval-every": max(1, args.pretrain_steps // 3),
            "eval-examples": 512, "log-every": 100, "save-every": args.pretrain_steps, "seed": args.pretrain_seed,
        }  # fmt: skip
        pretrain_seconds = run(
            [python, "-m", "mluke_jax.pretrain", "luke", *flags(options), "--quiet"],
            work / "pretrain.log",
            env,
        )
    if "pretrained" in args.inits:
        lines = [json.loads(x) for x in (work / "pretrain" / "metrics.jsonl").read_text().splitlines()]
        evals = [x for x in lines if x["split"] == "eval"]
        took = f"{pretrain_seconds:.0f} s" if pretrain_seconds is not None else "kept from an earlier run"
        accuracies = ", ".join(f"step {x['step']} {x['mep_accuracy']:.3f} / {x['mlm_accuracy']:.3f}" for x in evals)
        print(
            f"pretraining: {args.pretrain_steps} steps of {args.pretrain_batch} ({took}); held-out masked entities / "
            f"masked words accuracy: {accuracies}",
            flush=True,
        )
    models = {"pretrained": pretrained}
    if "random" in args.inits:
        models["random"] = random_init_model(work, config_path, corpus, args)

    # ---------------------------------------------------------------- fine-tuning
    conditions = [(d, c) for d in ("coherent", "shuffled") for c in (True, False)]
    scores: dict[tuple, list[float]] = {}
    seconds: list[float] = []
    for seed in args.seeds:  # every condition of a seed before the next seed: a partial run is still a table
        for init in args.inits:
            for kind, context in conditions:
                out = work / "finetune" / f"{init}-{kind}-{'context' if context else 'alone'}-{seed}"
                if not (out / "metrics.json").exists():
                    options = {
                        "model": models[init], "train": files[kind, "train"], "eval": files[kind, "eval"],
                        "output": out, "epochs": args.epochs, "batch-size": args.batch_size,
                        "learning-rate": args.learning_rate, "max-length": args.max_length,
                        "max-entities": args.max_entities, "max-span-words": args.max_span_words, "seed": seed,
                        "save-every": 1_000_000,
                    }  # fmt: skip
                    command = [python, "-m", "mluke_jax.finetune", "ner", *flags(options), "--quiet"]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    seconds.append(
                        run(command + ([] if context else ["--no-context"]), out.parent / f"{out.name}.log", env)
                    )
                f1 = json.loads((out / "metrics.json").read_text())["eval"]["f1"]
                scores.setdefault((init, kind, context), []).append(f1)
                print(
                    f"    {init} {kind} {'with' if context else 'without'} context, seed {seed}: F1 {f1:.4f}",
                    flush=True,
                )

    def cell(values: list[float]) -> str:
        return f"**{statistics.mean(values):.3f}** ({', '.join(f'{v:.3f}' for v in values)})"

    print()
    print(f"span F1 on the {sentences['eval']} evaluation sentences, mean (seeds {', '.join(map(str, args.seeds))}):")
    print()
    print("| model | coherent, with context | coherent, without | shuffled, with context | shuffled, without |")
    print("|---|---|---|---|---|")
    for init in args.inits:
        label = "pretrained" if init == "pretrained" else "random init (no pretraining)"
        print(f"| {label} | " + " | ".join(cell(scores[init, k, c]) for k, c in conditions) + " |")
    print()
    if seconds:
        print(f"fine-tuning: {len(seconds)} runs, {statistics.mean(seconds):.0f} s each on average")
    print(f"total {time.perf_counter() - total_started:.0f} s")


if __name__ == "__main__":
    main()
