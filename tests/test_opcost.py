"""actlab.opcost: interleaved timings and the bytes autograd saves for backward."""
import numpy as np
import pytest
import torch

from actlab import opcost


def test_timing_summary():
    t = opcost.Timing.of([3.0, 1.0, 2.0, 4.0, 5.0])
    assert (t.median, t.q1, t.q3) == (3.0, 2.0, 4.0) and len(t.times) == 5
    assert format(t, ".0f") == "3000 ms [2000, 4000]"


def test_compare_times_runs_every_variant_interleaved():
    calls = []
    variants = {"a": lambda x: calls.append("a") or x * 2, "b": lambda x: calls.append("b") or x + 1}
    out = opcost.compare_times(variants, [torch.ones(4)], repeats=3, warmup=1)
    assert set(out) == {"a", "b"} and all(len(t.times) == 3 for t in out.values())
    assert calls == ["a", "b"] * 4                      # interleaved, warm-up included
    both = opcost.compare_times({"exp": torch.exp}, [torch.ones(4)], backward=True, repeats=2)
    assert both["exp"].median > 0
    with pytest.raises(ValueError):
        opcost.compare_times({}, [torch.ones(1)])
    with pytest.raises(ValueError):
        opcost.compare_times({"a": torch.exp}, [torch.ones(1)], repeats=0)


def test_saved_tensors_counts_new_storage_only():
    n = 1000
    a, b = torch.randn(n), torch.randn(n)
    eager = opcost.saved_tensors(lambda a, b: torch.nn.functional.silu(a) * b, a, b)
    kinds = sorted(k for *_, k in eager.tensors)
    assert kinds == ["input", "input", "new"]           # a (for silu), b and silu(a) (for the product)
    assert eager.new_saved_bytes == 4 * n and eager.output_bytes == 4 * n
    assert eager.held_bytes == 8 * n and eager.held_per_element(n) == 2.0
    exp = opcost.saved_tensors(torch.exp, a)            # exp saves its own output
    assert [k for *_, k in exp.tensors] == ["output"] and exp.new_saved_bytes == 0
    scale = opcost.saved_tensors(lambda x: x * 2.0, a)  # nothing to save
    assert scale.tensors == () and scale.held_bytes == 4 * n


def test_cuda_peak_needs_cuda_tensors():
    with pytest.raises(ValueError, match="CUDA tensors"):
        opcost.cuda_peak_bytes(torch.exp, torch.ones(3))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_peak_counts_the_output_and_saved_tensors():
    n = 1 << 20
    x = torch.randn(n, device="cuda")
    peak = opcost.cuda_peak_bytes(torch.exp, x)
    assert peak >= 4 * n and np.isfinite(peak)
