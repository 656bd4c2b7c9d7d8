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


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module (tests/integration/browser.py)."""
    from tests.integration.browser import launched

    with launched() as b:
        yield b
