"""pytest setup for the cvp tests: scripts/ on sys.path, and fixtures. Helpers that tests
import live in cvp_testing.py."""

import copy
import sys

import pytest

from cvp_testing import GOLDEN, SCRIPTS, load_golden

if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


@pytest.fixture
def golden():
    return GOLDEN


@pytest.fixture
def runner_summary():
    return copy.deepcopy(load_golden("runner"))
