#!/usr/bin/env bash
# Everything a session with a GPU (the device tool) should run, in one call:
#   bash bench/gpu_session.sh [quick]
# 1. the CUDA backend's tests on the real GPU (test ids ending in [gpu]);
# 2. the GPU benchmark (W1-W4, ours against PyTorch eager on the same GPU), mini-batch 10
#    and 256, after checking the losses against the reference backend.
# "quick" runs only mini-batch 10 with fewer steps.
# The GPU machines have CuPy, PyTorch and NumPy but maybe not pytest: carry .gpu-deps
# (made here by `pip install --target .gpu-deps pytest`; the device tool's `carry`).
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -c "import pytest" 2>/dev/null || export PYTHONPATH="$PWD/.gpu-deps:$PYTHONPATH"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import cupy; print('CuPy', cupy.__version__)"
python -m pytest -q -m gpu -x tests/test_cuda_backend.py 2>&1 | tail -30
if [ "${1:-}" = quick ]; then
  python bench/cuda_network3.py --check --steps 200 --repeats 3
else
  python bench/cuda_network3.py --check --batch-sizes 10,256 --steps 300 --repeats 5
fi
