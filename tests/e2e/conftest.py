"""End-to-end tests of the cvpbench program: run the built binary as a user would."""

import os

import pytest

from e2e_support import binary_path


@pytest.fixture(scope="session")
def cvpbench():
    path = binary_path()
    if not path.exists():
        if os.environ.get("CVPBENCH_BIN"):
            pytest.fail(f"CVPBENCH_BIN={path} does not exist")
        pytest.skip("cvpbench is not built (cmake --preset release && cmake --build --preset release)")
    return path
