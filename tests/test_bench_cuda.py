"""bench/cuda_network3.py runs (on the CuPy emulator here), so a GPU session spends its
minutes measuring, not debugging the script."""
import os
import sys

import pytest

import cuda_emulator

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


@pytest.mark.skipif(cuda_emulator.GXX is None, reason="the CUDA emulator needs g++")
def test_cuda_benchmark_runs_on_the_emulator(monkeypatch, capsys):
    sys.path.insert(0, BENCH)
    try:
        import cuda_network3
    finally:
        sys.path.remove(BENCH)
    with cuda_emulator.installed() as emu:
        monkeypatch.setitem(sys.modules, "cupy", emu)
        cuda_network3.main(cuda_network3.parse_args(
            ["--workloads", "W1", "--steps", "3", "--repeats", "1", "--check",
             "--systems", "ours,ours-nograph"]))
    out = capsys.readouterr().out
    assert "check W1: losses" in out
    row = next(line for line in out.splitlines() if line.startswith("W1"))
    assert "[]" in row, row                   # the graphs had no failures
