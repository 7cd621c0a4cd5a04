"""A cut NB201 table is refused with one line naming what is missing; the full table loads."""

import re

import pytest

from pyronas.benchmarks import BenchmarkError, NB201Table
from pyronas.cli import main

FIX = "use a complete nb201_accuracy.csv (15,625 rows"


@pytest.fixture(scope="module")
def lines(nb201_csv) -> list[bytes]:
    """The shared table's lines, line breaks kept (header first)."""
    return nb201_csv.read_bytes().splitlines(keepends=True)


def _write(tmp_path, data: bytes):
    path = tmp_path / "nb201_accuracy.csv"
    path.write_bytes(data)
    return path


def _refused(path, message: str) -> str:
    with pytest.raises(BenchmarkError) as info:
        NB201Table(path)
    text = str(info.value)
    assert re.search(message, text), text
    assert len(text.splitlines()) == 1
    return text


def test_rows_cut_at_a_line_break(lines, tmp_path):
    text = _refused(
        _write(tmp_path, b"".join(lines[:15_001])), r"incomplete: 15,000 rows, indices 15000, 15001, 15002, \.\.\."
    )
    assert FIX in text


def test_a_line_cut_inside_a_field(lines, tmp_path):
    last = lines[9_000]
    cut = last[: last.index(b"|+|")]  # inside the arch field: only 2 of 15 fields remain
    _refused(_write(tmp_path, b"".join(lines[:9_000]) + cut), r"incomplete: line 9001 has 2 of 15 fields")


def test_a_last_line_cut_inside_its_last_field(lines, tmp_path):
    last = lines[-1].rstrip(b"\r\n")[:-3]  # every field still there, the last one shortened
    data = b"".join(lines[:-1]) + last
    _refused(_write(tmp_path, data), "incomplete: its last line has no line break")
    NB201Table(_write(tmp_path, data + b"\r\n"))  # the same rows, terminated, are not refused


def test_one_row_missing_or_repeated(lines, tmp_path):
    missing = lines[:778] + lines[779:]  # the row of index 777
    assert missing[778].startswith(b"778,")
    _refused(_write(tmp_path, b"".join(missing)), "incomplete: 15,624 rows, indices 777 missing")
    repeated = lines[:779] + [lines[778]] + lines[780:]  # as many rows as a full table: 777 twice, no 778
    assert repeated[779].startswith(b"777,")
    _refused(_write(tmp_path, b"".join(repeated)), "incomplete: 15,625 rows, indices 778 missing")


def test_a_cell_listed_twice(lines, tmp_path):
    index, arch, rest = lines[5].split(b",", 2)
    twin = lines[6].split(b",", 2)[1]
    edited = lines[:5] + [b",".join([index, twin, rest])] + lines[6:]
    _refused(_write(tmp_path, b"".join(edited)), "incomplete: 15,625 rows but 15,624 distinct cells")


def test_a_line_with_extra_fields(lines, tmp_path):
    edited = lines[:10] + [lines[10].rstrip(b"\r\n") + b",1.0\r\n"] + lines[11:]
    _refused(_write(tmp_path, b"".join(edited)), "cannot read NB201 table .*: line 11 has 16 fields, the header 15")


def test_lookup_on_a_cut_table_is_one_line(lines, tmp_path, capsys):
    path = _write(tmp_path, b"".join(lines[:100]))
    assert main(["lookup", "0", "--benchmark", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyronas lookup: error: NB201 table") and "99 rows" in err and len(err.splitlines()) == 1


def test_the_full_table_is_complete(nb201_table, lines):
    assert len(lines) == 15_626 and len(nb201_table) == 15_625
