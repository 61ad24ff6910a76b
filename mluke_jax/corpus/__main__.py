"""``python -m mluke_jax.corpus SUBCOMMAND``: build pretraining corpora (see each ``--help``)."""

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mluke_jax.corpus.dump import CorruptDumpError


def _wikipedia(args: argparse.Namespace) -> int:
    from mluke_jax.corpus.wikipedia import build_wikipedia

    metadata = build_wikipedia(
        args.dump,
        args.language,
        args.out,
        workers=args.workers,
        num_shards=args.num_shards,
        shard_index=args.shard_index,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(
        f"{args.shown_out}: {metadata['pages']} articles, {metadata['paragraphs']} paragraphs, "
        f"{metadata['links']} links, "
        f"{metadata['redirects']} redirects ({metadata['other_namespaces']} pages of other namespaces and "
        f"{metadata['unparsable']} unparsable pages skipped) in {metadata['seconds']:.1f} s"
    )
    return 0


def _entity_vocab(args: argparse.Namespace) -> int:
    from mluke_jax.corpus.entity_vocab import build_entity_vocab

    summary = build_entity_vocab(
        args.dirs,
        args.out,
        size=args.size,
        interwiki=args.interwiki,
        min_languages=args.min_languages,
        min_count=args.min_count,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(
        f"{args.shown_out}: {summary['entities']} entities ({summary['names']} titles in "
        f"{', '.join(summary['languages'])}) in {summary['seconds']:.1f} s"
    )
    return 0


def _mention_db(args: argparse.Namespace) -> int:
    from mluke_jax.corpus.mention_db import build_mention_db

    header = build_mention_db(
        args.dirs,
        args.out,
        min_link_prob=args.min_link_prob,
        max_candidates=args.max_candidates,
        min_link_count=args.min_link_count,
        max_mention_length=args.max_mention_length,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    counts = ", ".join(f"{language} {n}" for language, n in header["mentions"].items())
    print(f"{args.shown_out}: surface forms {counts} in {header['seconds']:.1f} s")
    return 0


def _examples(args: argparse.Namespace) -> int:
    from mluke_jax.corpus.examples import ExampleSettings, build_examples

    settings = ExampleSettings(
        max_seq_length=args.max_seq_length,
        max_entity_length=args.max_entity_length,
        max_mention_length=args.max_mention_length,
        min_sentence_length=args.min_sentence_length,
        include_unk=args.include_unk,
        include_sentences_without_entities=args.include_sentences_without_entities,
    )
    metadata = build_examples(
        args.dirs,
        args.tokenizer,
        args.entity_vocab,
        args.out,
        settings=settings,
        workers=args.workers,
        num_shards=args.num_shards,
        shard_index=args.shard_index,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    counts = metadata["counts"]
    print(
        f"{args.shown_out}: {metadata['examples']} examples from {counts.get('pages', 0)} pages "
        f"({counts.get('words', 0)} tokens, {counts.get('entities', 0)} entities; links dropped: "
        f"{counts.get('links_not_in_vocab', 0)} not in the vocabulary, {counts.get('links_across_sentences', 0)} "
        f"across sentences) in {metadata['seconds']:.1f} s"
    )
    return 0


def _xlm_text(args: argparse.Namespace) -> int:
    from mluke_jax.corpus.xlm_text import build_xlm_text

    metadata = build_xlm_text(
        args.files,
        args.tokenizer,
        args.lang,
        args.out,
        chunk_tokens=args.chunk_tokens,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    counts = metadata["counts"]
    print(
        f"{args.shown_out}: {counts.get('sentences', 0)} {args.lang} sentences, {counts.get('tokens', 0)} tokens "
        f"({counts.get('unk_tokens', 0)} <unk>, {counts.get('empty_lines', 0)} empty lines skipped) "
        f"in {metadata['seconds']:.1f} s"
    )
    return 0


def _xlm_parallel(args: argparse.Namespace) -> int:
    from mluke_jax.corpus.xlm_text import build_xlm_parallel

    metadata = build_xlm_parallel(
        args.source,
        args.target,
        args.langs,
        args.tokenizer,
        args.out,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    counts = metadata["counts"]
    print(
        f"{args.shown_out}: {counts.get('pairs', 0)} {args.langs} pairs, {counts.get('tokens', 0)} tokens "
        f"({counts.get('pairs_with_an_empty_side', 0)} pairs with an empty side skipped) in {metadata['seconds']:.1f} s"
    )
    return 0


def _run_options(parser: argparse.ArgumentParser, workers: str | None = None, shards: str | None = None,
                 replaced: str = "an earlier output directory") -> None:
    """The options every stage shares: worker processes, shards for several machines, --overwrite, --quiet."""
    if workers is not None:
        parser.add_argument("--workers", type=int, default=1, help=f"{workers} processes (default 1)")
    if shards is not None:
        parser.add_argument("--num-shards", type=int, default=1, help=f"split the {shards} into this many runs")
        parser.add_argument("--shard-index", type=int, default=0, help="which of the --num-shards runs this is")
    parser.add_argument("--overwrite", action="store_true", help=f"replace {replaced}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mluke_jax.corpus", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    wiki = commands.add_parser(
        "wikipedia",
        help="a MediaWiki XML dump to annotated paragraphs (text + link spans), redirects and page metadata",
        description="A MediaWiki XML dump (*-pages-articles*.xml[.bz2]) to annotated paragraphs: plain text "
        "with the character spans and normalised targets of its links, the redirects and per-page metadata.",
    )
    wiki.add_argument("dump", help="the dump file (.xml, .xml.bz2 or .xml.gz)")
    wiki.add_argument("--language", required=True, help="the wiki's language code (en, de, ja, ...)")
    wiki.add_argument("--out", required=True, help="output directory (new, empty, or an earlier one with --overwrite)")
    _run_options(wiki, workers="parser", shards="dump")
    wiki.set_defaults(run=_wikipedia, inputs=("dump",), marker="metadata.json")

    vocab = commands.add_parser(
        "entity-vocab",
        help="the entity vocabulary: link counts of stage-1 directories, multilingual ids through Wikidata",
        description="Count the links of stage-1 directories (redirects resolved) and write the most linked "
        "entities after [PAD], [UNK], [MASK], [MASK2]. With --interwiki, the titles of one Wikidata item in "
        "several languages share an id and their counts add up. Written as .jsonl (original LUKE) or .json "
        "(transformers' entity_vocab.json), by the name of --out.",
    )
    vocab.add_argument("dirs", nargs="+", metavar="DIR", help="outputs of 'corpus wikipedia' (any languages, shards)")
    vocab.add_argument("--out", required=True, help="entity_vocab.jsonl or entity_vocab.json")
    vocab.add_argument("--size", type=int, help="ids in all, the 4 special entities included (mluke-base: 1200001)")
    vocab.add_argument("--interwiki", help="Wikidata JSON dump (sitelinks) or qid<TAB>lang<TAB>title TSV")
    vocab.add_argument("--min-languages", type=int, default=1, help="keep items linked in this many languages")
    vocab.add_argument("--min-count", type=int, default=1, help="drop titles linked fewer times in a language")
    _run_options(vocab, replaced="an existing --out")
    vocab.set_defaults(run=_entity_vocab, inputs=("dirs", "interwiki"), marker=None)

    mentions = commands.add_parser(
        "mention-db",
        help="the mention database: each anchor text's entities, counts and link probability",
        description="For every anchor text of stage-1 directories: the articles it links to with counts, and "
        "its link probability (links / articles containing the text), as the original LUKE mention database. "
        "Written as gzip text (e.g. mentions.tsv.gz); the entity linker reads it.",
    )
    mentions.add_argument("dirs", nargs="+", metavar="DIR", help="outputs of 'corpus wikipedia' (any languages)")
    mentions.add_argument("--out", required=True, help="the database file (gzip text, e.g. mentions.tsv.gz)")
    mentions.add_argument("--min-link-prob", type=float, default=0.01, help="drop rarer anchors (default 0.01)")
    mentions.add_argument("--max-candidates", type=int, default=100, help="entities kept per anchor (default 100)")
    mentions.add_argument("--min-link-count", type=int, default=1, help="drop rarer anchor-entity pairs (default 1)")
    mentions.add_argument("--max-mention-length", type=int, default=20, help="words an anchor may have (default 20)")
    _run_options(mentions, replaced="an existing --out")
    mentions.set_defaults(run=_mention_db, inputs=("dirs",), marker=None)

    examples = commands.add_parser(
        "examples",
        help="packed mLUKE pretraining examples (word ids, entity ids and positions) in ArrayRecord shards",
        description="Split the paragraphs of stage-1 directories (one language) into sentences with ICU, "
        "tokenize them with the model's tokenizer, pack consecutive sentences of a page up to --max-seq-length "
        "and map each link inside a sentence whose target is in the entity vocabulary to its token positions. "
        "Written as ArrayRecord shards with metadata.json (fingerprints, counts).",
    )
    examples.add_argument("dirs", nargs="+", metavar="DIR", help="outputs of 'corpus wikipedia' of one language")
    examples.add_argument("--tokenizer", required=True, help="model or tokenizer directory (or hub name)")
    examples.add_argument("--entity-vocab", required=True, help="the entity vocabulary of 'corpus entity-vocab'")
    examples.add_argument("--out", required=True, help="output directory (new, or an earlier one with --overwrite)")
    examples.add_argument("--max-seq-length", type=int, default=512, help="tokens per example, <s> and </s> included")
    examples.add_argument("--max-entity-length", type=int, default=128, help="entities per example")
    examples.add_argument("--max-mention-length", type=int, default=30, help="tokens per mention (longer: dropped)")
    examples.add_argument("--min-sentence-length", type=int, default=5, help="drop shorter sentences (tokens)")
    examples.add_argument("--include-unk", action="store_true", help="keep links outside the vocabulary as [UNK]")
    examples.add_argument("--include-sentences-without-entities", action="store_true",
                          help="keep examples that have no entity")
    _run_options(examples, workers="packing", shards="pages")
    examples.set_defaults(run=_examples, inputs=("dirs", "tokenizer", "entity_vocab"), marker="metadata.json")

    text = commands.add_parser(
        "xlm-text",
        help="monolingual text (one sentence a line) to an XLM token stream for MLM/CLM",
        description="Tokenize monolingual text, one sentence a line, with XLMTokenizer and lang=, into one token "
        "stream with </s> after each sentence (the original XLM 'stream' layout), in ArrayRecord shards.",
    )
    text.add_argument("files", nargs="+", metavar="FILE", help="text files (plain, .gz or .bz2)")
    text.add_argument("--tokenizer", required=True, help="XLM model or tokenizer directory (or hub name)")
    text.add_argument("--lang", required=True, help="the text's language (one of the tokenizer's)")
    text.add_argument("--out", required=True, help="output directory")
    text.add_argument("--chunk-tokens", type=int, default=4096, help="stream tokens per record (default 4096)")
    _run_options(text, workers="tokenizer")
    text.set_defaults(run=_xlm_text, inputs=("files", "tokenizer"), marker="metadata.json")

    parallel = commands.add_parser(
        "xlm-parallel",
        help="aligned sentence pairs (two files) to XLM TLM pairs",
        description="Tokenize two files of aligned sentences (line n of SRC translates line n of TGT) with "
        "XLMTokenizer, each in its language, into pairs for translation language modelling.",
    )
    parallel.add_argument("source", metavar="SRC", help="sentences in the first language of --langs")
    parallel.add_argument("target", metavar="TGT", help="their translations, line by line")
    parallel.add_argument("--langs", required=True, help="the two languages as src-tgt, e.g. en-de")
    parallel.add_argument("--tokenizer", required=True, help="XLM model or tokenizer directory (or hub name)")
    parallel.add_argument("--out", required=True, help="output directory")
    _run_options(parallel, workers="tokenizer")
    parallel.set_defaults(run=_xlm_parallel, inputs=("source", "target", "tokenizer"), marker="metadata.json")
    return parser


@contextlib.contextmanager
def through_local_files(args: argparse.Namespace) -> Iterator[None]:
    """Run a stage on buckets: its ``gs://`` inputs (``args.inputs``) read from local copies, a
    ``gs://`` output built in a local temporary directory and uploaded when the stage has
    succeeded, a directory with its marker (``args.marker``, ``metadata.json``) last, a file as one
    object; a stage that fails uploads nothing. The stages write ArrayRecord shards and resumable
    page files, which only a local disk takes."""
    from mluke_jax import remote
    from mluke_jax.checkpoint import check_destination
    from mluke_jax.paths import is_remote, local_copy, resolve

    def local(value):
        return str(local_copy(value, skip=("params",))) if isinstance(value, str) and is_remote(value) else value

    for name in args.inputs:
        value = getattr(args, name, None)
        setattr(args, name, [local(v) for v in value] if isinstance(value, list) else local(value))
    target = args.out
    if not is_remote(target):
        yield
        return
    destination = resolve(target)
    if args.marker:
        check_destination(destination, args.overwrite, args.marker, "a corpus")
    else:
        remote.check_reachable(destination)
        if destination.exists() and not args.overwrite:
            raise FileExistsError(f"{target} already exists; pass overwrite (--overwrite) to replace it")
    with tempfile.TemporaryDirectory(prefix="mluke-jax-corpus-") as tmp:
        args.out = str(Path(tmp) / destination.name)
        yield
        if args.marker:
            remote.publish(Path(args.out), destination, args.marker)
        else:
            remote.copy_file(Path(args.out), destination)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.shown_out = args.out
    try:
        with through_local_files(args):
            return args.run(args)
    except (CorruptDumpError, FileNotFoundError, FileExistsError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue (stage 1 keeps its complete files)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
