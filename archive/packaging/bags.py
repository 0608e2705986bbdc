"""BagIt bags (RFC 8493, version 1.0): a streaming writer and a checker that names every problem.

Export packages, transfer packages and disc images are bags that any archive's tools accept
(the Library of Congress's bagit-python validates them unchanged). Payload files are written
in one pass that computes size, SHA-256 and SM3; the bag carries ``manifest-sha256.txt`` (what
other tools check) and ``manifest-sm3.txt`` (what Chinese archival standards ask for), and the
matching tag manifests. bagit-python checks only the algorithms of ``hashlib.algorithms_guaranteed``
and treats the SM3 manifests as ordinary tag files, which it accepts.

``check_bag`` works on a bag directory or on an ISO image made by ``archive.iso`` (read without
mounting), streams every file once, and reports every problem with a code and the file it
concerns, not just the first.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from archive.domain.errors import InputError
from archive.domain.model import Digests
from archive.integrity.fixity import StreamDigests
from archive.packaging.iso import IsoSource
from archive.packaging.source import BagSource, check_relpath
from archive.worm.fsutil import fsync_dir
from i18n import N_, Text, localize

ALGORITHMS = ("sha256", "sm3")
RESERVED_TAG_FILES = {"bagit.txt", "bag-info.txt", "fetch.txt"}
_MANIFEST = re.compile(r"^(tag)?manifest-([a-z0-9]+)\.txt$")
# Characters Windows refuses in names, and control characters: a bag is opened on office PCs.


def encode_path(path: str) -> str:
    """A path as a manifest line writes it (RFC 8493 §2.1.3: %, CR and LF percent-encoded)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(text: str) -> str:
    return re.sub(r"%(25|0D|0A)", lambda m: {"25": "%", "0D": "\r", "0A": "\n"}[
        m.group(1).upper()], text, flags=re.IGNORECASE)


def _agent() -> str:
    try:
        return f"custody {metadata.version('custody')}"
    except metadata.PackageNotFoundError:
        return "custody"


def _hashes(data: bytes) -> Digests:
    d = StreamDigests()
    d.update(data)
    return d.finish()


