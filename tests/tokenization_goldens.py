"""Replaying a tokenizer golden file (tests/data/make_*_tokenizer_data.py) on our tokenizer."""

import json

import pytest


def replay_goldens(goldens: dict, tokenizer_for) -> tuple[int, list]:
    """Run every recorded call; ``tokenizer_for(case)`` gives the tokenizer of a case (its ``init``
    settings and vocabulary). Returns (calls compared, mismatches). A case transformers cannot
    truncate must raise here; where transformers' batch padding forgets the call's
    ``max_entity_length``, ours pads to it (README, Differences) and the rest must match."""
    assert goldens["transformers"] == "4.46.3"
    tokenizers, mismatches, compared = {}, [], 0
    for number, case in enumerate(goldens["cases"]):
        key = (case.get("vocab", "full"), json.dumps(case.get("init", {}), sort_keys=True))
        if key not in tokenizers:
            tokenizers[key] = tokenizer_for(case)
        if case.get("transformers_cannot_truncate"):
            with pytest.raises(ValueError, match="cannot remove"):
                tokenizers[key](**case["call"])
            continue
        got = tokenizers[key](**case["call"])
        compared += 1
        if case.get("transformers_ignores_max_entity_length"):
            width = case["call"]["max_entity_length"]
            assert all(len(row) == width for row in got["entity_ids"])
            case = {
                **case,
                "expected": {
                    k: [row[:width] for row in v] if k.startswith("entity_") else v for k, v in case["expected"].items()
                },
            }
        if got != case["expected"]:
            mismatches.append(
                (
                    number,
                    case["call"],
                    {k: (got.get(k), v) for k, v in case["expected"].items() if got.get(k) != v},
                    set(got) ^ set(case["expected"]),
                )
            )
    return compared, mismatches


def check_tokenize_and_decode(goldens: dict, tok) -> None:
    for case in goldens["tokenize"]:
        assert tok.tokenize(case["text"]) == case["expected"], case["text"]
    for case in goldens["decode"]:
        assert tok.decode(case["ids"], skip_special_tokens=case["skip_special_tokens"]) == case["expected"]
    assert tok.vocab_size == goldens["vocab_size"] and len(tok) == goldens["len"]
