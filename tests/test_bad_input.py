"""Every command, with bad input of each kind it takes: a clear error and an exit code of 1, 2
or 3 — never a traceback, never a hang, never the exit code of an unexpected fault (70).

The commands are read from the command line itself, so a new command is tried as soon as it
exists. Each value a parameter takes is replaced in turn by bad ones of its kind: missing,
malformed, the wrong type, the wrong encoding, a special file (FIFO, directory, device),
a path that is not there or leaves its folder.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import main
from commands.base import UNEXPECTED
from tests.support.worm import release_all_for_tests

# Commands that start daemons or long work whatever the input (watch runs until stopped):
# tried by their own tests.
SKIPPED = {("demo",), ("scanner", "start"), ("scanner", "update"), ("watch",)}
# Servers whose good input (nothing given) serves until stopped: only their bad input is tried
# here; tests/test_web_serving.py starts and stops the console.
SERVES = {("web",)}

BAD_TEXT = ["", "../../../etc/passwd\x00王五%s" + "x" * 3000]
BAD_TIME = ["2026/12/01 08:14", "2026-13-45"]
BAD_INT = ["abc", "-99999999999999999999"]
TIME_PARAMS = {"start", "end", "until", "as_of", "closed"}


def _leaves(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _leaves(cmd, path + (name,))
        else:
            yield path + (name,), cmd


def _params(cmd: click.Command) -> list[click.Parameter]:
    return [p for p in cmd.params if p.name not in ("as_json", "help")]


def _flag(p: click.Parameter) -> str:
    return max(p.opts, key=len)


def _fine(p: click.Parameter, files: dict[str, Path]) -> str:
    """A value of the right shape that names nothing in the archive."""
    if isinstance(p.type, click.Choice):
        return str(p.type.choices[0])
    if isinstance(p.type, click.types.IntParamType | click.types.FloatParamType):
        return "2026"
    if isinstance(p.type, click.Path):
        return str(files["dir"] if not p.type.file_okay else files["garbage"])
    return "NO-SUCH-1"


def _bad(p: click.Parameter, files: dict[str, Path]) -> list[str]:
    if isinstance(p.type, click.Choice):
        return ["nonsense"]
    if isinstance(p.type, click.types.IntParamType | click.types.FloatParamType):
        return BAD_INT
    if isinstance(p.type, click.Path):
        return [str(files[k]) for k in PATH_KINDS]
    if p.name in TIME_PARAMS:
        return BAD_TIME + BAD_TEXT[:1]
    return BAD_TEXT


def _argv(cmd: click.Command, files: dict[str, Path], bad: click.Parameter | None,
          value: str | None) -> list[str]:
    argv: list[str] = []
    for p in _params(cmd):
        if isinstance(p, click.Option) and p.is_flag:
            continue
        if p is bad:
            v = value
        elif p.required:
            v = _fine(p, files)
        else:
            continue
        if isinstance(p, click.Argument):
            argv.append(v)
        else:
            argv += [_flag(p), v]
    return argv


def _cases() -> Iterator:
    for path, cmd in _leaves(main):
        if path in SKIPPED:
            continue
        if path not in SERVES:
            yield pytest.param(path, None, None, id=" ".join(path) + ": nothing given")
        for p in _params(cmd):
            if isinstance(p, click.Option) and p.is_flag:
                continue
            for n in range(len(_bad(p, {k: Path(k) for k in _FILE_KINDS}))):
                yield pytest.param(path, p.name, n, id=f"{' '.join(path)} {p.name}#{n}")


_FILE_KINDS = ("fifo", "dir", "missing", "garbage", "gbk", "empty", "loop", "device")
# one of each kind of trouble: a FIFO (a hang), a directory, nothing there, another encoding,
# a link that never ends, a device that never ends (a read without a limit fills the memory)
PATH_KINDS = ("fifo", "dir", "missing", "gbk", "loop", "device")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Iterator[dict[str, Path]]:
    base = tmp_path_factory.mktemp("bad-input")
    with pytest.MonkeyPatch.context() as mp:
        config = base / "custody.toml"
        # an external clamd that is not there: ingest fails fast (exit 3), nothing starts
        config.write_text('[scanner]\nsocket = "/nonexistent/clamd.sock"\n', encoding="utf-8")
        for k, v in {"HOME": base / "user", "CUSTODY_HOME": base / "data",
                     "CUSTODY_CONFIG": config, "CUSTODY_TESTING": "1",
                     "CUSTODY_TEST_PEOPLE_DIR": base / "people"}.items():
            mp.setenv(k, str(v))
        mp.delenv("CUSTODY_ACT_AS", raising=False)
        assert CliRunner().invoke(main, ["init"]).exit_code == 0
        files = {"fifo": base / "a-fifo", "dir": base / "a-dir", "missing": base / "none" / "x",
                 "garbage": base / "garbage.bin", "gbk": base / "gbk.csv",
                 "empty": base / "empty.csv", "loop": base / "loop", "device": Path("/dev/zero")}
        os.mkfifo(files["fifo"])
        files["dir"].mkdir()
        files["garbage"].write_bytes(os.urandom(300) + b"\xff\xfe\x00")
        files["gbk"].write_bytes("file,unit\n王五.mp4,市场监管\n".encode("gbk"))
        files["empty"].write_bytes(b"")
        files["loop"].symlink_to(files["loop"])
        yield files
    release_all_for_tests(base)


class Hung(BaseException):
    """A command that did not answer: a BaseException, so no handler can swallow it."""


def _invoke(argv: list[str], seconds: int = 30):
    """One command in this process, failed as hung after ``seconds`` (a blocking open of a
    FIFO is interrupted by the alarm)."""

    def hung(_sig, _frame):
        raise Hung(f"custody {' '.join(argv)!r} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        return CliRunner().invoke(main, argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check(result, argv: list[str]) -> None:
    shown = f"custody {' '.join(argv)!r}:\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\nraised {result.exception!r}")
    assert "Traceback" not in result.output, shown
    assert result.exit_code != UNEXPECTED, shown
    assert result.exit_code in (0, 1, 2, 3), shown


@pytest.mark.parametrize("path, param, n", list(_cases()))
def test_bad_input_is_refused_clearly(home, path, param, n):
    cmd = main
    for name in path:
        cmd = cmd.commands[name]
    bad = next((p for p in _params(cmd) if p.name == param), None)
    value = _bad(bad, home)[n] if bad is not None else None
    argv = list(path) + _argv(cmd, home, bad, value)
    if bad is None and any(p.required for p in _params(cmd)):
        argv = list(path)  # nothing at all: a usage error naming what is missing
    result = _invoke(argv)
    _check(result, argv)
    if bad is not None or any(p.required for p in _params(cmd)):
        # a refusal says why, in a line of its own (click's usage errors included)
        if result.exit_code == 2:
            assert result.output.strip(), argv


def test_an_unexpected_fault_is_not_dressed_as_bad_input(home, monkeypatch):
    """A fault inside custody exits 70, says where the details were logged, and shows no
    traceback; the log holds it."""
    import archive.copies.status as status_mod

    def broken(*_a, **_k):
        raise ZeroDivisionError("a fault of custody's own")

    monkeypatch.setattr(status_mod, "status", broken)
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == UNEXPECTED, result.output
    assert "Traceback" not in result.output and "errors.log" in result.output
    log = Path(os.environ["CUSTODY_HOME"]) / "logs" / "errors.log"
    assert "ZeroDivisionError" in log.read_text(encoding="utf-8")
