"""Masking statistics over many examples (LUKE words + entities, XLM MLM), as the original code masks."""

import numpy as np
import pytest

from mluke_jax.pretrain.masking import IGNORE, LukeMasking, XLMMasking, continuation_table
from mluke_jax.testing.toy_data import multilingual_sentences, write_toy_mluke_tokenizer
from mluke_jax.tokenizers.mluke import MLukeTokenizer


@pytest.fixture(scope="module")
def luke_examples(tmp_path_factory):
    """3000 corpus-style examples (``word_ids`` with <s> </s>, entities with their positions)."""
    directory = write_toy_mluke_tokenizer(tmp_path_factory.mktemp("tok") / "t", sentences=800, vocab_size=600)
    tokenizer = MLukeTokenizer.from_pretrained(directory)
    sentences = [s for s in multilingual_sentences(3000, seed=11, max_entities=6) if s.spans]
    encoded = tokenizer(
        [s.text for s in sentences], entity_spans=[s.spans for s in sentences], entities=[s.entities for s in sentences]
    )
    examples = []
    for n in range(len(sentences)):
        examples.append(
            {
                "word_ids": np.asarray(encoded["input_ids"][n], np.int32),
                "entity_ids": np.asarray(encoded["entity_ids"][n], np.int32),
                "entity_position_ids": np.asarray(encoded["entity_position_ids"][n], np.int32),
            }
        )
    return tokenizer, examples


def test_luke_masking_rates_and_rules(luke_examples):
    tokenizer, examples = luke_examples
    masking = LukeMasking.for_tokenizer(tokenizer)
    continuation = continuation_table(tokenizer)
    specials = set(tokenizer.all_special_ids)
    ordinary = predicted = masked = randomised = kept = 0
    entities = masked_entities = 0
    for n, example in enumerate(examples):
        out = masking(example, np.random.default_rng([0, n]))
        words, labels = example["word_ids"], out["labels"]
        chosen = labels != IGNORE
        assert np.array_equal(labels[chosen], words[chosen])
        assert not any(int(t) in specials for t in words[chosen])  # never <s>, </s>, <pad>
        assert chosen.sum() >= 1  # at least one word
        # whole words: a continuation piece is predicted exactly when the piece before it is
        for i in range(2, len(words) - 1):
            if continuation[words[i]] and int(words[i - 1]) not in specials:
                assert chosen[i] == chosen[i - 1], (n, i)
        # entities: max(1, round(15 %)) of them, each [MASK]; no predicted word in a masked mention
        e_chosen = out["entity_labels"] != IGNORE
        assert e_chosen.sum() == max(1, round(len(example["entity_ids"]) * 0.15))
        assert np.all(out["entity_ids"][e_chosen] == tokenizer.entity_mask_token_id)
        assert np.array_equal(out["entity_labels"][e_chosen], example["entity_ids"][e_chosen])
        assert np.array_equal(out["entity_ids"][~e_chosen], example["entity_ids"][~e_chosen])
        in_masked = example["entity_position_ids"][e_chosen]
        assert not chosen[in_masked[in_masked >= 0]].any()
        entities += len(example["entity_ids"])
        masked_entities += int(e_chosen.sum())
        ordinary += sum(1 for t in words if int(t) not in specials)
        predicted += int(chosen.sum())
        masked += int(np.sum(out["word_ids"][chosen] == tokenizer.mask_token_id))
        same = out["word_ids"][chosen] == words[chosen]
        kept += int(same.sum())
        randomised += int(np.sum(~same & (out["word_ids"][chosen] != tokenizer.mask_token_id)))
    # tolerances: these counts are in the tens of thousands (one standard deviation well under 0.5 %)
    assert abs(predicted / ordinary - 0.15) < 0.02, predicted / ordinary
    assert abs(masked / predicted - 0.8) < 0.03 and abs(kept / predicted - 0.1) < 0.03
    assert abs(randomised / predicted - 0.1) < 0.03  # (a random draw of the same id counts as kept)
    assert masked_entities / entities > 0.15  # the at-least-one rule lifts it over 15 % on short lists


