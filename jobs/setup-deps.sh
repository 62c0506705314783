#!/usr/bin/env bash
# setup-deps.sh: make sure the tools that build and test nnmpi are present.
#
# Checks for a C compiler and make, pkg-config, MPI (mpicc, mpiexec),
# cmake >= 3.20, OpenBLAS, the HDF5 C library and tools (h5dump, h5diff),
# cmocka and sha256sum. Installs only what is missing, with apt-get (through
# sudo when not root). When everything is already there (Debian packages, or
# `module load ...` on a cluster) it installs nothing and says so.
#
# Usage: jobs/setup-deps.sh [--check] [DEBIAN_PACKAGE...]
#   --check            only report; exit 1 if anything is missing
#   DEBIAN_PACKAGE     extra packages, installed only if `dpkg` lacks them
# Env:
#   NNMPI_EXTRA_PKGS   more extra packages, space-separated
#                      (e.g. NNMPI_EXTRA_PKGS="python3-numpy python3-h5py")
#   NNMPI_SKIP_DEPS=1  check nothing, install nothing (you manage the tools)
# Exit: 0 all present (or installed); 1 something missing and not installable.
#
# Meant to be executed. It may also be sourced (`. jobs/setup-deps.sh`): the
# work then runs in a subshell and returns its status instead of exiting the
# caller, and only NNMPI_EXTRA_PKGS is read (not the caller's arguments);
# note that sourcing also turns on `set -euo pipefail` in the caller.
set -euo pipefail

nnmpi_setup_deps() (
  set -euo pipefail
  log() { printf 'setup-deps: %s\n' "$*"; }
  err() { printf 'setup-deps: error: %s\n' "$*" >&2; }
  have() { command -v "$1" >/dev/null 2>&1; }
  pc_has() { have pkg-config && pkg-config --exists "$1" 2>/dev/null; }

  # version_ge A B: true when version A >= version B.
  version_ge() {
    local lowest
    lowest=$(printf '%s\n%s\n' "$1" "$2" | sort -V)
    [[ ${lowest%%$'\n'*} == "$2" ]]
  }

  cmake_found=""
  cmake_ok() {
    local out
    have cmake || return 1
    out=$(cmake --version 2>/dev/null) || return 1
    out=${out%%$'\n'*}            # "cmake version 3.25.1"
    cmake_found=${out##* }
    version_ge "$cmake_found" 3.20
  }

  # OpenBLAS: a pkg-config module, or the libopenblas.so development link in
  # a module's library path or the linker cache.
  openblas_ok() {
    local d ldconfig cache
    if pc_has openblas || pc_has libopenblas; then return 0; fi
    IFS=: read -ra dirs <<<"${LIBRARY_PATH:-}:${LD_LIBRARY_PATH:-}"
    for d in "${dirs[@]}"; do
      [[ -n $d && -e $d/libopenblas.so ]] && return 0
    done
    ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
    [[ -x $ldconfig ]] || return 1
    cache=$("$ldconfig" -p 2>/dev/null) || return 1
    [[ $cache == *"libopenblas.so "* ]]
  }

  # HDF5 C development files: a compiler wrapper, a pkg-config module, or
  # the header (Debian's serial flavour, the plain layout, or a module root).
  hdf5_ok() {
    local root=${HDF5_ROOT:-${HDF5_DIR:-}}
    if have h5cc || have h5pcc || pc_has hdf5 || pc_has hdf5-serial; then return 0; fi
    [[ -f /usr/include/hdf5/serial/hdf5.h || -f /usr/include/hdf5.h ]] && return 0
    [[ -n $root && -f $root/include/hdf5.h ]]
  }

  # deb_installed PKG: true when dpkg has PKG fully installed.
  deb_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ $status == "install ok installed" ]]
  }

  # Fill missing_what (one line per requirement) and missing_pkgs (the
  # Debian packages that provide them).
  check_all() {
    missing_what=()
    missing_pkgs=()
    need() { missing_what+=("$1"); shift; missing_pkgs+=("$@"); }
    have gcc || have cc || need "C compiler (gcc or cc)" gcc
    have make || need "make" make
    have pkg-config || need "pkg-config" pkg-config
    { have mpicc && have mpiexec; } ||
      need "MPI compiler wrapper and launcher (mpicc, mpiexec)" libopenmpi-dev openmpi-bin
    cmake_ok || need "cmake >= 3.20 (found: ${cmake_found:-none})" cmake
    openblas_ok || need "OpenBLAS (pkg-config openblas, or libopenblas.so)" libopenblas-dev
    hdf5_ok || need "HDF5 C development files (h5cc, pkg-config hdf5, or hdf5.h)" libhdf5-dev
    pc_has cmocka || need "cmocka (pkg-config cmocka)" libcmocka-dev
    { have h5dump && have h5diff; } || need "HDF5 tools (h5dump, h5diff)" hdf5-tools
    have sha256sum || need "sha256sum" coreutils
    local p
    for p in "${extra[@]}"; do
      deb_installed "$p" || need "Debian package $p (requested extra)" "$p"
    done
  }

  report_missing() {
    local w
    err "missing:"
    for w in "${missing_what[@]}"; do printf '  - %s\n' "$w" >&2; done
    printf 'Install them as root with:\n  apt-get update && apt-get install -y --no-install-recommends %s\n' \
      "${missing_pkgs[*]}" >&2
    printf 'or, on a cluster, load the site modules (e.g. module load openmpi cmake hdf5 openblas) and re-run.\n' >&2
  }

  check_only=0
  extra=()
  local a
  for a in "$@"; do
    case $a in
      --check) check_only=1 ;;
      -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; return 0 ;;
      -*) err "unknown option: $a (try --help)"; return 2 ;;
      *) extra+=("$a") ;;
    esac
  done
  read -ra env_extra <<<"${NNMPI_EXTRA_PKGS:-}"
  extra+=("${env_extra[@]}")

  if [[ ${NNMPI_SKIP_DEPS:-0} == 1 ]]; then
    log "NNMPI_SKIP_DEPS=1: not checking or installing anything"
    return 0
  fi

  check_all
  if ((${#missing_what[@]} == 0)); then
    log "all build and test tools present (cmake $cmake_found); nothing to install"
    return 0
  fi
  if ((check_only)); then
    report_missing
    return 1
  fi

  # De-duplicate the package list, keeping its order.
  local -A seen=()
  local -a pkgs=()
  local p
  for p in "${missing_pkgs[@]}"; do
    [[ -n ${seen[$p]:-} ]] || pkgs+=("$p")
    seen[$p]=1
  done

  local -a sudo=()
  if ((EUID != 0)); then
    if ! have sudo; then
      err "not root and sudo is not available, so nothing can be installed"
      report_missing
      return 1
    fi
    # Without a terminal sudo must not wait for a password.
    if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  if ! have apt-get; then
    err "apt-get not found (not a Debian-like system)"
    report_missing
    return 1
  fi

  log "installing: ${pkgs[*]}"
  if ! "${sudo[@]}" apt-get update -qq ||
    ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${pkgs[@]}"; then
    err "apt-get failed"
    report_missing
    return 1
  fi

  check_all
  if ((${#missing_what[@]} != 0)); then
    err "still missing after apt-get install"
    report_missing
    return 1
  fi
  log "installed ${pkgs[*]}; all build and test tools present (cmake $cmake_found)"
)

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  nnmpi_setup_deps "$@"
else
  nnmpi_setup_deps
fi
