"""End-to-end tests of the cvpbench program: run the built binary as a user would."""

import os

import pytest

from e2e_support import binary_path, noaffinity_binary_path


@pytest.fixture(scope="session")
def cvpbench():
    path = binary_path()
    if not path.exists():
        if os.environ.get("CVPBENCH_BIN"):
            pytest.fail(f"CVPBENCH_BIN={path} does not exist")
        pytest.skip("cvpbench is not built (cmake --preset release && cmake --build --preset release)")
    return path


@pytest.fixture(scope="session")
def cvpbench_noaffinity():
    path = noaffinity_binary_path()
    if path is None:
        pytest.skip("the noaffinity build is absent (cmake --preset noaffinity && "
                    "cmake --build --preset noaffinity --target cvpbench)")
    if not path.exists():
        pytest.fail(f"CVPBENCH_NOAFFINITY_BIN={path} does not exist")
    return path


@pytest.fixture(scope="session", autouse=True)
def limits_cache(tmp_path_factory):
    """Every run of the tests keeps the machine's limits in a cache of the tests' own, measured
    once for the session, never in the user's home."""
    folder = tmp_path_factory.mktemp("limits-cache")
    old = os.environ.get("CVPBENCH_CACHE_DIR")
    os.environ["CVPBENCH_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("CVPBENCH_CACHE_DIR", None)
    else:
        os.environ["CVPBENCH_CACHE_DIR"] = old
