"""Files people hand to custody and documents it writes for them (archive/inputs.py): only
regular files are read, nothing special is ever opened for reading or writing, each refusal
names the file and why."""

from __future__ import annotations

import os
import signal

import pytest

from archive.domain.errors import InputError
from archive.inputs import output_dir, read_input, read_text_input, special_kind, write_output


@pytest.fixture
def alarm():
    """A refusal must come at once: a blocking open of a FIFO would trip this."""

    def hung(_sig, _frame):
        raise AssertionError("blocked on a special file")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_regular_files_are_read_and_decoded(tmp_path):
    f = tmp_path / "m.csv"
    f.write_bytes("\ufefffile\n王五.mp4\n".encode())
    assert read_input(f, "manifest").startswith(b"\xef\xbb\xbf")
    assert read_text_input(f, "manifest") == "file\n王五.mp4\n"  # the BOM is dropped


@pytest.mark.parametrize("kind", ["fifo", "folder", "device", "missing", "loop"])
def test_special_files_are_refused_unopened(tmp_path, alarm, kind):
    path = {"fifo": tmp_path / "p", "folder": tmp_path, "device": "/dev/zero",
            "missing": tmp_path / "none", "loop": tmp_path / "loop"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    if kind == "loop":
        path.symlink_to(path)
    with pytest.raises(InputError) as err:
        read_input(path, "case register")
    assert str(path) in err.value.message and "case register" in err.value.message
    if kind in ("fifo", "folder", "device"):
        assert special_kind(os.stat(path).st_mode) in err.value.message


def test_size_limit_and_encoding(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(InputError, match="2000 bytes, more than 1000"):
        read_input(big, "manifest", limit=1000)
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("王五".encode("gbk"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_text_input(gbk, "manifest")


def test_documents_are_written_whole_and_never_into_a_special_file(tmp_path, alarm):
    out = write_output(tmp_path / "登记.csv", b"a,b\n", "--out")
    assert out.read_bytes() == b"a,b\n" and [p.name for p in tmp_path.iterdir()] == ["登记.csv"]
    write_output(out, b"new\n", "--out")  # replaced in one step, no part file left
    assert out.read_bytes() == b"new\n" and len(list(tmp_path.iterdir())) == 1
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    for bad, why in ((fifo, "FIFO"), (tmp_path, "folder"),
                     (tmp_path / "no" / "x.csv", "does not exist")):
        with pytest.raises(InputError, match=why):
            write_output(bad, b"x", "--out")


def test_output_folders(tmp_path):
    made = output_dir(tmp_path / "a" / "b", "--to")
    assert made.is_dir() and output_dir(made, "--to") == made
    (tmp_path / "f").write_text("x")
    os.mkfifo(tmp_path / "p")
    with pytest.raises(InputError, match="a file, not a folder"):
        output_dir(tmp_path / "f", "--to")
    with pytest.raises(InputError, match="FIFO"):
        output_dir(tmp_path / "p", "--to")
