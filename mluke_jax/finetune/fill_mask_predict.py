"""``python -m mluke_jax.finetune predict fill-mask``: :func:`mluke_jax.fill_mask` over a
file, one record per line.

Input: a plain text with mask tokens (``<mask>`` for (m)LUKE, ``<special1>`` for XLM), or a JSON
object ``{"text": ..., "language": ...}`` (other fields, an ``"id"``, are copied). Output: one
JSON object per record: ``line``, ``text``, ``language`` (the record's, else ``--language``) and
``masks``: per mask token, the ``top_k`` fillings (``score``, ``token``, ``token_str``,
``sequence``), as transformers' fill-mask pipeline writes them. A line that cannot be filled (no
mask token, too long, bad JSON, an unknown language) is reported with its file and line; the
others are still written.
"""

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from mluke_jax.finetune.prediction import Predictions
from mluke_jax.text_files import read_text

HEADS = {"luke": "LukeForMaskedLM", "xlm": "XLMWithLMHeadModel"}


def load_masked_lm(model: str, bf16: bool = False) -> tuple[Any, Any, str]:
    """The model's LM head (refused when the checkpoint has none: random words), its tokenizer and
    its family (``luke`` or ``xlm``)."""
    import mluke_jax
    from mluke_jax.finetune.prediction import _trained_head
    from mluke_jax.finetune.run import load_tokenizer, model_family
    from mluke_jax.finetune.tasks import Settings

    family = model_family(model)
    head = getattr(mluke_jax, HEADS[family])
    loaded = _trained_head(head, model, "fill-mask", {"dtype": "bfloat16"} if bf16 else {})
    return loaded, load_tokenizer(model, family, "fill-mask", Settings()), family


def predict_fill_mask(
    model: str,
    source: str | Path,
    *,
    top_k: int = 5,
    language: str | None = None,
    batch_size: int = 16,
    bf16: bool = False,
) -> Predictions:
    """Fill the masks of every record of the file ``source`` (see the module docstring)."""
    from mluke_jax.mask_filling import encode_text, fill_encoded

    started = time.perf_counter()
    loaded, tokenizer, family = load_masked_lm(model, bf16)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} not found")
    records, rows, errors = [], [], []
    for number, line in enumerate(read_text(path).split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            record = _record(line)
            if language and not record.get("language"):
                record["language"] = language
            # XLM reads the text in its language; (m)LUKE has no language input: the field is kept only
            text_language = record.get("language") if family == "xlm" else None
            rows.append(encode_text(loaded, tokenizer, record["text"], text_language, number))
        except ValueError as e:
            errors.append(f"{path}:{number}: {str(e).removeprefix(f'text {number}: ')}")
            continue
        records.append({"line": number, **record})
    filled = fill_encoded(loaded, tokenizer, rows, top_k=top_k, batch_size=batch_size)
    out = [{**record, "masks": masks} for record, masks in zip(records, filled)]
    shapes = {(batch_size, -(-len(ids) // 16) * 16) for ids, _ in rows}
    return dataclasses.replace(Predictions(out, errors, shapes, 0.0), seconds=time.perf_counter() - started)


def _record(line: str) -> dict[str, Any]:
    if not line.lstrip().startswith("{"):
        return {"text": line}
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ValueError('a JSON line must be an object with a "text" string')
    return record
