"""Write the tiny fine-tuning data sets under tests/data/finetune/ (one per recipe format).

    python tests/data/make_finetune_data.py

Generated, learnable tasks (no real data set can be downloaded here): entity types, relations,
answers and NLI labels follow from the words, so a small model trained for a few hundred steps
beats chance. Deterministic.
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "finetune"
TYPES = {
    "LOC": ["Tokyo", "New York", "Paris", "München", "Mount Everest", "Москва", "Köln"],
    "PER": ["Marie Curie", "Goethe", "Пушкин"],
    "ORG": ["the Beatles", "Élysée"],
}
FILLER = "the of and in was city river famous old new is a on with".split()


def filler(rng, n):
    return [rng.choice(FILLER) for _ in range(n)]


def ner(rng, count):
    """CoNLL lines: word POS chunk tag (IOB2 in train, IOB1 in eval to exercise both)."""
    blocks = []
    for _ in range(count):
        words, tags = [], []
        for _ in range(rng.randint(1, 2)):
            words += filler(rng, rng.randint(0, 3))
            tags += ["O"] * (len(words) - len(tags))
            kind = rng.choice(sorted(TYPES))
            name = rng.choice(TYPES[kind]).split()
            words += name
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
        words += filler(rng, rng.randint(1, 3)) + ["."]
        tags += ["O"] * (len(words) - len(tags))
        blocks.append("\n".join(f"{w} NN O {t}" for w, t in zip(words, tags)))
    return "-DOCSTART- -X- -X- O\n\n" + "\n\n".join(blocks) + "\n"


def relation(rng, count):
    out = []
    for _ in range(count):
        kind = rng.choice(["born", "near", "none"])
        if kind == "born":
            head, verb, tail, label = (
                rng.choice(TYPES["PER"]),
                ["was", "born", "in"],
                rng.choice(TYPES["LOC"]),
                "per:city_of_birth",
            )
        elif kind == "near":
            head, verb, tail, label = rng.choice(TYPES["LOC"]), ["is", "near"], rng.choice(TYPES["LOC"]), "loc:near"
        else:
            head, verb, tail, label = rng.choice(TYPES["ORG"]), ["and"], rng.choice(TYPES["PER"]), "no_relation"
        pre = filler(rng, rng.randint(0, 2))
        h, t = head.split(), tail.split()
        tokens = pre + h + verb + t + ["."]
        hs = len(pre)
        ts = hs + len(h) + len(verb)
        out.append(
            {
                "token": tokens,
                "subj_start": hs,
                "subj_end": hs + len(h) - 1,
                "obj_start": ts,
                "obj_end": ts + len(t) - 1,
                "relation": label,
            }
        )
    return out


def typing(rng, count):
    labels = {"LOC": ["location", "place"], "PER": ["person"], "ORG": ["organization", "group"]}
    out = []
    for _ in range(count):
        kind = rng.choice(sorted(TYPES))
        name = rng.choice(TYPES[kind])
        before = " ".join(filler(rng, rng.randint(1, 4)))
        sent = f"{before} {name} {' '.join(filler(rng, rng.randint(1, 3)))} ."
        out.append({"sent": sent, "start": len(before) + 1, "end": len(before) + 1 + len(name), "labels": labels[kind]})
    return out


def squad(rng, count, prefix):
    paragraphs = []
    for i in range(count):
        person, place = rng.choice(TYPES["PER"]), rng.choice(TYPES["LOC"])
        before = " ".join(filler(rng, rng.randint(1, 3)))
        context = f"{before} {person} lives in {place} and {' '.join(filler(rng, 2))} ."
        start = context.index(f" in {place}") + 4
        qa = {
            "id": f"{prefix}{i}",
            "question": f"Where does {person} live ?",
            "answers": [{"text": place, "answer_start": start}],
        }
        paragraphs.append({"context": context, "qas": [qa]})
    return {"version": "1.1", "data": [{"title": "generated", "paragraphs": paragraphs}]}


def nli(rng, count):
    rows = ["premise\thypothesis\tlabel\tlanguage"]
    for _ in range(count):
        label, marker = rng.choice([("entailment", "yes"), ("contradiction", "no"), ("neutral", "maybe")])
        premise = " ".join(filler(rng, rng.randint(3, 6)))
        words = filler(rng, rng.randint(1, 3))
        words.insert(rng.randint(0, len(words)), marker)
        rows.append(f"{premise}\t{' '.join(words)}\t{label}\t{rng.choice(['en', 'de', 'fr'])}")
    return "\n".join(rows) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    (OUT / "conll_train.txt").write_text(ner(rng, 120), encoding="utf-8")
    (OUT / "conll_eval.txt").write_text(ner(rng, 40).replace("B-", "I-"), encoding="utf-8")  # IOB1-style
    (OUT / "tacred_train.json").write_text(
        json.dumps(relation(rng, 120), ensure_ascii=False, indent=0), encoding="utf-8"
    )
    (OUT / "tacred_eval.json").write_text(json.dumps(relation(rng, 40), ensure_ascii=False, indent=0), encoding="utf-8")
    (OUT / "openentity_train.json").write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in typing(rng, 120)) + "\n", encoding="utf-8"
    )
    (OUT / "openentity_eval.json").write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in typing(rng, 40)) + "\n", encoding="utf-8"
    )
    (OUT / "squad_train.json").write_text(json.dumps(squad(rng, 120, "t"), ensure_ascii=False), encoding="utf-8")
    (OUT / "squad_eval.json").write_text(json.dumps(squad(rng, 40, "e"), ensure_ascii=False), encoding="utf-8")
    (OUT / "xnli_train.tsv").write_text(nli(rng, 150), encoding="utf-8")
    (OUT / "xnli_eval.tsv").write_text(nli(rng, 45), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
