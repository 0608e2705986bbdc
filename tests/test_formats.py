"""Format checks against real files: libmagic, MediaInfo and our own PDF and OFD checks."""

from __future__ import annotations

import json
import time
import tomllib
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scanners import ofd as ofd_module
from scanners.formats import (
    HEAD_BYTES,
    KINDS,
    FormatReport,
    check_format,
    guess_kind,
    identify,
    sniff,
)
from scanners.media import parse_creation_time, time_is_utc
from scanners.pdf import check_pdf
from tests.support.corpus import OFD_NS, make_corpus, make_mp4, make_ofd, ofd_root_xml

CONFIG = Path(__file__).resolve().parents[1] / "config" / "default.toml"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def allowed() -> dict[str, list[str]]:
    with CONFIG.open("rb") as f:
        return tomllib.load(f)["formats"]


def check(path: Path, kind: str, allowed: dict[str, list[str]], **kw) -> FormatReport:
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    return check_format(path, kind, head, allowed, **kw)


def sample(corpus: dict[str, Path], name: str) -> Path:
    if name not in corpus:
        pytest.skip(f"no {name} sample: ffmpeg here lacks its encoder")
    return corpus[name]


# What libmagic 5.44 and MediaInfo 24.12 report for each well-formed sample; every MIME here
# must be in config/default.toml's list for the kind.
GOOD = [
    ("mp4", "video", "video/mp4", "MPEG-4"),
    ("mp4_faststart", "video", "video/mp4", "MPEG-4"),
    ("mov", "video", "video/quicktime", "MPEG-4"),
    ("avi", "video", "video/x-msvideo", "AVI"),
    ("3gp", "video", "video/3gpp", "MPEG-4"),
    ("wav", "audio", "audio/x-wav", "Wave"),
    ("mp3", "audio", "audio/mpeg", "MPEG Audio"),
    ("amr", "audio", "audio/amr", "AMR"),
    ("jpeg", "photo", "image/jpeg", None),
    ("png", "photo", "image/png", None),
    ("tiff", "photo", "image/tiff", None),
    ("tiff", "document", "image/tiff", None),
    ("jpeg", "document", "image/jpeg", None),
    ("pdf", "document", "application/pdf", None),
    ("pdf_xref_stream", "document", "application/pdf", None),
    ("ofd", "document", "application/ofd", None),
    ("ofd_zip64", "document", "application/ofd", None),
    ("json", "data", "application/json", None),
    ("csv", "data", "text/csv", None),
    ("xml", "data", "text/xml", None),
]


@pytest.mark.parametrize(("name", "kind", "mime", "container"), GOOD)
def test_well_formed_samples_are_named_and_allowed(corpus, allowed, name, kind, mime, container):
    r = check(sample(corpus, name), kind, allowed)
    assert r.mime == mime
    assert r.kind_allowed and r.extension_matches is True
    assert r.problems == [] and not r.damaged and not r.truncated and not r.encrypted
    assert r.container == container
    if container is not None:
        assert r.duration_s == pytest.approx(2.0, abs=0.2)
        assert r.codecs


def test_mp4_duration_codecs_and_creation_time_as_written(tmp_path, allowed):
    written = "2025-12-31T16:30:00Z"  # 2026-01-01 00:30 in Shanghai: the year turns over
    path = make_mp4(tmp_path / "clip.mp4", seconds=1, creation_time=written)
    r = check(path, "video", allowed)
    assert (r.container, r.codecs) == ("MPEG-4", ["AVC", "AAC"])
    assert r.duration_s == pytest.approx(1.0, abs=0.1)
    assert r.creation_time_utc is True
    assert parse_creation_time(r.creation_time) == datetime(2025, 12, 31, 16, 30,
                                                            tzinfo=timezone.utc)


def test_mp4_without_creation_time_reports_none(corpus, allowed):
    r = check(corpus["3gp"], "video", allowed)
    assert r.creation_time is None and r.creation_time_utc is None


