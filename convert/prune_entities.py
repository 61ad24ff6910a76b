"""``python -m convert.prune_entities SRC DST --languages en,de`` (or ``--entities FILE``).

Keeps the special entities plus the chosen ones in a converted mLUKE checkpoint: every parameter
with an entity-vocabulary axis (the entity embedding table, and ``LukeForMaskedLM``'s entity
decoder bias and untied kernel) keeps only their rows, and ``entity_vocab.json`` is renumbered to
match. mluke-base's 1.2M x 256 entity table is about half of its parameters; a model pruned to the
entities of one task gives the same outputs on inputs that use them.

Entity ids are renumbered in their old order; names that shared an id (one entity in several
languages) keep sharing it when kept. The output is written atomically.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from mluke_jax import checkpoint, sharding
from mluke_jax.architectures import ARCHITECTURES
from mluke_jax.config import LukeConfig
from mluke_jax.paths import local_path
from mluke_jax.tokenizers.entity_vocab import SPECIAL_ENTITIES, find_entity_vocab, read_entity_vocab, write_entity_vocab

ENTITY_VOCAB_FILES = ("entity_vocab.json", "entity_vocab.jsonl", "entity_vocab.tsv")


def read_entity_list(path: str | Path) -> list[str]:
    """One entity name per line (``en:Tokyo``); blank lines and ``#`` comments skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"entity list {path} not found")
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def choose_entities(
    vocab: dict[str, int], languages: list[str] | None = None, names: list[str] | None = None
) -> dict[str, int]:
    """The kept part of ``vocab`` (old ids): the special entities, every ``lang:title`` of
    ``languages``, and ``names``. Unknown names are an error."""
    if not languages and not names:
        raise ValueError("choose the entities to keep: --languages and/or --entities")
    if names:
        unknown = [n for n in names if n not in vocab]
        if unknown:
            raise ValueError(f"{len(unknown)} entities are not in the vocabulary, e.g. {unknown[:5]}")
    prefixes = tuple(f"{lang}:" for lang in languages or [])
    wanted = set(names or [])
    kept = {
        n: i for n, i in vocab.items() if n in SPECIAL_ENTITIES or n in wanted or (prefixes and n.startswith(prefixes))
    }
    if languages:
        found = {n.split(":", 1)[0] for n in kept if ":" in n}
        missing = sorted(set(languages) - found)
        if missing:
            raise ValueError(f"no entity of language(s) {missing} in the vocabulary")
    return kept


def renumber(kept: dict[str, int]) -> tuple[np.ndarray, dict[str, int]]:
    """Old ids to keep (sorted) and the new vocabulary (ids 0..n-1 in the old order)."""
    old_ids = np.array(sorted(set(kept.values())), dtype=np.int64)
    new_id = {int(old): new for new, old in enumerate(old_ids)}
    return old_ids, {name: new_id[old] for name, old in kept.items()}


def prune_checkpoint(
    src: str | Path,
    dst: str | Path,
    *,
    languages: list[str] | None = None,
    names: list[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Write the pruned copy of the converted checkpoint ``src`` to ``dst``; returns a report."""
    src = local_path(src)

    def say(message: str) -> None:
        if progress:
            print(message, file=sys.stderr, flush=True)

    if not (src / checkpoint.METADATA_FILE).is_file():
        raise ValueError(
            f"{src} is not a converted mluke-jax checkpoint (no {checkpoint.METADATA_FILE}); convert it first: python "
            f"-m convert {src} DIR"
        )
    metadata = checkpoint.read_metadata(src)
    hf = checkpoint.read_config(src)
    if hf.get("model_type") != "luke":
        raise ValueError(
            f"{src} holds a model of model_type {hf.get('model_type')!r}: only mLUKE/LUKE checkpoints have entities"
        )
    config = LukeConfig.from_hf_dict(hf, **metadata.get("structure", {}))
    vocab = read_entity_vocab(find_entity_vocab(src))
    beyond = [n for n, i in vocab.items() if not 0 <= i < config.entity_vocab_size]
    if beyond:
        raise ValueError(
            f"{len(beyond)} entity ids are outside the model's table of {config.entity_vocab_size} rows, e.g. "
            f"{beyond[:3]}: vocabulary and checkpoint do not belong together"
        )
    kept = choose_entities(vocab, languages, names)
    old_ids, new_vocab = renumber(kept)
    say(f"keeping {len(old_ids):,} of {config.entity_vocab_size:,} entity rows ({len(new_vocab):,} names)")

    axes = sharding.logical_axes(ARCHITECTURES[metadata["architecture"]].abstract(config))
    say(f"reading {src} ...")
    params = checkpoint.read_params(src, jnp.dtype(metadata["param_dtype"]), metadata)
    before = sum(a.size for a in params.values())
    pruned = []
    for name, names_of_axes in axes.items():
        if "entity_vocab" not in names_of_axes or name not in params:
            continue
        axis = names_of_axes.index("entity_vocab")
        array = np.asarray(params[name])
        if array.shape[axis] != config.entity_vocab_size:
            raise ValueError(f"{name} has {array.shape[axis]} entity rows, config.json says {config.entity_vocab_size}")
        params[name] = np.take(array, old_ids, axis=axis)
        pruned.append(name)
    if not pruned:
        raise ValueError(f"{src}: no parameter has an entity-vocabulary axis")
    after = sum(a.size for a in params.values())
    rows_before = config.entity_vocab_size
    config = dataclasses.replace(config, entity_vocab_size=len(old_ids))
    say(f"pruned {', '.join(pruned)}: {before:,} -> {after:,} parameters; writing {dst} ...")
    with checkpoint.atomic_directory(dst, overwrite=overwrite) as tmp:
        checkpoint.write_directory(
            tmp, params, config, metadata["architecture"], source=f"{metadata.get('source') or src} (entities pruned)"
        )
        copied = checkpoint.copy_tokenizer_files(src, tmp)
        for name in ENTITY_VOCAB_FILES:
            (tmp / name).unlink(missing_ok=True)
        write_entity_vocab(new_vocab, tmp / "entity_vocab.json")
        (tmp / "pruned_entities.json").write_text(
            json.dumps({"old_ids": old_ids.tolist(), "languages": languages, "entity_file_names": len(names or [])})
            + "\n"
        )
    return {
        "rows_before": rows_before,
        "rows_kept": len(old_ids),
        "parameters_before": int(before),
        "parameters_after": int(after),
        "pruned": pruned,
        "tokenizer_files": copied,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convert.prune_entities",
        description="Keep only chosen entities in a converted mLUKE checkpoint.",
    )
    parser.add_argument("src", help="converted mluke-jax checkpoint directory (python -m convert output)")
    parser.add_argument("dst", help="output directory")
    parser.add_argument(
        "--languages",
        default=None,
        help="comma-separated language codes: keep every entity name of these languages (en:..., de:...)",
    )
    parser.add_argument("--entities", default=None, help="file with one entity name per line (en:Tokyo) to keep")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DST (atomically)")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    args = parser.parse_args(argv)
    try:
        languages = [x.strip() for x in args.languages.split(",") if x.strip()] if args.languages else None
        names = read_entity_list(args.entities) if args.entities else None
        report = prune_checkpoint(
            args.src, args.dst, languages=languages, names=names, overwrite=args.overwrite, progress=not args.quiet
        )
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"{args.src} -> {args.dst}: {report['rows_kept']:,} entity rows kept, {report['parameters_before']:,} -> "
        f"{report['parameters_after']:,} parameters"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
