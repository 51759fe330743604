"""Shared pytest configuration: the ``cuda`` marker skips cleanly without a GPU; fixtures for the library tests."""
import pytest


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