def test_corpus_mp4_creation_time(corpus, allowed):
    r = check(corpus["mp4"], "video", allowed)
    assert r.creation_time == "2026-03-15 01:00:00 UTC"
    assert parse_creation_time(r.creation_time) == datetime(2026, 3, 15, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("name", ["mp4_truncated", "mp4_faststart_truncated"])
def test_truncated_mp4_is_flagged_damaged(corpus, allowed, name):
    r = check(corpus[name], "video", allowed)
    assert r.mime == "video/mp4" and r.kind_allowed
    assert r.truncated and r.damaged
    assert "truncated" in codes(r)


def test_truncated_mp4_with_index_at_the_end_has_no_streams(corpus, allowed):
    # The camera's usual layout: cutting it loses the index, so nothing else can be read.
    r = check(corpus["mp4_truncated"], "video", allowed)
    assert codes(r) == ["truncated", "no_streams", "no_duration"]
    assert r.duration_s is None


def test_truncated_wav_and_jpeg(corpus, allowed):
    assert check(corpus["wav_truncated"], "audio", allowed).truncated
    r = check(corpus["jpeg_truncated"], "photo", allowed)
    assert r.truncated and r.damaged and r.mime == "image/jpeg"


def test_audio_only_mp4_declared_video(corpus, allowed):
    r = check(corpus["mp4_audio_only"], "video", allowed)
    assert r.mime == "video/mp4"  # libmagic cannot tell an audio-only mp4 from a video
    assert r.codecs == ["AAC"]
    assert codes(r) == ["no_video_track"] and not r.damaged


@pytest.mark.parametrize("name", ["pdf_encrypted", "pdf_encrypted_xref_stream"])
def test_encrypted_pdf_is_flagged(corpus, allowed, name):
    r = check(corpus[name], "document", allowed)
    assert r.mime == "application/pdf" and r.kind_allowed
    assert r.encrypted and codes(r) == ["pdf_encrypted"]
    assert not r.damaged


def test_pdf_naming_encrypt_in_its_text_is_not_encrypted(corpus):
    assert b"/Encrypt" in corpus["pdf"].read_bytes()
    assert check_pdf(corpus["pdf"], corpus["pdf"].read_bytes()) == []


def test_encryption_found_through_startxref_beyond_head_and_tail(corpus):
    path = corpus["pdf_encrypted_xref_stream"]
    assert path.stat().st_size > 64 * 1024  # its dictionary is outside the tail window
    assert [p["code"] for p in check_pdf(path, b"%PDF-1.5\n")] == ["pdf_encrypted"]


def test_truncated_pdf_is_damaged(corpus, allowed):
    r = check(corpus["pdf_truncated"], "document", allowed)
    assert r.mime == "application/pdf"
    assert r.truncated and r.damaged
    assert codes(r) == ["truncated", "pdf_no_startxref"]


def test_pdf_without_header_is_damaged(tmp_path, corpus, allowed):
    path = tmp_path / "junk.pdf"
    path.write_bytes(b"garbage\n" * 200 + corpus["pdf"].read_bytes())
    r = check(path, "document", allowed)
    assert "pdf_no_header" in codes(r) and r.damaged


def test_pdf_renamed_ofd_is_a_mismatch_not_a_broken_ofd(tmp_path, corpus, allowed):
    path = tmp_path / "record.ofd"
    path.write_bytes(corpus["pdf"].read_bytes())
    r = check(path, "document", allowed)
    assert r.mime == "application/pdf" and r.kind_allowed and not r.damaged
    assert codes(r) == ["extension_mismatch"]


def test_unknown_bytes_named_ofd_or_mp4_are_checked_as_such(tmp_path, allowed):
    junk = b"\x00\x01garbage" * 64
    (tmp_path / "x.ofd").write_bytes(junk)
    (tmp_path / "x.mp4").write_bytes(junk)
    r = check(tmp_path / "x.ofd", "document", allowed)
    assert r.mime == "application/octet-stream" and r.damaged
    assert codes(r) == ["kind_not_allowed", "extension_mismatch", "ofd_unreadable"]
    r = check(tmp_path / "x.mp4", "video", allowed)
    assert r.damaged and "media_unreadable" in codes(r)


def test_renamed_pdf_is_a_mismatch(corpus, allowed):
    r = check(corpus["pdf_as_mp4"], "video", allowed)
    assert r.mime == "application/pdf" and r.extension == "mp4"
    assert not r.kind_allowed and r.extension_matches is False
    assert codes(r) == ["kind_not_allowed", "extension_mismatch"]
    assert r.container is None  # MediaInfo is not asked about a PDF


def test_extension_comes_from_the_original_name(corpus, allowed):
    r = check(corpus["pdf_as_mp4"], "document", allowed, name="询问笔录.PDF")
    assert (r.extension, r.extension_matches, r.problems) == ("pdf", True, [])
    r = check(corpus["mp4"], "video", allowed, name=r"D:\DCIM\100MEDIA\FILE0001.MP4")
    assert (r.extension, r.extension_matches) == ("mp4", True)
    r = check(corpus["json"], "data", allowed, name="export")
    assert (r.extension, r.extension_matches) == ("", None)


def test_empty_file(corpus, allowed):
    for kind in KINDS:
        r = check(corpus["empty"], kind, allowed)
        assert r.mime in ("application/x-empty", "inode/x-empty")
        assert not r.kind_allowed and r.damaged
        assert codes(r) == ["empty"]


def test_ofd_is_recognised(corpus, allowed):
    assert sniff(corpus["ofd"].read_bytes())[0] == "application/zip"  # what libmagic says
    assert identify(corpus["ofd"], corpus["ofd"].read_bytes())[0] == "application/ofd"
    r = check(corpus["ofd"], "document", allowed, name="record.zip")
    assert r.mime == "application/ofd" and r.kind_allowed
    assert r.extension_matches is False and codes(r) == ["extension_mismatch"]


@pytest.mark.parametrize(("name", "mime", "code"), [
    ("ofd_no_root", "application/zip", "ofd_no_root"),
    ("ofd_bad_docroot", "application/ofd", "ofd_missing_docroot"),
    ("ofd_not_xml", "application/ofd", "ofd_bad_xml"),
    ("ofd_truncated", "application/ofd", "ofd_unreadable"),
])
def test_broken_ofd(corpus, allowed, name, mime, code):
    r = check(corpus[name], "document", allowed)
    assert r.mime == mime and r.damaged
    assert code in codes(r)
    assert r.kind_allowed == (mime == "application/ofd")


_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(2, 10))
           + f']><ofd:OFD xmlns:ofd="{OFD_NS}">&lol9;</ofd:OFD>').replace("&lol1;", "&lol;")


