"""The command line as a test drives it: CliRunner with the exit code checked, JSON output,
and fresh data homes (one per test; the people's keys held in one folder where asked)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main
from tests.support.worm import release_all_for_tests


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("CUSTODY_CONFIG", raising=False)
    yield tmp_path
    release_all_for_tests(tmp_path)


def held_keys_home(tmp_path, monkeypatch) -> None:
    """A fresh, initialised data home whose people's keys the test holds in one folder
    (CUSTODY_TESTING): each person still acts with their own key (CUSTODY_ACT_AS)."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CUSTODY_TESTING", "1")
    monkeypatch.setenv("CUSTODY_TEST_PEOPLE_DIR", str(tmp_path / "people"))
    monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    monkeypatch.delenv("CUSTODY_CONFIG", raising=False)
    run("init")


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def run_json(*args: str, code: int = 0):
    return json.loads(run(*args, "--json", code=code).stdout)
