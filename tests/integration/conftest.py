import pytest

from tests.integration.harness import Stack


@pytest.fixture
def stack(tmp_path):
    """A fresh broker (and the processes a test starts) with the example config and test tokens."""
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.close()
