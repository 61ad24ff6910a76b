"""The grain loader: shuffled, mixed by language, sharded by process, seeded transforms, exact resume."""

import json

import numpy as np
import pytest

from mluke_jax.corpus.loader import EntityExampleStream, language_weights, open_example_sets


def take(stream, n):
    return [next(stream) for _ in range(n)]


def same(a, b):
    return all(np.array_equal(x[k], y[k]) for x, y in zip(a, b, strict=True) for k in x)


def test_one_language_epoch_sees_every_example_once_in_a_seeded_order(example_sets):
    (dataset,) = open_example_sets([example_sets["en"]])
    n = len(dataset)
    assert n >= 6 and len(dataset.metadata["shards"]) >= 2  # several shards of 5 records

    def rows(stream, count):
        return [(int(b["page_id"][0]), *b["input_ids"][0].tolist()) for b in take(stream, count)]

    stream = EntityExampleStream([example_sets["en"]], 1, seed=3, alpha=1.0)
    first_epoch = rows(stream, n)
    reader_rows = sorted(first_epoch)
    assert len(set(first_epoch)) == n  # no example twice within the epoch
    batch = take(EntityExampleStream([example_sets["en"]], 1, seed=3), 1)[0]
    assert batch["input_ids"].shape == (1, 16) and batch["entity_position_ids"].shape == (1, 4, 30)
    assert (int(batch["page_id"][0]), *batch["input_ids"][0].tolist()) == first_epoch[0]
    other_seed = rows(EntityExampleStream([example_sets["en"]], 1, seed=4), n)
    assert other_seed != first_epoch and sorted(other_seed) == reader_rows
    second_epoch = rows(stream, n)
    assert sorted(second_epoch) == reader_rows and second_epoch != first_epoch  # reshuffled


def test_processes_read_disjoint_rows_of_the_same_global_batches(example_sets):
    dirs = [example_sets["en"], example_sets["de"]]
    whole = take(EntityExampleStream(dirs, 4, seed=0), 5)
    parts = [take(EntityExampleStream(dirs, 4, seed=0, shard=(i, 2)), 5) for i in range(2)]
    for step in range(5):
        for key in whole[step]:
            joined = np.concatenate([parts[0][step][key], parts[1][step][key]])
            np.testing.assert_array_equal(joined, whole[step][key])
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        EntityExampleStream(dirs, 4, shard=(0, 3))


def test_transforms_are_seeded_by_example_index_whatever_the_process_count(example_sets):
    def noise(example, rng):
        return {**example, "page_id": np.int64(rng.integers(1 << 40))}

    dirs = [example_sets["en"], example_sets["de"]]
    whole = take(EntityExampleStream(dirs, 4, seed=1, transform=noise), 3)
    half = take(EntityExampleStream(dirs, 4, seed=1, transform=noise, shard=(1, 2)), 3)
    for step in range(3):
        np.testing.assert_array_equal(half[step]["page_id"], whole[step]["page_id"][2:])
    assert len({int(p) for b in whole for p in b["page_id"]}) == 12  # a fresh draw per example


def test_languages_are_mixed_by_size_share_to_the_alpha():
    assert language_weights({"en": 900, "de": 100}, 1.0) == pytest.approx({"en": 0.9, "de": 0.1})
    assert language_weights({"en": 900, "de": 100}, 0.0) == pytest.approx({"en": 0.5, "de": 0.5})
    w = language_weights({"en": 900, "de": 100}, 0.7)
    assert w["de"] == pytest.approx(0.1**0.7 / (0.1**0.7 + 0.9**0.7))


def test_mixing_follows_the_weights(example_sets):
    dirs = [example_sets["en"], example_sets["de"]]
    stream = EntityExampleStream(dirs, 10, seed=0, alpha=0.0)  # uniform over the two languages
    assert stream.languages == ["de", "en"] and stream.weights == pytest.approx({"de": 0.5, "en": 0.5})
    languages = np.concatenate([b["language"] for b in take(stream, 20)])
    assert abs(np.mean(languages == 1) - 0.5) < 0.06


def test_a_resumed_stream_gives_exactly_the_next_batches(example_sets):
    dirs = [example_sets["en"], example_sets["de"]]
    stream = EntityExampleStream(dirs, 2, seed=5)
    take(stream, 7)  # past an epoch of the smaller language
    position = json.loads(json.dumps(stream.position))  # as a checkpoint stores it
    expected = take(stream, 6)
    resumed = EntityExampleStream(dirs, 2, seed=5)
    resumed.seek(position)
    assert same(take(resumed, 6), expected)
    with pytest.raises(ValueError, match="another pipeline"):
        EntityExampleStream(dirs, 2, seed=6).seek(position)


def test_data_built_with_another_tokenizer_or_vocabulary_is_refused(example_sets, tmp_path):
    other = tmp_path / "vocab.json"
    other.write_text(json.dumps({"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "[MASK2]": 3, "en:Tokyo": 4}))
    with pytest.raises(ValueError, match=r"built with the entity vocabulary .*entity_vocab.json \(sha256:.*given is "
                                         r"another \(sha256:"):
        open_example_sets([example_sets["en"]], entity_vocab=other)
    open_example_sets([example_sets["en"]], entity_vocab=example_sets["entity_vocab"],
                      tokenizer=example_sets["tokenizer"])
    from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer

    with pytest.raises(ValueError, match="built with the tokenizer"):
        open_example_sets([example_sets["en"]], tokenizer=write_toy_mluke_tokenizer(tmp_path / "tok", 200,
                                                                                      lite=True))
    # two data sets of different vocabularies are not mixed
    meta = json.loads((example_sets["de"] / "metadata.json").read_text())
    copy = tmp_path / "de-copy"
    copy.mkdir()
    for shard in meta["shards"]:
        (copy / shard["file"]).write_bytes((example_sets["de"] / shard["file"]).read_bytes())
    meta["entity_vocab_fingerprint"] = "sha256:0"
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="was built with another entity vocabulary"):
        open_example_sets([example_sets["en"], copy])
    shard = copy / meta["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-5])
    with pytest.raises(ValueError, match="cut short or damaged"):
        open_example_sets([copy])
