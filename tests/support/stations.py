"""Several stations on one archive, as tests drive them: each station a data home of its own
(its own CUSTODY_HOME, its own station id, its own archive key) over one shared catalog and
WORM store, all run by one OS account (so one person, the administrator, acts at both);
small offloads each station ingests, with one file both stations have; the command line run
in a process of its own, bounded by a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from cli import main
from tests.support.corpus import make_mp4, make_pdf

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 180  # seconds for one command in its own process: a hang fails, never stalls
SHARED_NAME = "DSJ-0500_20260315_090000_0001.MP4"  # the file both stations offload


def station_env(tmp: Path, station: str | None, **extra: str) -> dict[str, str]:
    """The environment of one station: its home under ``tmp``/``station``, the shared OS
    account's HOME (the people's keys) at ``tmp``/user."""
    env = {"HOME": str(tmp / "user"), "CUSTODY_HOME": str(tmp / (station or "no-station")),
           "CUSTODY_STATION": station or ""}
    return env | extra


def cli(config: Path, env: dict[str, str], *args: str, code: int | None = 0) -> Result:
    """One custody command in this process (CliRunner), at one station."""
    result = CliRunner().invoke(main, ["--config", str(config), *args], env=env,
                                catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, result.output
    return result


def cli_json(config: Path, env: dict[str, str], *args: str, code: int | None = 0) -> dict:
    return json.loads(cli(config, env, *args, "--json", code=code).stdout)


# Each process loads custody first, then waits at the gate until every party is there, so
# the stations' work starts at the same moment, not one interpreter start-up apart.
_GATED = """\
import os, sys, time
from pathlib import Path
from cli import main
gate, parties = Path(sys.argv[1]), int(sys.argv[2])
(gate / str(os.getpid())).touch()
deadline = time.monotonic() + float(sys.argv[3])
while len(list(gate.iterdir())) < parties and time.monotonic() < deadline:
    time.sleep(0.01)
sys.exit(main(sys.argv[4:], prog_name="custody"))
"""
GATE_TIMEOUT = 60  # seconds a station waits for the others: one that never comes cannot hang


def spawn(config: Path, env: dict[str, str], *args: str, gate: Path | None = None,
          parties: int = 2) -> subprocess.Popen:
    """One custody command in a process of its own (a station at work), not waited for;
    with ``gate`` (a folder), it starts its work only once ``parties`` processes wait
    there."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("CUSTODY_")} | env | {"PYTHONPATH": str(REPO)}
    if gate is not None:
        gate.mkdir(parents=True, exist_ok=True)
    head = ["-c", _GATED, str(gate or ""), str(parties if gate else 0), str(GATE_TIMEOUT)]
    return subprocess.Popen([sys.executable, *head, "--config", str(config), *args],
                            env=environment, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def offload(root: Path, device: str, videos: int, shared: Path | None = None
            ) -> tuple[Path, Path]:
    """An offload folder of ``videos`` one-second videos from ``device`` and a 笔录, with its
    manifest beside it; with ``shared``, a copy of that very file under the same
    description as well (the file both stations have)."""
    root.mkdir(parents=True)
    n = int(device.rsplit("-", 1)[1]) % 50
    rows = []
    for i in range(videos):
        path = root / f"{device}_20260315_0900{i:02d}_{i + 2:04d}.MP4"
        at = f"2026-03-15T01:{n:02d}:{i * 2:02d}"
        make_mp4(path, 1, creation_time=at + "Z")
        rows.append(_row(path.name, device, at))
    pdf = make_pdf(root / f"笔录-{device}.pdf")
    rows.append(_row(pdf.name, device, f"2026-03-15T01:{n:02d}:30") | {
        "kind": "document", "title": "询问笔录"})
    if shared is not None:
        (root / SHARED_NAME).write_bytes(shared.read_bytes())
        rows.append(_row(SHARED_NAME, "DSJ-0500", SHARED_AT))
    manifest = root.parent / f"{root.name}.json"
    manifest.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return root, manifest


SHARED_AT = "2026-03-15T01:59:00"


def shared_file(path: Path) -> Path:
    """The one recording both stations offload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_mp4(path, 1, creation_time=SHARED_AT + "Z")


def _row(name: str, device: str, at: str) -> dict:
    return {"file": name, "unit": "market-001", "device_id": device, "officer_id": "P5000",
            "party": "王五", "cause": "无照经营", "recorded_start": at + "Z",
            "recorded_end": at[:-2] + f"{int(at[-2:]) + 1:02d}Z"}


def private_key_texts(*homes: Path) -> list[bytes]:
    """Every private key file under the stations' homes (and the people's), as bytes: what
    must never be found in the store or the catalog."""
    found = []
    for home in homes:
        for path in home.rglob("*.key*"):
            if path.is_file():
                found.append(path.read_bytes())
    return found


def pem_body(pem: bytes) -> bytes:
    """The base64 body of a PEM (what a copy would hold even re-wrapped)."""
    return b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-"))