def test_luke_masking_is_deterministic_and_sub_word_masking_splits_words(luke_examples):
    tokenizer, examples = luke_examples
    whole, pieces = LukeMasking.for_tokenizer(tokenizer), LukeMasking.for_tokenizer(tokenizer, whole_word=False)
    example = examples[5]
    first, again = whole(example, np.random.default_rng([3, 5])), whole(example, np.random.default_rng([3, 5]))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    other = whole(example, np.random.default_rng([4, 5]))
    assert not all(np.array_equal(first[k], other[k]) for k in ("labels", "entity_labels"))
    continuation = continuation_table(tokenizer)
    partial = 0
    for n, example in enumerate(examples[:1500]):
        chosen = pieces(example, np.random.default_rng([0, n]))["labels"] != IGNORE
        words = example["word_ids"]
        partial += sum(1 for i in range(2, len(words) - 1) if continuation[words[i]] and chosen[i] != chosen[i - 1])
    assert partial > 50  # pieces of one word are chosen apart


def test_a_masked_batch_pads_labels_with_the_ignore_index(luke_examples):
    from mluke_jax.corpus.loader import pad_entity_example

    tokenizer, examples = luke_examples
    out = LukeMasking.for_tokenizer(tokenizer)(
        {**examples[0], "page_id": np.int64(1), "language": np.int32(0)}, np.random.default_rng(0)
    )
    padded = pad_entity_example(out, 64, 8)
    assert padded["labels"].shape == (64,) and padded["entity_labels"].shape == (8,)
    assert np.all(padded["labels"][len(out["labels"]) :] == IGNORE)
    assert np.all(padded["entity_labels"][len(out["entity_labels"]) :] == IGNORE)


def test_xlm_masking_rates_padding_first_position_and_frequency_weights():
    rng = np.random.default_rng(0)
    vocab, mask, pad = 500, 5, 2
    windows = rng.integers(14, vocab, (4000, 64))
    windows[:, 50:] = np.where(np.arange(4000)[:, None] % 2 == 0, pad, windows[:, 50:])  # padded rows
    plain = XLMMasking(vocab_size=vocab, mask_id=mask, pad_id=pad)
    chosen = total = masked = kept = 0
    for n, window in enumerate(windows):
        out = plain({"input_ids": window}, np.random.default_rng([1, n]))
        labels = out["labels"]
        assert labels[0] == IGNORE and np.all(labels[window == pad] == IGNORE)
        picked = labels != IGNORE
        chosen += int(picked.sum())
        total += int(np.sum(window != pad)) - 1
        masked += int(np.sum(out["input_ids"][picked] == mask))
        kept += int(np.sum(out["input_ids"][picked] == window[picked]))
    assert abs(chosen / total - 0.15) < 0.005
    assert abs(masked / chosen - 0.8) < 0.01 and abs(kept / chosen - 0.1) < 0.01
    # sample_alpha > 0: ceil(15 % of the tokens), rare tokens drawn more often than frequent ones
    counts = np.ones(vocab)
    counts[100] = 10_000  # a very frequent token
    weighted = XLMMasking.for_counts(counts, 0.5, special_ids=range(14), vocab_size=vocab, mask_id=mask, pad_id=pad)
    frequent_rate = rare_rate = 0
    for n in range(2000):
        window = np.where(np.arange(64) % 2 == 0, 100, 200 + np.arange(64))
        picked = weighted({"input_ids": window}, np.random.default_rng([2, n]))["labels"] != IGNORE
        assert picked.sum() <= int(np.ceil(0.15 * 64)) and not picked[0]
        frequent_rate += picked[window == 100].mean()
        rare_rate += picked[window != 100].mean()
    assert rare_rate > 20 * frequent_rate
