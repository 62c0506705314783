#!/usr/bin/env bash
# build.sh: configure and build nnmpi (Release) with CMake; safe to re-run.
#
# Runs jobs/setup-deps.sh first (installs missing tools), then
#   cmake -S <repo> -B <build> -DCMAKE_BUILD_TYPE=Release [ARG...]
#   cmake --build <build> -j<nproc>
# Usage: jobs/build.sh [CMAKE_ARG...]      e.g. jobs/build.sh -DNNMPI_WERROR=ON
# Env:
#   NNMPI_BUILD_DIR    build directory (default <repo>/build; a relative path
#                      is taken from the current directory)
#   NNMPI_BUILD_TYPE   CMAKE_BUILD_TYPE (default Release)
#   NNMPI_SKIP_DEPS=1  skip the dependency check (see jobs/setup-deps.sh)
# Options given once stay in the build directory's CMake cache until changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/.." && pwd -P)
build=$(realpath -m -- "${NNMPI_BUILD_DIR:-$root/build}")
jobs=$(nproc 2>/dev/null || echo 2)

if [[ ! -f $root/CMakeLists.txt ]]; then
  printf 'build: error: %s/CMakeLists.txt not found\n' "$root" >&2
  exit 1
fi

bash "$here/setup-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${NNMPI_BUILD_TYPE:-Release}" "$@"
cmake --build "$build" -j "$jobs"
