"""BagIt bags (RFC 8493) and ISO images: written here, validated by bagit-python unchanged,
checked by check_bag with every problem named."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import bagit
import pytest

from archive.domain.errors import InputError
from archive.packaging.bags import BagWriter, check_bag, check_relpath, decode_path, encode_path
from archive.packaging.iso import IsoSource, write_iso

CHINESE = "执法记录仪_2026年3月15日_王五无照经营现场检查录像第一段.mp4"


def make_bag(root: Path) -> Path:
    w = BagWriter(root, {"Source-Organization": "市场监督管理局执法大队",
                         "Internal-Sender-Identifier": ["REQ-1", "REQ-2"]})
    w.add_stream(f"item1/{CHINESE}", (os.urandom(1000) for _ in range(5)))
    w.add_bytes("item1/metadata/v0001.json", b'{"a":1}')
    w.add_bytes("100％ done.txt", b"percent in a name")
    w.add_tag_file("custody/extraction-record.json", "提取说明".encode())
    return w.finish()


def test_bag_validates_with_bagit_python(tmp_path):
    root = make_bag(tmp_path / "bag")
    bag = bagit.Bag(str(root))
    bag.validate()  # raises on any problem
    assert bag.info["Source-Organization"] == "市场监督管理局执法大队"
    assert bag.info["Internal-Sender-Identifier"] == ["REQ-1", "REQ-2"]
    assert "sha256" in bag.algorithms
    assert f"data/item1/{CHINESE}" in set(bag.payload_files())
    sm3 = (root / "manifest-sm3.txt").read_text("utf-8").splitlines()
    assert len(sm3) == 3 and all(len(line.split()[0]) == 64 for line in sm3)
    tags = (root / "tagmanifest-sha256.txt").read_text("utf-8")
    for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sm3.txt",
                 "custody/extraction-record.json"):
        assert f"  {name}\n" in tags
    info = (root / "bag-info.txt").read_text("utf-8")
    assert "Payload-Oxum: 5024.3" in info and "Bagging-Date:" in info
    assert check_bag(root).ok


def test_bagit_python_sees_what_check_bag_sees(tmp_path):
    root = make_bag(tmp_path / "bag")
    (root / "data" / "item1" / "metadata" / "v0001.json").write_bytes(b'{"a":2}')
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(root)).validate()
    report = check_bag(root)
    assert [(p.code, p.path) for p in report.problems] == [
        ("altered", "data/item1/metadata/v0001.json")]
    assert "SHA256 / SM3" in report.problems[0].message


def test_check_bag_reports_every_problem(tmp_path):
    root = make_bag(tmp_path / "bag")
    (root / "data" / "item1" / CHINESE).unlink()                       # removed
    with open(root / "data" / "100％ done.txt", "ab") as f:            # altered
        f.write(b"!")
    (root / "data" / "added.bin").write_bytes(b"x")                    # added
    (root / "custody" / "extraction-record.json").write_bytes(b"x")    # tag altered
    (root / "custody" / "note.txt").write_bytes(b"x")                  # tag added
    report = check_bag(root)
    got = sorted((p.code, p.path) for p in report.problems)
    assert got == sorted([
        ("missing", f"data/item1/{CHINESE}"),
        ("altered", "data/100％ done.txt"),
        ("unlisted", "data/added.bin"),
        ("oxum", "bag-info.txt"),
        ("tag-altered", "custody/extraction-record.json"),
        ("tag-unlisted", "custody/note.txt"),
    ]), got
    assert not report.ok


def test_check_bag_tag_manifest_and_unsafe_entries(tmp_path):
    root = make_bag(tmp_path / "bag")
    (root / "bag-info.txt").write_text("Payload-Oxum: 1.1\n", "utf-8")
    with open(root / "manifest-sha256.txt", "a", encoding="utf-8") as f:
        f.write(f"{'0' * 64}  data/../../etc/passwd\n")
    (root / "bagit.txt").unlink()
    os.symlink("/etc/passwd", root / "data" / "link")
    codes = {(p.code, p.path) for p in check_bag(root).problems}
    assert ("tag-altered", "bag-info.txt") in codes
    assert ("tag-altered", "manifest-sha256.txt") in codes
    assert ("tag-missing", "bagit.txt") in codes and ("no-declaration", "bagit.txt") in codes
    assert ("unsafe-path", "data/../../etc/passwd") in codes
    assert ("unsafe-path", "data/link") in codes
    assert ("oxum", "bag-info.txt") in codes


def test_percent_refused_by_writer_read_by_checker(tmp_path):
    w = BagWriter(tmp_path / "bag", {})
    with pytest.raises(InputError, match="bagit-python"):
        w.add_bytes("100% done.txt", b"x")
    w.add_bytes("a.txt", b"x")
    root = w.finish()
    (root / "data" / "a.txt").rename(root / "data" / "a%b.txt")
    manifest = root / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text("utf-8").replace("a.txt", "a%25b.txt"), "utf-8")
    codes = {(p.code, p.path) for p in check_bag(root).problems}
    assert ("tag-altered", "manifest-sha256.txt") in codes
    assert ("manifest-incomplete", "data/a%b.txt") in codes  # the SM3 manifest names a.txt
    assert ("missing", "data/a.txt") in codes and ("altered", "data/a%b.txt") not in codes


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a//b", "a/./b", "con.txt", "a:b",
                                 "x\ny", "dot.", "x" * 300, ""])
def test_unsafe_names_refused(tmp_path, bad):
    with pytest.raises(InputError):
        check_relpath(bad)
    w = BagWriter(tmp_path / "bag", {})
    with pytest.raises(InputError):
        w.add_bytes(bad, b"x")


def test_writer_refusals(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_bytes(b"x")
    with pytest.raises(InputError, match="not an empty folder"):
        BagWriter(tmp_path / "full", {})
    with pytest.raises(InputError, match="single lines"):
        BagWriter(tmp_path / "b1", {"Label": "two\nlines"})
    w = BagWriter(tmp_path / "b2", {})
    w.add_bytes("a.txt", b"x")
    with pytest.raises(InputError, match="already in the bag"):
        w.add_bytes("a.txt", b"y")
    for name in ("bagit.txt", "manifest-md5.txt", "data/x"):
        with pytest.raises(InputError):
            w.add_tag_file(name, b"x")


def test_percent_encoding_round_trip():
    name = "a%b\r\nc"
    assert encode_path(name) == "a%25b%0D%0Ac"
    assert decode_path(encode_path(name)) == name


def test_iso_round_trip_and_tamper(tmp_path):
    root = make_bag(tmp_path / "bag")
    iso = tmp_path / "bag.iso"
    seen = []
    write_iso(root, iso, "export-1", progress=seen.append)
    assert sum(seen) > 0
    report = check_bag(iso)
    assert report.ok, report.problems
    assert report.files == 3 and report.bytes == 5024
    src = IsoSource(iso)
    try:
        files = src.files()
        assert f"data/item1/{CHINESE}" in files
        want = hashlib.sha256((root / "data" / "item1" / CHINESE).read_bytes()).hexdigest()
        assert hashlib.sha256(src.read_bytes(f"data/item1/{CHINESE}")).hexdigest() == want
    finally:
        src.close()
    # one payload byte changed on the image: found, and named
    data = bytearray(iso.read_bytes())
    marker = (root / "data" / "100％ done.txt").read_bytes()
    at = data.find(marker)
    assert at > 0
    data[at] ^= 1
    (tmp_path / "bad.iso").write_bytes(bytes(data))
    bad = check_bag(tmp_path / "bad.iso")
    assert [(p.code, p.path) for p in bad.problems] == [("altered", "data/100％ done.txt")]
    with pytest.raises(InputError, match="exists"):
        write_iso(root, iso, "again")


def test_iso_refuses_oversized_file_by_name(tmp_path, monkeypatch):
    import archive.packaging.iso

    root = make_bag(tmp_path / "bag")
    monkeypatch.setattr(archive.packaging.iso, "MAX_FILE_SIZE", 4000)
    with pytest.raises(InputError, match=CHINESE):
        write_iso(root, tmp_path / "x.iso", "x")
    assert not (tmp_path / "x.iso").exists()


def test_not_an_iso(tmp_path):
    from archive.domain.errors import ProblemFound

    (tmp_path / "x.iso").write_bytes(b"not an image" * 100)
    with pytest.raises(ProblemFound):
        check_bag(tmp_path / "x.iso")


@pytest.mark.slow
def test_iso_file_over_4gib(tmp_path):
    """Multi-extent: a file of 4 GiB + 12345 bytes survives the image whole (sparse source)."""
    size = 4 * 1024**3 + 12345
    root = tmp_path / "src"
    root.mkdir()
    with open(root / "大文件.bin", "wb") as f:
        f.truncate(size)
        f.seek(size - 5)
        f.write(b"TAIL!")
    write_iso(root, tmp_path / "big.iso", "big")
    src = IsoSource(tmp_path / "big.iso")
    try:
        assert src.files() == {"大文件.bin": size}
        with src.open("大文件.bin") as f:
            f.seek(size - 5)
            assert f.read(5) == b"TAIL!"
    finally:
        src.close()
