"""Wikitext to plain paragraphs with the character spans of their links, through mwparserfromhell.

The parser (mwparserfromhell, the wikitext parser of pywikibot and most Wikipedia tools) turns the
markup into nodes; this module only decides what each node contributes: text and link anchors
stay, templates, references, tables, files, categories, comments and interlanguage links go,
headings end a paragraph. Link targets are normalised as MediaWiki does (:func:`normalize_title`).
"""

import bisect
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Tags whose contents are not running text.
DROPPED_TAGS = frozenset(
    "ref references table gallery math chem ce timeline imagemap syntaxhighlight source pre score "
    "graph mapframe maplink templatedata templatestyles nowiki hiero inputbox poem categorytree".split()
)
# File and category namespaces under their canonical names (local names come from the dump).
FILE_NAMESPACES = frozenset({"file", "image", "media", "category"})
_LANGUAGE_PREFIX = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]+)*$")  # an interlanguage link: de:, zh-yue:, ...
_SPACES = re.compile(r"[ \t\u00a0\u200b]+")


@dataclass(frozen=True)
class Link:
    """A link inside a paragraph: ``text[start:end]`` is its anchor, ``title`` its normalised target."""

    start: int
    end: int
    title: str


@dataclass
class Paragraph:
    text: str
    links: list[Link] = field(default_factory=list)


def normalize_title(title: str) -> str:
    """A link target as MediaWiki names the page: HTML entities decoded, ``_`` as spaces, spaces
    collapsed, the ``#section`` dropped, the first letter upper-cased ("" for a section-only link)."""
    title = html.unescape(title).replace("_", " ")
    title = title.split("#", 1)[0]
    title = _SPACES.sub(" ", title).strip()
    return title[:1].upper() + title[1:]


class _Writer:
    """Accumulates one page's text and links while the nodes are walked."""

    def __init__(self):
        self.parts: list[str] = []
        self.length = 0
        self.links: list[tuple[int, int, str]] = []

    def write(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


class WikitextParser:
    """Paragraphs of one wiki's pages.

    Args:
        namespaces: the wiki's namespace names (lower-cased, local and canonical), from the dump's
            ``<siteinfo>``, mapped to their numbers: a link into namespace 6 (files) or 14
            (categories) is dropped with its text, a link into another namespace keeps its text.
    """

    def __init__(self, namespaces: dict[str, int] | None = None):
        try:
            import mwparserfromhell
        except ImportError:
            raise ImportError("building a corpus needs mwparserfromhell: pip install 'mluke-jax[corpus]'") from None
        self._mw = mwparserfromhell
        self.namespaces = {name.lower(): number for name, number in (namespaces or {}).items()}
        for name in ("file", "image", "media"):
            self.namespaces.setdefault(name, 6)
        self.namespaces.setdefault("category", 14)

    def paragraphs(self, wikitext: str) -> list[Paragraph]:
        """The page's paragraphs (its lines of running text), spaces collapsed, links inside."""
        writer = _Writer()
        self._walk(self._mw.parse(wikitext).nodes, writer)
        return _split_paragraphs(writer.text(), writer.links)

    # ------------------------------------------------------------------ nodes
    def _walk(self, nodes: Iterable, writer: _Writer) -> None:
        nodes_module = self._mw.nodes
        for node in nodes:
            if isinstance(node, nodes_module.Text):
                writer.write(str(node.value))
            elif isinstance(node, nodes_module.Wikilink):
                self._link(node, writer)
            elif isinstance(node, nodes_module.Tag):
                tag = str(node.tag).lower()
                if tag in ("br", "hr"):
                    writer.write("\n")
                elif tag not in DROPPED_TAGS and node.contents is not None:
                    self._walk(node.contents.nodes, writer)
            elif isinstance(node, nodes_module.Heading):
                writer.write("\n")  # a heading ends the paragraph before it; its title is not text
            elif isinstance(node, nodes_module.HTMLEntity):
                writer.write(node.normalize())
            elif isinstance(node, nodes_module.ExternalLink):
                if node.title is not None:
                    self._walk(node.title.nodes, writer)
            # Templates, comments, arguments, parser functions: no running text.

    def _link(self, node, writer: _Writer) -> None:
        target = str(node.title).strip()
        inline = target.startswith(":")  # [[:Category:X]], [[:fr:Page]]: a link shown as text
        target = target.lstrip(":").strip()
        prefix, sep, rest = target.partition(":")
        prefix = prefix.strip().lower()
        namespace = self.namespaces.get(prefix) if sep else None
        if not inline and sep and (namespace in (6, 14) or _LANGUAGE_PREFIX.match(prefix) and namespace is None):
            return  # an embedded file, a category, an interlanguage link: not running text
        start = writer.length
        if node.text is not None:
            self._walk(node.text.nodes, writer)
        else:
            writer.write(target)
        is_article = not sep or (namespace is None and not _LANGUAGE_PREFIX.match(prefix))
        title = normalize_title(target)
        if is_article and title and writer.length > start:
            writer.links.append((start, writer.length, title))


def _split_paragraphs(text: str, links: list[tuple[int, int, str]]) -> list[Paragraph]:
    """Each non-empty line a paragraph, runs of spaces collapsed and the ends stripped; link spans
    moved with the text (a link across a line break, or left with no text, is dropped)."""
    paragraphs = []
    by_start = sorted(links)
    cursor = 0
    line_start = 0
    for line in text.split("\n"):
        line_end = line_start + len(line)
        inside = []
        while cursor < len(by_start) and by_start[cursor][0] < line_end + 1:
            start, end, title = by_start[cursor]
            cursor += 1
            if start >= line_start and end <= line_end:  # else it crosses a line break
                inside.append((start - line_start, end - line_start, title))
        collapsed = _SPACES.sub(" ", line)
        new = collapsed.strip(" ")
        if new:
            paragraph = Paragraph(new)
            if inside:
                to_new = _offset_map(line, len(collapsed) - len(collapsed.lstrip(" ")))
                for start, end, title in inside:
                    s, e = to_new(start), min(to_new(end), len(new))
                    while s < e and new[s] == " ":
                        s += 1
                    while e > s and new[e - 1] == " ":
                        e -= 1
                    if e > s:
                        paragraph.links.append(Link(s, e, title))
            paragraphs.append(paragraph)
        line_start = line_end + 1
    return paragraphs


def _offset_map(line: str, lead: int):
    """``old offset -> new offset`` of ``line`` once its space runs are one space each and ``lead``
    leading characters are stripped."""
    runs = [(m.start(), m.end()) for m in _SPACES.finditer(line)]
    starts = [a for a, _ in runs]
    removed_before = [0]  # characters removed by the runs before run i
    for a, b in runs:
        removed_before.append(removed_before[-1] + (b - a - 1))

    def to_new(x: int) -> int:
        i = bisect.bisect_right(starts, x) - 1  # the last run starting at or before x
        if i < 0:
            return max(x - lead, 0)
        a, b = runs[i]
        if x <= a:
            shifted = x - removed_before[i]
        elif x < b:
            shifted = a - removed_before[i] + 1
        else:
            shifted = x - removed_before[i + 1]
        return max(shifted - lead, 0)

    return to_new