class BagWriter:
    """Write one bag. ``root`` must not exist or be empty; ``finish`` completes it.

    ``info`` becomes bag-info.txt (a list value: the label repeated); Payload-Oxum,
    Bagging-Date and Bag-Software-Agent are added.
    """

    def __init__(self, root: Path, info: dict[str, str | list[str]] | None = None) -> None:
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise InputError(N_("{path} exists and is not an empty folder"), subject=str(root),
                             path=str(root))
        for label, value in (info or {}).items():
            values = value if isinstance(value, list) else [value]
            if not re.match(r"^[^:\s][^:\r\n]*$", label) or any(
                    not isinstance(v, str) or "\n" in v or "\r" in v for v in values):
                raise InputError(N_("bag-info label {label!r}: labels have no ':' and values "
                                    "are single lines"), label=label)
        self.root = root
        self.info = dict(info or {})
        (root / "data").mkdir(parents=True, exist_ok=True)
        self.payload: dict[str, Digests] = {}
        self.tags: dict[str, Digests] = {}
        self.finished = False

    def _target(self, relpath: str, base: Path) -> tuple[str, Path]:
        if self.finished:
            raise InputError(N_("the bag is finished"))
        rel = check_relpath(relpath)
        if "%" in rel:
            # RFC 8493 writes '%' as %25, but bagit-python 1.9 decodes only %0D and %0A and
            # would report such a file as missing: name it without '%' (callers use '％').
            raise InputError(N_("bag path {path!r}: '%' in a name is misread by bagit-python"),
                             subject=relpath, path=relpath)
        target = base.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        return rel, target

    def _write(self, target: Path, chunks: Iterable[bytes]) -> Digests:
        digests = StreamDigests()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    digests.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            digests.finish()
            target.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
        return digests.finish()

    def add_stream(self, relpath: str, chunks: Iterable[bytes]) -> Digests:
        """Write ``data/<relpath>`` from ``chunks`` in one pass; returns its digests."""
        rel, target = self._target(relpath, self.root / "data")
        if rel in self.payload or target.exists():
            raise InputError(N_("data/{path} is already in the bag"), subject=rel, path=rel)
        d = self._write(target, chunks)
        self.payload[rel] = d
        return d

    def add_bytes(self, relpath: str, data: bytes) -> Digests:
        return self.add_stream(relpath, [data])

    def add_tag_file(self, name: str, data: bytes) -> Digests:
        """A tag file outside data/ (e.g. ``custody/extraction-record.json``), listed in the
        tag manifests."""
        rel = check_relpath(name)
        if (rel.split("/")[0] == "data" or rel in RESERVED_TAG_FILES
                or _MANIFEST.match(rel)):
            raise InputError(N_("{name!r} is not a name a tag file may have"), subject=name,
                             name=name)
        rel, target = self._target(rel, self.root)
        if rel in self.tags:
            raise InputError(N_("{path} is already in the bag"), subject=rel, path=rel)
        d = self._write(target, [data])
        self.tags[rel] = d
        return d

    def _tag(self, name: str, text: str) -> None:
        target = self.root / name
        target.unlink(missing_ok=True)
        self.tags[name] = self._write(target, [text.encode("utf-8")])

    def finish(self) -> Path:
        """Write the manifests, bagit.txt, bag-info.txt and the tag manifests; fsync."""
        if self.finished:
            return self.root
        for alg in ALGORITHMS:
            lines = [f"{getattr(d, alg)}  data/{encode_path(rel)}\n"
                     for rel, d in sorted(self.payload.items())]
            self._tag(f"manifest-{alg}.txt", "".join(lines))
        self._tag("bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
        oxum = f"{sum(d.size for d in self.payload.values())}.{len(self.payload)}"
        info: list[tuple[str, str]] = [("Payload-Oxum", oxum),
                                       ("Bagging-Date", date.today().isoformat()),
                                       ("Bag-Software-Agent", _agent())]
        auto = {k.lower() for k, _ in info}
        for label, value in self.info.items():
            if label.lower() in auto:
                continue
            for v in value if isinstance(value, list) else [value]:
                info.append((label, v))
        self._tag("bag-info.txt", "".join(f"{k}: {v}\n" for k, v in info))
        for alg in ALGORITHMS:
            lines = [f"{getattr(d, alg)}  {encode_path(rel)}\n"
                     for rel, d in sorted(self.tags.items())]
            target = self.root / f"tagmanifest-{alg}.txt"
            target.unlink(missing_ok=True)
            self._write(target, ["".join(lines).encode("utf-8")])
        fsync_dir(self.root)
        self.finished = True
        return self.root


# --- reading bags: a directory or an ISO image ------------------------------------------------
class DirectorySource(BagSource):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.name = str(root)
        self._odd: list[tuple[str, str]] = []

    def files(self) -> dict[str, int]:
        out: dict[str, int] = {}
        self._odd = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            for n in dirnames + filenames:
                p = Path(dirpath) / n
                rel = p.relative_to(self.root).as_posix()
                if p.is_symlink():
                    self._odd.append((rel, N_("a symbolic link")))
                elif n in filenames:
                    if p.is_file():
                        out[unicodedata.normalize("NFC", rel)] = p.stat().st_size
                    else:
                        self._odd.append((rel, N_("not a regular file")))
        return out

    def oddities(self) -> list[tuple[str, str]]:
        return list(self._odd)

    def open(self, relpath: str) -> BinaryIO:
        check_relpath(relpath)
        return open(self.root.joinpath(*relpath.split("/")), "rb")


def open_source(path: Path) -> BagSource:
    path = Path(path)
    if path.is_dir():
        return DirectorySource(path)
    if path.is_file():
        return IsoSource(path)
    raise InputError(N_("{path}: neither a bag folder nor an ISO image"), subject=str(path),
                     path=str(path))


@contextmanager
def open_bag(path: Path) -> Iterator[BagSource]:
    source = open_source(path)
    try:
        yield source
    finally:
        source.close()


# --- checking ---------------------------------------------------------------------------------
@dataclass
class BagProblem:
    code: str  # missing, altered, unlisted, oxum, tag-missing, tag-altered, tag-unlisted, ...
    path: str
    text: Text | str  # what a person reads, in their language when shown

    @property
    def message(self) -> str:
        """The English sentence: what JSON, stored reports and logs keep."""
        return str(self.text)

    def to_dict(self) -> dict:
        return {"code": self.code, "path": self.path, "message": self.message,
                "text": localize(self.text)}


@dataclass
class BagReport:
    path: str
    files: int = 0
    bytes: int = 0
    algorithms: list[str] = field(default_factory=list)
    info: dict[str, list[str]] = field(default_factory=dict)
    problems: list[BagProblem] = field(default_factory=list)
    digests: dict[str, Digests] = field(default_factory=dict)  # every file read, as read

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, code: str, path: str, message: Text | str) -> None:
        self.problems.append(BagProblem(code, path, message))

    def to_dict(self) -> dict:
        return {"path": self.path, "ok": self.ok, "files": self.files, "bytes": self.bytes,
                "algorithms": self.algorithms,
                "problems": [p.to_dict() for p in self.problems]}


