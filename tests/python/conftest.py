"""pytest setup for the cvp tests: scripts/ and tools/ on sys.path, and fixtures. Helpers that tests
import live in cvp_testing.py."""

import copy
import sys

import pytest

from cvp_testing import GOLDEN, SCRIPTS, TOOLS, load_golden

for _folder in (TOOLS, SCRIPTS):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


@pytest.fixture
def golden():
    return GOLDEN


@pytest.fixture
def runner_summary():
    return copy.deepcopy(load_golden("runner"))
