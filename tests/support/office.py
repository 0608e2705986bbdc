"""An office at the command line: a data home and seven people (archivists, an officer,
approvers, auditors), each acting with their own key (the test-only key folder)."""

from __future__ import annotations

import pytest

from tests.support.cli import held_keys_home, run

PEOPLE = [("AR1", "archivist"), ("AR2", "archivist"), ("OF1", "officer"), ("AP1", "approver"),
          ("AP2", "approver"), ("AU1", "auditor"), ("AU2", "auditor")]


@pytest.fixture
def office(tmp_path, monkeypatch):
    held_keys_home(tmp_path, monkeypatch)
    for pid, role in PEOPLE:
        run("people", "add", pid, "--name", f"人员{pid}", "--account", pid.lower(),
            "--role", role)
    yield monkeypatch
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)
