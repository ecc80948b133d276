#!/usr/bin/env bash
# Produces the BTF of Debian 12's 6.1 cloud kernel as a vmlinux ELF file, so tests can check
# the probes against a kernel other than the one running here.
#
# Usage: scripts/debian-kernel-btf.sh [CACHE_DIR]   (default: <repo>/target/kernel-btf)
# Prints exactly one line on stdout: the absolute path of the vmlinux ELF. Progress goes to stderr.
#
# Needs apt-get and dpkg-deb (any Debian-based host), readelf (binutils) and lz4 (Debian package
# `lz4`, installed by scripts/setup.sh): Debian's 6.1 kernels compress their bzImage with lz4.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${1:-$ROOT/target/kernel-btf}"

log() { printf 'debian-kernel-btf: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/debian-packages.sh
. "$ROOT/scripts/debian-packages.sh"

# A cached result is reused as is: the download is ~70 MB, the extraction a few seconds.
find_cached() {
  local f
  [ -d "$CACHE_DIR" ] || return 1
  f="$(find "$CACHE_DIR" -maxdepth 1 -type f -name 'vmlinux-6.1.*-cloud-amd64' | sort -V | tail -n 1)"
  [ -n "$f" ] && printf '%s\n' "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
}

if cached="$(find_cached)"; then
  printf '%s\n' "$cached"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb lz4 readelf; do
  if ! command -v "$tool" >/dev/null; then
    case "$tool" in
      lz4) hint="install the Debian package lz4 (scripts/setup.sh does)" ;;
      readelf) hint="install the Debian package binutils" ;;
      *) hint="this script needs a Debian-based host" ;;
    esac
    die "$tool is missing: $hint"
  fi
done

mkdir -p "$CACHE_DIR"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
# The temporary directory sits in the cache dir so the final mv is an atomic rename.
WORK="$(mktemp -d "$CACHE_DIR/.tmp.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

download_bookworm_kernel "$WORK"
PKG="$BOOKWORM_PKG"
DEB="$BOOKWORM_DEB"
dpkg-deb -x "$DEB" "$WORK/root"
VMLINUZ="$(find "$WORK/root/boot" -maxdepth 1 -type f -name 'vmlinuz-*' | head -n 1)"
[ -n "$VMLINUZ" ] || die "$PKG holds no boot/vmlinuz-*"
RELEASE="${VMLINUZ##*/vmlinuz-}"
case "$RELEASE" in
  6.1.*-cloud-amd64) ;;
  *) die "unexpected kernel release $RELEASE in $PKG" ;;
esac

is_elf() { [ -s "$1" ] && [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]; }

# Like the kernel's scripts/extract-vmlinux: try every offset where a compressor's magic occurs
# (the first hit can be a false positive inside the setup code) until the output is an ELF.
# The decompressor reads past the end of the stream into the rest of the bzImage and complains;
# that is expected, so its exit status is ignored and the ELF check decides.
try_decompress() {
  local magic="$1" out="$2" off
  shift 2
  command -v "$1" >/dev/null || return 1
  for off in $(LC_ALL=C grep -aboP "$magic" "$VMLINUZ" | cut -d : -f 1); do
    tail -c "+$((off + 1))" "$VMLINUZ" | "$@" >"$out" 2>/dev/null || true
    if is_elf "$out"; then return 0; fi
  done
  rm -f "$out"
  return 1
}

OUT_TMP="$WORK/vmlinux"
log "extracting vmlinux from ${VMLINUZ#"$WORK/root/"}"
# lz4 (legacy frame) is what Debian's 6.1 uses; the others are cheap fallbacks.
try_decompress '\x02\x21\x4c\x18' "$OUT_TMP" lz4 -dc ||
  try_decompress '\x28\xb5\x2f\xfd' "$OUT_TMP" zstd -dcq ||
  try_decompress '\xfd\x37\x7a\x58\x5a\x00' "$OUT_TMP" xz -dcq ||
  try_decompress '\x1f\x8b\x08' "$OUT_TMP" gzip -dcq ||
  die "found no lz4/zstd/xz/gzip stream in $VMLINUZ that decompresses to an ELF"

# The tests need BTF; a kernel built without CONFIG_DEBUG_INFO_BTF would be useless to them.
if ! readelf -S -W "$OUT_TMP" 2>/dev/null | grep -q ' \.BTF '; then
  die "the vmlinux extracted from $PKG has no .BTF section"
fi

OUT="$CACHE_DIR/vmlinux-$RELEASE"
mv -f "$OUT_TMP" "$OUT"
log "wrote $OUT ($PKG)"
printf '%s\n' "$OUT"
