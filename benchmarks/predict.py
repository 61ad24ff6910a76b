"""NER predictions on raw text: ``mluke_jax.finetune.predict`` against PyTorch span batch by span batch.

    python benchmarks/predict.py [--sentences 200] [--layers 12] [--span-batch 32]

The model: luke-base's encoder dimensions (hidden 768, 12 layers, 12 heads, FFN 3072,
entity-aware attention as the CoNLL checkpoints) with a 5-label span-classification head, random
weights, the English LUKE test tokenizer's vocabulary. The text: ``--sentences`` generated English
sentences of 4-25 words (CoNLL-like), every run of up to 8 words a candidate span.

- mluke-jax: :class:`~mluke_jax.finetune.Predictor` (all spans of a sentence in one forward pass,
  sentences batched 8 at a time in fixed length buckets); the first call includes compilation.
- PyTorch (transformers ``LukeForEntitySpanClassification``, same weights, ``torch.no_grad``): one
  sentence at a time, its spans in batches of ``--span-batch`` per forward pass, as the LUKE NER
  examples and the model card loop run it.

Both get the same ids (mluke-jax's ``LukeTokenizer``); the argmax labels of a dozen span batches are compared
(each new shape compiles, so not all of them).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(sys.path.pop(0))  # this directory must not shadow the standard library
sys.path.append(str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from common import machine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--span-batch", type=int, default=32)
    args = parser.parse_args()

    import torch
    import transformers

    from helpers import LUKE_TOKENIZER_DATA, convert, copy_luke_tokenizer, save_hf
    from mluke_jax.finetune import Predictor, PredictSettings
    from mluke_jax.finetune.prediction import WORD, _candidate_spans
    from mluke_jax.testing.toy_data import multilingual_sentences

    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()
    print(machine())
    work = Path(tempfile.mkdtemp())
    import json

    vocab = len(json.loads((LUKE_TOKENIZER_DATA / "vocab.json").read_text(encoding="utf-8"))) + 2
    labels = {0: "NIL", 1: "MISC", 2: "PER", 3: "ORG", 4: "LOC"}
    config = transformers.LukeConfig(
        vocab_size=vocab,
        entity_vocab_size=10,
        entity_emb_size=256,
        hidden_size=768,
        num_hidden_layers=args.layers,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=514,
        type_vocab_size=1,
        use_entity_aware_attention=True,
        num_labels=5,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    reference = transformers.LukeForEntitySpanClassification(config).eval()
    src = save_hf(reference, work / "hf")
    copy_luke_tokenizer(src, task="entity_span_classification")
    model_dir = convert(src, work / "jax")
    texts = [s.text for s in multilingual_sentences(args.sentences, seed=5, languages=["en"])]
    words = sum(len(WORD.findall(t)) for t in texts)
    spans_total = sum(len(_candidate_spans(len(WORD.findall(t)), 8)[0]) for t in texts)
    print(f"{len(texts)} sentences, {words} words, {spans_total} candidate spans (up to 8 words)")

    predictor = Predictor("ner", str(model_dir), PredictSettings(batch_size=8))
    rows = []
    for name in ("mluke-jax predict, first call (compiles)", "mluke-jax predict, again"):
        started = time.perf_counter()
        result = predictor.predict(texts)
        seconds = time.perf_counter() - started
        rows.append((name, seconds, f"{len(result.shapes)} batch shapes"))

    tokenizer = predictor.tokenizer
    batches = []
    for text in texts:
        found = [m.span() for m in WORD.finditer(text)]
        starts, ends = _candidate_spans(len(found), 8)
        spans = [(found[i][0], found[j][1]) for i, j in zip(starts, ends)]
        batches += [(text, spans[i : i + args.span_batch]) for i in range(0, len(spans), args.span_batch)]
    torch_logits = []
    started = time.perf_counter()
    with torch.no_grad():
        for text, group in batches:  # tokenizing is inside the timing, as it is in predict's
            inputs = tokenizer(text, entity_spans=group, return_tensors="np")
            torch_logits.append(reference(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits[0].numpy())
    torch_seconds = time.perf_counter() - started
    agree = total = 0
    for (text, group), expected in list(zip(batches, torch_logits))[:: max(1, len(batches) // 12)]:  # a few shapes
        ours = np.asarray(predictor.model(**tokenizer(text, entity_spans=group, return_tensors="np")).logits)[0]
        agree += int((ours.argmax(-1) == expected.argmax(-1)).sum())
        total += len(group)
    rows.append((f"PyTorch, one sentence at a time, {args.span_batch} spans per pass", torch_seconds, ""))
    print(f"\nsame argmax label on {agree} of {total} spans\n")
    print("| run | seconds | sentences/s | |")
    print("|---|---|---|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.1f} | {len(texts) / seconds:.1f} | {note} |")


if __name__ == "__main__":
    main()