def _parse_tag_text(data: bytes, name: str, report: BagReport) -> list[tuple[str, str]] | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        report.add("bad-tag-file", name, Text("{name} is not UTF-8", name=name))
        return None
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t" and out:  # a folded continuation line
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            continue
        label, sep, value = line.partition(":")
        if not sep:
            report.add("bad-tag-file", name, Text("{name}: line {line!r} is not 'Label: value'",
                                                  name=name, line=line))
            continue
        out.append((label.strip(), value.strip()))
    return out


def _parse_manifest(data: bytes, name: str, report: BagReport) -> dict[str, str]:
    entries: dict[str, str] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        report.add("bad-manifest", name, Text("{name} is not UTF-8", name=name))
        return entries
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        checksum, _, path = line.partition(" ")
        path = decode_path(path.lstrip(" ").lstrip("*"))
        if not checksum or not path:
            report.add("bad-manifest", name, Text("{name} line {line}: not 'CHECKSUM PATH'",
                                                  name=name, line=n))
            continue
        try:
            check_relpath(path)
        except InputError:
            report.add("unsafe-path", path, Text("{name} line {line} names an unsafe path {path!r}",
                                                 name=name, line=n, path=path))
            continue
        path = unicodedata.normalize("NFC", path)
        if path in entries:
            report.add("bad-manifest", path, Text("{name} lists {path} twice", name=name,
                                                  path=path))
        entries[path] = checksum.lower()
    return entries


def _digest(source: BagSource, relpath: str, report: BagReport) -> Digests | None:
    try:
        d = StreamDigests()
        for chunk in source.chunks(relpath):
            d.update(chunk)
        got = d.finish()
    except OSError as exc:
        report.add("unreadable", relpath, Text("{path} cannot be read: {reason}", path=relpath,
                                                reason=str(exc)))
        return None
    report.digests[relpath] = got
    return got


