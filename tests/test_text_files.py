"""Users' text files are read as UTF-8; one that is not is named with its line, column and the fix."""

import bz2
import gzip

import pytest

from mluke_jax.corpus.files import open_text
from mluke_jax.text_files import NotUTF8Error, read_text

LINES = ["Tokyo is big.", "Köln liegt am Rhein.", "Zürich"]


@pytest.mark.parametrize("suffix, pack", [("", bytes), (".gz", gzip.compress), (".bz2", bz2.compress)])
def test_lines_read_as_utf8_with_bom_and_crlf_as_text_mode_reads_them(suffix, pack, tmp_path):
    path = tmp_path / f"text.txt{suffix}"
    path.write_bytes(pack(("\ufeff" + LINES[0] + "\r\n" + LINES[1] + "\r" + LINES[2]).encode()))
    with open_text(path) as f:
        assert list(f) == [LINES[0] + "\n", LINES[1] + "\n", LINES[2]]  # as open(path) reads it


@pytest.mark.parametrize("suffix, pack", [("", bytes), (".gz", gzip.compress)])
def test_a_latin1_file_is_named_with_line_and_column(suffix, pack, tmp_path):
    path = tmp_path / f"corpus.txt{suffix}"
    path.write_bytes(pack("\n".join(LINES).encode("latin-1")))
    with pytest.raises(NotUTF8Error) as raised, open_text(path) as f:
        list(f)
    converted = path.with_name(f"utf8-{path.name}")
    command = (
        f"zcat {path} | iconv -f latin1 -t utf-8 | gzip > {converted}"
        if suffix == ".gz"
        else f"iconv -f latin1 -t utf-8 {path} > {converted}"
    )
    assert str(raised.value) == (
        f"{path}:2: byte 0xf6 at column 2 is not UTF-8; text files are read as UTF-8: convert it first, e.g. from "
        f"Latin-1: {command}"
    )
    plain = tmp_path / "whole.txt"
    plain.write_bytes("é ok\n".encode() + ("ä" * 30).encode() + b"\xe9\n")  # columns count characters, not bytes
    with pytest.raises(NotUTF8Error, match=r"whole\.txt:2: byte 0xe9 at column 31 is not UTF-8"):
        read_text(plain)
