#!/usr/bin/env bash
# run.sh: build nnmpi with warnings as errors, fetch MNIST, and run every test
# (unit and MPI) with ctest; exits with ctest's status.
#
# Usage: mpi-tests/run.sh [CTEST_ARG...]   e.g. mpi-tests/run.sh -R mpi -V
# Env:
#   NNMPI_BUILD_DIR   build directory (default <repo>/build)
#   NNMPI_DATA        MNIST directory (default <repo>/data/mnist); given to
#                     the tests as -DNNMPI_TEST_DATA_DIR and env NNMPI_TEST_DATA
#   NNMPI_FASHION_DATA  Fashion-MNIST directory (default <repo>/data/fashion-mnist),
#                     fetched by data/fetch-fashion-mnist.sh; -DNNMPI_TEST_FASHION_DIR
# An empty test list is an error (--no-tests=error).
# Open MPI is told to allow root (only when root), to oversubscribe (the
# tests use up to 4 ranks on any machine), and not to use CMA single-copy
# transfers (containers often forbid the ptrace they need).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/.." && pwd -P)
build=$(realpath -m -- "${NNMPI_BUILD_DIR:-$root/build}")
data=$(realpath -m -- "${NNMPI_DATA:-$root/data/mnist}")
fashion=$(realpath -m -- "${NNMPI_FASHION_DATA:-$root/data/fashion-mnist}")

# numpy and h5py let numpy_test read a checkpoint independently of nnmpi;
# PyTorch lets python_test check python/nnmpi_checkpoint.py's to_torch; lmod
# lets install_module load nnmpi's modulefile; gnuplot draws the plot that the
# Slurm test's scaling study must produce. On a
# cluster without apt they may come from a module, else those checks skip or fail.
NNMPI_EXTRA_PKGS="${NNMPI_EXTRA_PKGS:-} python3-numpy python3-h5py python3-torch gnuplot-nox lmod" \
  NNMPI_BUILD_DIR=$build bash "$root/jobs/build.sh" -DNNMPI_WERROR=ON -DNNMPI_TEST_DATA_DIR="$data" \
    -DNNMPI_TEST_FASHION_DIR="$fashion"
bash "$root/data/fetch-mnist.sh" "$data"
bash "$root/data/fetch-fashion-mnist.sh" "$fashion" || echo "run.sh: no Fashion-MNIST in $fashion; fashion_test will skip"

if ((EUID == 0)); then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export NNMPI_DATA=$data NNMPI_TEST_DATA=$data

exec ctest --test-dir "$build" --output-on-failure --no-tests=error "$@"
