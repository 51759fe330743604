"""actlab.timing: interleaved medians and ratio tables."""
import time

import pytest
import torch

from actlab import timing


def test_compare_orders_a_slow_and_a_fast_function():
    t = timing.compare({"fast": lambda: None, "slow": lambda: time.sleep(0.002)}, repeats=5, warmup=1)
    assert set(t) == {"fast", "slow"} and t["slow"].median > t["fast"].median
    assert t["slow"].q1 <= t["slow"].median <= t["slow"].q3 and t["slow"].repeats == 5
    rows = timing.ratio_table(t, "slow")
    assert rows[1][0] == "slow" and rows[1][2] == "1.00×" and rows[0][1].endswith("µs")


def test_compare_restores_threads_and_checks_repeats():
    n = torch.get_num_threads()
    timing.compare({"x": lambda: torch.get_num_threads()}, repeats=1, warmup=0, threads=1)
    assert torch.get_num_threads() == n
    with pytest.raises(ValueError):
        timing.compare({"x": lambda: None}, repeats=0)


def test_cpu_model_reads_cpuinfo_and_falls_back(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\n"
                    "model name\t: AMD EPYC 7B13\n")
    assert timing.cpu_model(str(info)) == "AMD EPYC 7B13"
    info.write_text("processor\t: 0\nmodel name\t:\n")      # no name: the fallback, never an empty string
    fallback = timing.cpu_model(str(tmp_path / "missing"))
    assert fallback and timing.cpu_model(str(info)) == fallback
