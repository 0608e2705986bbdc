"""What a test does when the real server it needs is not on this machine.

On a developer's machine a missing server skips the test with the reason. Under CI (the
environment variable CI=true, as .ci/run and most CI services set it) a skip would hide that the
suite never met the server, so the test fails instead.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_server(reason: str) -> NoReturn:
    """Skip the calling test (or fixture) for want of its server; fail it under CI=true."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a test that needs a real server may not be skipped)",
                    pytrace=False)
    pytest.skip(reason)
