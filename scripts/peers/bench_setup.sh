# Sourced by the side-by-side benchmark scripts (bench_*_vs_pytorch.sh), from the
# repository root: the OpenBLAS core, PyTorch in scratch/torchenv, a release build.
#
# Debian's OpenBLAS 0.3.21 runs generic Prescott kernels on CPUs newer than it knows; the
# reference must use the kernels this CPU can run (see `unmask bench gemm`).
# SkylakeX for AVX-512 was checked on the Intel Xeon family 6 model 207 only; on AMD EPYC
# (Zen 4) it has not been checked: read the core line `unmask bench gemm` prints.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -q avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
# PyTorch from PyPI (several GB with its CUDA dependencies), once.
if [ ! -x scratch/torchenv/bin/python ]; then
  python3 -m venv scratch/torchenv
  scratch/torchenv/bin/pip install --quiet torch numpy
fi
swift build -c release --product unmask >/dev/null