def check_source(source: BagSource) -> BagReport:
    report = BagReport(source.name)
    files = source.files()
    for path, problem in source.oddities():
        report.add("unsafe-path", path, Text("{path} is {kind}", path=path, kind=Text(problem)))
    for rel in files:
        try:
            check_relpath(rel)
        except InputError as exc:
            report.add("unsafe-path", rel, exc.text)

    if "bagit.txt" not in files:
        report.add("no-declaration", "bagit.txt", Text("bagit.txt is missing: not a bag"))
    else:
        tags = dict(_parse_tag_text(source.read_bytes("bagit.txt"), "bagit.txt", report) or [])
        if tags.get("BagIt-Version") not in ("1.0", "0.97"):
            report.add("bad-declaration", "bagit.txt",
                       Text("BagIt-Version is {version!r}, not 1.0",
                            version=tags.get("BagIt-Version")))
        if (tags.get("Tag-File-Character-Encoding") or "").upper() != "UTF-8":
            report.add("bad-declaration", "bagit.txt",
                       Text("Tag-File-Character-Encoding is not UTF-8"))
    if "bag-info.txt" in files:
        for label, value in _parse_tag_text(source.read_bytes("bag-info.txt"), "bag-info.txt",
                                            report) or []:
            report.info.setdefault(label, []).append(value)

    manifests: dict[str, dict[str, str]] = {}
    tagmanifests: dict[str, dict[str, str]] = {}
    for rel in sorted(files):
        m = _MANIFEST.match(rel)
        if m:
            target = tagmanifests if m.group(1) else manifests
            target[m.group(2)] = _parse_manifest(source.read_bytes(rel), rel, report)
    if not manifests:
        report.add("no-manifest", "manifest-sha256.txt", Text("the bag has no payload manifest"))
    report.algorithms = sorted(manifests)

    payload = {rel for rel in files if rel.startswith("data/")}
    listed: set[str] = set()
    for alg, entries in sorted(manifests.items()):
        listed |= set(entries)
        for rel in entries:
            if not rel.startswith("data/"):
                report.add("bad-manifest", rel, Text("manifest-{alg}.txt lists {path} outside "
                                                      "data/", alg=alg, path=rel))
    for alg, entries in sorted(manifests.items()):
        for rel in sorted(listed - set(entries)):
            if rel in payload:
                report.add("manifest-incomplete", rel, Text("manifest-{alg}.txt does not list "
                                                             "{path}", alg=alg, path=rel))
    if manifests and not set(manifests) & set(ALGORITHMS):
        report.add("unsupported-algorithm", "manifest-sha256.txt",
                   Text("no manifest in an algorithm custody checks ({algorithms})",
                        algorithms=", ".join(ALGORITHMS)))
    in_data = {rel for rel in listed if rel.startswith("data/")}
    _check_entries(source, files, manifests, sorted(in_data | payload), report, "")

    oxum = report.info.get("Payload-Oxum")
    if oxum:
        got = f"{sum(files[r] for r in payload)}.{len(payload)}"
        if oxum[0] != got:
            report.add("oxum", "bag-info.txt", Text("Payload-Oxum says {said} (bytes.files), "
                                                    "the payload is {got}", said=oxum[0],
                                                    got=got))
    report.files = len(payload)
    report.bytes = sum(files[r] for r in payload)

    tag_files = {rel for rel in files if not rel.startswith("data/")
                 and not (_MANIFEST.match(rel) and _MANIFEST.match(rel).group(1))}
    tlisted: set[str] = set()
    for entries in tagmanifests.values():
        tlisted |= set(entries)
    _check_entries(source, files, tagmanifests, sorted(tlisted | tag_files), report, "tag-")
    for rel in sorted(tlisted):
        if rel.startswith("data/"):
            report.add("bad-manifest", rel, Text("a tag manifest lists payload file {path}",
                                                  path=rel))
    order = {"unsafe-path": 0}
    report.problems.sort(key=lambda p: (order.get(p.code, 1), p.path, p.code))
    return report


def _check_entries(source: BagSource, files: dict[str, int],
                   manifests: dict[str, dict[str, str]], paths: list[str], report: BagReport,
                   prefix: str) -> None:
    """Each path once: missing, unlisted, or read and compared with every manifest."""
    if not manifests:
        return
    for rel in paths:
        wanted = {alg: entries[rel] for alg, entries in manifests.items() if rel in entries}
        if rel not in files:
            report.add(f"{prefix}missing", rel, Text(
                "{path} is listed in {manifests} but absent", path=rel,
                manifests=", ".join(f"{prefix}manifest-{a}.txt" for a in wanted)))
            continue
        if not wanted:
            where = Text(N_("the tag manifests") if prefix else N_("the payload manifests"))
            report.add(f"{prefix}unlisted", rel, Text("{path} is in the bag but not in "
                                                      "{where} (added?)", path=rel,
                                                      where=where))
            continue
        got = report.digests.get(rel) or _digest(source, rel, report)
        if got is None:
            continue
        bad = [alg for alg, want in wanted.items()
               if alg in ALGORITHMS and getattr(got, alg) != want]
        if bad:
            report.add(f"{prefix}altered", rel, Text(
                "{path} does not match its {algorithms} digest (altered)", path=rel,
                algorithms=" / ".join(a.upper() for a in bad)))


def check_bag(path: Path) -> BagReport:
    """Check a bag directory or an ISO image of one; every problem is reported."""
    with open_bag(path) as source:
        report = check_source(source)
    report.path = str(path)
    return report