@pytest.mark.parametrize(("root_xml", "code", "says"), [
    (ofd_root_xml().replace("ofdspec.org/2016", "example.com/ofd"), "ofd_bad_root", "not ofd:OFD"),
    (ofd_root_xml().replace("<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>", ""),
     "ofd_no_docroot", "DocRoot"),
    (_LAUGHS, "ofd_bad_xml", "DOCTYPE"),  # billion laughs: refused before parsing
    (ofd_root_xml().encode("utf-16"), "ofd_bad_xml", "not UTF-8"),
    (ofd_root_xml()[:-10], "ofd_bad_xml", "not well-formed"),
])
def test_bad_ofd_root_xml(tmp_path, allowed, root_xml, code, says):
    r = check(make_ofd(tmp_path / "bad.ofd", root_xml=root_xml), "document", allowed)
    assert r.mime == "application/ofd" and r.damaged
    assert codes(r) == [code] and says in r.problems[0]["message"]


def test_absolute_docroot_is_found(tmp_path, allowed):
    path = make_ofd(tmp_path / "abs.ofd", root_xml=ofd_root_xml("/Doc_0/Document.xml"))
    assert check(path, "document", allowed).problems == []


def test_oversized_ofd_is_not_read(tmp_path, corpus, allowed, monkeypatch):
    big = make_ofd(tmp_path / "big.ofd", root_xml=ofd_root_xml() + " " * (2 << 20))
    assert "ofd_too_large" in codes(check(big, "document", allowed))
    # The zip64 sample keeps its real counts only in the zip64 end record.
    monkeypatch.setattr(ofd_module, "MAX_ENTRIES", 2)
    assert "ofd_too_large" in codes(check(corpus["ofd_zip64"], "document", allowed))
    monkeypatch.setattr(ofd_module, "MAX_ENTRIES", 3)
    assert check(corpus["ofd_zip64"], "document", allowed).problems == []


