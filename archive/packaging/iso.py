"""One ISO image of a directory (a bag), to burn and attach to a case file; read back unmounted.

Written with pycdlib as ISO 9660 interchange level 3 with Rock Ridge 1.09 (Linux and macOS
read the full UTF-8 names) and UDF 2.60 (Windows, macOS and Linux read the full Unicode names).
Joliet is left out: it holds 64 UCS-2 characters a name at most, and pycdlib refuses longer
Chinese names, while UDF holds 255.

Files of 4 GiB and more: level 3 splits them into multi-extent ISO 9660 records and UDF gives
them one file entry. pycdlib 1.22 reads such a file back completely only through UDF (through
Rock Ridge it returns the last extent alone), so ``IsoSource`` reads through UDF. Measured here:
a 4 GiB + 12345 byte file written (19.7 s, peak RSS 18 MiB) and read back whole.
``MAX_FILE_SIZE`` is the largest single file this module writes; bigger files are refused by
name before anything is written.

Memory stays flat: pycdlib is given file names, opens each only while it copies it, and copies
in blocks.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from archive.domain.errors import InputError, ProblemFound
from archive.packaging.source import BagSource
from i18n import N_

MAX_FILE_SIZE = 64 * 1024**3  # tested to 4 GiB + 12345 bytes; a BD-R XL disc holds 128 GB
BLOCK = 2048
_SAFE = re.compile(r"[^A-Z0-9_]")


def _iso_name(name: str, taken: set[str], is_dir: bool) -> str:
    """A level-3 ISO 9660 name (d-characters, 30 at most) that is unique in its directory.
    The real name is in the Rock Ridge and UDF records."""
    stem, dot, ext = name.rpartition(".") if "." in name and not is_dir else (name, "", "")
    stem = _SAFE.sub("_", unicodedata.normalize("NFKD", stem).encode("ascii", "ignore")
                     .decode().upper())[:20] or "F"
    ext = _SAFE.sub("_", ext.upper())[:6]
    n = 0
    while True:
        base = stem if n == 0 else f"{stem[:14]}_{n:05d}"
        candidate = base if is_dir else f"{base}.{ext}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        n += 1


def write_iso(src_dir: Path, out: Path, volume_id: str,
              progress: Callable[[int], None] | None = None) -> None:
    """Write every file under ``src_dir`` into the ISO image ``out`` (which must not exist).

    ``progress`` is called with the number of bytes written since its last call.
    """
    import pycdlib

    src_dir, out = Path(src_dir), Path(out)
    if out.exists():
        raise InputError(N_("{path} exists; refusing to replace it"), subject=str(out),
                         path=str(out))
    vol = re.sub(r"[^A-Z0-9_]", "_", volume_id.upper())[:32] or "CUSTODY"
    entries: list[tuple[Path, bool]] = []
    for p in sorted(src_dir.rglob("*")):
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            raise InputError(N_("{path}: only plain files and folders go on a disc"),
                             subject=str(p), path=str(p))
        if p.is_file() and p.stat().st_size > MAX_FILE_SIZE:
            raise InputError(N_("{path}: {size} bytes is more than the {limit} bytes a single "
                                "file may have on an image written here"), subject=str(p),
                             path=str(p.relative_to(src_dir)), size=p.stat().st_size,
                             limit=MAX_FILE_SIZE)
        entries.append((p, p.is_dir()))

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=vol, rock_ridge="1.09", udf="2.60",
            app_ident_str="custody")
    iso_paths: dict[Path, str] = {src_dir: ""}
    taken: dict[str, set[str]] = {}
    for p, is_dir in entries:  # sorted: a directory comes before what it holds
        parent = iso_paths[p.parent]
        name = unicodedata.normalize("NFC", p.name)
        iso_path = f"{parent}/{_iso_name(name, taken.setdefault(parent, set()), is_dir)}"
        udf_path = "/" + unicodedata.normalize("NFC", p.relative_to(src_dir).as_posix())
        iso_paths[p] = iso_path
        if is_dir:
            iso.add_directory(iso_path, rr_name=name, udf_path=udf_path)
        else:
            iso.add_file(str(p), iso_path=iso_path + ";1", rr_name=name, udf_path=udf_path)
    last = [0]

    def cb(done: int, total: int, _opaque: object) -> None:
        if progress is not None and done > last[0]:
            progress(done - last[0])
            last[0] = done

    tmp = out.with_name(out.name + ".part")
    try:
        with open(tmp, "wb") as f:
            iso.write_fp(f, blocksize=1024 * 1024, progress_cb=cb)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(out)
    finally:
        iso.close()
        tmp.unlink(missing_ok=True)


class IsoSource(BagSource):
    """The files of an ISO image, read without mounting it (through UDF when present)."""

    def __init__(self, path: Path) -> None:
        import pycdlib
        from pycdlib.pycdlibexception import PyCdlibException

        self.name = str(path)
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(path))
        except (PyCdlibException, OSError, ValueError) as exc:
            raise ProblemFound(N_("{path}: not a readable ISO image: {reason}"),
                               subject=str(path), path=str(path), reason=str(exc)) from exc
        if self._iso.has_udf():
            self._kw = "udf_path"
        elif self._iso.has_rock_ridge():
            self._kw = "rr_path"
        elif self._iso.has_joliet():
            self._kw = "joliet_path"
        else:
            self._kw = "iso_path"

    def files(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for root, _dirs, names in self._iso.walk(**{self._kw: "/"}):
            for n in names:
                full = (root.rstrip("/") + "/" + n)
                rel = full.lstrip("/")
                if self._kw == "iso_path":
                    rel = rel.rsplit(";", 1)[0].lower()
                with self._iso.open_file_from_iso(**{self._kw: full}) as f:
                    out[unicodedata.normalize("NFC", rel)] = f.length()
        self._names = {unicodedata.normalize("NFC", k): k for k in out}
        return out

    def open(self, relpath: str) -> BinaryIO:
        if not hasattr(self, "_names"):
            self.files()
        real = self._names.get(unicodedata.normalize("NFC", relpath), relpath)
        if self._kw == "iso_path":
            real = real.upper() + ";1"
        return self._iso.open_file_from_iso(**{self._kw: "/" + real})

    def close(self) -> None:
        self._iso.close()
