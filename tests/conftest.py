from __future__ import annotations

import os

import pytest

from tests.support.catalogs import CATALOG_FACTORIES
from tests.support.ceph import fixture_ceph_cluster  # noqa: F401  (pytest fixture)
from tests.support.clamd import (  # noqa: F401  (pytest fixtures)
    fixture_clamd_daemon,
    fixture_clamd_scanner,
    fixture_clamd_small_limits,
)
from tests.support.language import chinese  # noqa: F401  (pytest fixture)
from tests.support.stores import STORE_FACTORIES
from tests.support.wire import fixture_wire_server  # noqa: F401  (pytest fixture)

# The suite reads custody in English (the message ids), set here so that subprocesses inherit
# it; the Chinese default is what tests/test_i18n.py and tests/test_chinese_output.py check,
# each asking for it (tests.support.language.chinese).
os.environ["CUSTODY_LANG"] = "en"


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request, tmp_path):
    with STORE_FACTORIES[request.param](tmp_path) as s:
        yield s


@pytest.fixture(params=sorted(CATALOG_FACTORIES))
def catalog(request, tmp_path):
    with CATALOG_FACTORIES[request.param](tmp_path) as c:
        yield c
