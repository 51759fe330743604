"""Shared pytest configuration: the ``cuda`` marker skips cleanly without a GPU; hypothesis profiles; fixtures for
the library tests."""
import os

import pytest
from hypothesis import settings

# The property tests (tests/test_properties.py) draw their inputs with hypothesis. By default the draws are
# repeatable ("repeatable": the same 60 examples per test on every run and machine, no example database), so that
# `make test` and CI are red only when the code changed. "explore" draws fresh examples, more of them, and keeps
# failures in .hypothesis/ for the next run: `pytest tests/test_properties.py --hypothesis-profile explore`.
settings.register_profile("repeatable", max_examples=60, deadline=None, derandomize=True, database=None,
                          print_blob=True)
settings.register_profile("explore", max_examples=600, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def _has_cuda():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    cuda_items = [item for item in items if "cuda" in item.keywords]
    if cuda_items and not _has_cuda():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (none here)")
        for item in cuda_items:
            item.add_marker(skip)


def _devices():
    """CPU, plus CUDA (marked ``cuda``) so that the same tests run on a GPU when there is one."""
    return ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(params=_devices())
def device(request):
    """Every device the library supports: 'cpu', and 'cuda' (skipped without a GPU)."""
    return request.param


@pytest.fixture
def rng():
    """A seeded torch generator: tests are reproducible."""
    import torch

    return torch.Generator().manual_seed(20240601)