@pytest.mark.parametrize("name", ["zip64", "zip_bomb"])
def test_zips_are_not_allowed_and_cost_little(corpus, allowed, name):
    path = corpus[name]
    assert path.stat().st_size < 16 * 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        reports = [check(path, kind, allowed) for kind in KINDS]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 8 * 1024 * 1024  # the bomb would inflate to 256 MiB
    for r in reports:
        assert r.mime == "application/zip" and not r.kind_allowed and not r.damaged
        assert codes(r) == ["kind_not_allowed"]
    assert guess_kind(reports[0].mime, "zip") is None


def test_not_allowed_for_another_kind(corpus, allowed):
    r = check(corpus["jpeg"], "video", allowed)
    assert not r.kind_allowed and codes(r) == ["kind_not_allowed"]
    r = check(corpus["mp4"], "document", allowed)
    assert not r.kind_allowed and r.container == "MPEG-4"  # media facts still read


def test_long_json_export_is_text_plain_to_libmagic(tmp_path, allowed):
    rows = [{"device_id": f"DSJ-{i:04d}", "file": f"{i}.mp4"} for i in range(40_000)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(rows))
    assert path.stat().st_size > HEAD_BYTES
    r = check(path, "data", allowed)
    assert r.mime == "text/plain"  # libmagic cannot parse JSON cut at the head
    assert r.kind_allowed and r.extension_matches is True


def test_empty_head_is_read_from_the_file(corpus, allowed):
    r = check_format(corpus["png"], "photo", b"", allowed)
    assert r.mime == "image/png" and r.kind_allowed


def test_unknown_kind_is_refused(corpus, allowed):
    with pytest.raises(ValueError, match="unknown kind"):
        check(corpus["png"], "picture", allowed)


def test_report_to_dict_is_json(corpus, allowed):
    d = check(corpus["mp4_truncated"], "video", allowed).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["damaged"] is True and d["problems"][0] == {
        "code": "truncated", "message": "MediaInfo: the file is shorter than its headers say",
        "text": d["problems"][0]["text"]}


@pytest.mark.parametrize(("mime", "extension", "kind"), [
    ("video/mp4", "mp4", "video"), ("video/quicktime", "MOV", "video"),
    ("video/x-msvideo", "avi", "video"), ("video/3gpp", "3gp", "video"),
    ("video/mp4", ".m4a", "audio"), ("audio/x-m4a", "m4a", "audio"),
    ("audio/x-wav", "wav", "audio"), ("audio/mpeg", "mp3", "audio"), ("audio/amr", "amr", "audio"),
    ("image/jpeg", "jpg", "photo"), ("image/png", "png", "photo"),
    ("image/tiff", "tif", "document"), ("application/pdf", "pdf", "document"),
    ("application/ofd", "ofd", "document"), ("application/zip", "ofd", "document"),
    ("application/json", "json", "data"), ("text/csv", "csv", "data"),
    ("text/xml", "xml", "data"), ("text/plain", "txt", "data"),
    ("application/zip", "zip", None), ("application/x-empty", "", None),
    ("application/octet-stream", "mp4", None),
])
def test_guess_kind(mime, extension, kind):
    assert guess_kind(mime, extension) == kind


@pytest.mark.parametrize(("raw", "utc", "parsed"), [
    ("2026-03-15 01:00:00 UTC", True, datetime(2026, 3, 15, 1, tzinfo=timezone.utc)),
    ("UTC 2026-03-15 01:00:00", True, datetime(2026, 3, 15, 1, tzinfo=timezone.utc)),
    ("2026-03-15 01:00:00.000000Z UTC", True, datetime(2026, 3, 15, 1, tzinfo=timezone.utc)),
    ("2026-03-15T09:00:00+0800", False,
     datetime(2026, 3, 15, 9, tzinfo=timezone(timedelta(hours=8)))),
    ("2026-03-15 09:00:00", None, datetime(2026, 3, 15, 9)),
    ("not a date", None, None),
])
def test_embedded_time_zone_marking(raw, utc, parsed):
    assert time_is_utc(raw) is utc
    assert parse_creation_time(raw) == parsed


def codes(r: FormatReport) -> list[str]:
    return [p["code"] for p in r.problems]
