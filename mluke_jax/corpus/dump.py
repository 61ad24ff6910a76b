"""Streaming reader of MediaWiki XML dumps (``*-pages-articles*.xml`` or ``.xml.bz2``, as downloaded).

Pages come one at a time (``xml.etree.ElementTree.iterparse``, elements cleared after use), so
memory stays flat on a dump of any size. The ``<siteinfo>`` namespaces come first: they name the
wiki's file and category namespaces in its own language.
"""

import bz2
import gzip
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class CorruptDumpError(ValueError):
    """A dump that ends or breaks in the middle (truncated download, damaged file)."""


class NotADumpError(ValueError):
    """A file that is not a MediaWiki XML export at all, or not compressed as its name says."""


COMPRESSIONS = {".bz2": (b"BZh", "bzip2"), ".gz": (b"\x1f\x8b", "gzip")}
# what may come before the root element: a byte order mark, the XML declaration, comments, a doctype
_ROOT = re.compile(r"\ufeff?\s*(?:<\?xml[^>]*\?>\s*)?(?:(?:<!--.*?-->|<!DOCTYPE[^>]*>)\s*)*<([\w.:-]+)", re.S)


def check_dump(path: Path) -> None:
    """Raise :class:`NotADumpError` unless ``path`` is compressed as its name says (``.bz2``,
    ``.gz`` or neither) and its XML root element is ``<mediawiki>``; what it read says what it is.
    A file that passes and breaks off later is a :class:`CorruptDumpError` when read."""
    with open(path, "rb") as f:
        magic = f.read(65536)
    said = COMPRESSIONS.get(path.suffix)
    actual = next((name for prefix, name in COMPRESSIONS.values() if magic.startswith(prefix)), None)
    if said is not None and not magic.startswith(said[0]):
        if actual:
            raise NotADumpError(f"{path} is not a {said[1]} file as its name says (it is {actual}-compressed)")
        _check_root(path, magic, broken=False)  # not a dump at all: say what it is
        raise NotADumpError(
            f"{path} is not a {said[1]} file as its name says (it is an uncompressed MediaWiki export: name it .xml)"
        )
    if said is None and actual is not None:
        suffix = next(s for s, (_, name) in COMPRESSIONS.items() if name == actual)
        raise NotADumpError(f"{path} is {actual}-compressed but its name does not say so: name it .xml{suffix}")
    head, broken = b"", False
    with open(path, "rb") as raw:
        try:
            with _decompressed(path, raw) as source:
                while len(head) < 65536 and (chunk := source.read(65536 - len(head))):
                    head += chunk
        except (OSError, EOFError, ValueError):
            broken = True  # breaks off within its first block: judged on what could be read
    _check_root(path, head, broken)


def _check_root(path: Path, head: bytes, broken: bool) -> None:
    """:class:`NotADumpError` unless ``head`` (the first XML bytes) opens a ``<mediawiki>`` root;
    ``broken``: the bytes stop where decompression failed (nothing to judge without a root)."""
    text = head.decode("utf-8", errors="replace")
    root = _ROOT.match(text)
    if root is None and broken:
        return  # nothing to judge: reading it says where it breaks off
    if root is None or root.group(1).rsplit(":", 1)[-1] != "mediawiki":
        start = " ".join(text.split())[:80]
        raise NotADumpError(
            f"{path} is not a MediaWiki XML export: "
            + (f"it starts with {start!r}" if start else "it is empty")
            + ", where a dump's root element is <mediawiki>; pass a *-pages-articles*.xml[.bz2] dump"
        )


@dataclass(frozen=True)
class Page:
    """One ``<page>``: its id, title, namespace number, redirect target (or None) and wikitext."""

    id: int
    title: str
    namespace: int
    redirect: str | None
    text: str


def _decompressed(path: Path, raw: IO[bytes]) -> IO[bytes]:
    """The dump's XML bytes read through ``raw`` (so that ``raw.tell()`` is the compressed position)."""
    if path.suffix == ".bz2":
        return bz2.BZ2File(raw)
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw)
    return raw


def _local(tag: str) -> str:
    """``{http://www.mediawiki.org/xml/export-0.11/}page`` -> ``page`` (any export version)."""
    return tag.rsplit("}", 1)[-1]


class DumpReader:
    """The pages and namespaces of one dump file.

    Raises :class:`NotADumpError` at once for a file that is not a dump (:func:`check_dump`), and
    :class:`CorruptDumpError` naming the file, the last page read and the compressed byte position
    when a dump breaks off or is not well-formed XML.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such dump file: {path}")
        check_dump(self.path)
        self.namespaces: dict[str, int] = {}
        self.pages_read = 0

    def __iter__(self) -> Iterator[Page]:
        raw = open(self.path, "rb")
        last_title = None
        try:
            with raw, _decompressed(self.path, raw) as source:
                for _event, element in ET.iterparse(source, events=("end",)):
                    name = _local(element.tag)
                    if name == "namespace":
                        key = element.get("key")
                        if key is not None and element.text:
                            self.namespaces[element.text.strip()] = int(key)
                    elif name == "page":
                        page = self._page(element)
                        element.clear()
                        if page is not None:
                            last_title = page.title
                            self.pages_read += 1
                            yield page
        except (ET.ParseError, EOFError, OSError, ValueError) as e:
            if isinstance(e, CorruptDumpError):
                raise
            where = f"after page {self.pages_read} ({last_title!r})" if last_title else "before its first page"
            position = raw.tell() if not raw.closed else os.path.getsize(self.path)
            raise CorruptDumpError(
                f"{self.path}: the dump breaks off or is damaged {where}, near byte {position} of "
                f"{os.path.getsize(self.path)} ({type(e).__name__}: {e})"
            ) from e

    @staticmethod
    def _page(element: ET.Element) -> Page | None:
        fields = {}
        redirect = None
        text = ""
        for child in element.iter():
            name = _local(child.tag)
            if name in ("title", "ns") and name not in fields:
                fields[name] = child.text or ""
            elif name == "id" and "id" not in fields:
                fields["id"] = child.text or "0"
            elif name == "redirect":
                redirect = child.get("title")
            elif name == "text":
                text = child.text or ""
        if "title" not in fields:
            return None
        return Page(int(fields.get("id", 0)), fields["title"], int(fields.get("ns", 0) or 0), redirect, text)
