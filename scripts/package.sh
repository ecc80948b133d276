#!/usr/bin/env bash
# Builds the Debian package from a built binary, the way `./x package` does:
#   scripts/package.sh BINARY OUTDIR
# The files of `./x install --prefix /usr`, man pages compressed, the licences and changelog
# in /usr/share/doc/blkscope, and a control file with the dependencies the binary needs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINARY="${1:?usage: package.sh BINARY OUTDIR}"
OUTDIR="${2:?usage: package.sh BINARY OUTDIR}"
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
ARCH="$(dpkg --print-architecture)"

stage="$OUTDIR/blkscope_${VERSION}_${ARCH}"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
bash "$ROOT/scripts/install.sh" "$BINARY" /usr "$stage"
gzip -9n "$stage"/usr/share/man/man8/*.8

doc="$stage/usr/share/doc/blkscope"
mkdir -p "$doc"
cp "$ROOT/LICENSE-MIT" "$ROOT/LICENSE-APACHE" "$doc/"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: blkscope"
  echo
  echo "Files: *"
  echo "Copyright: the blkscope authors"
  echo "License: MIT or Apache-2.0"
  echo " The full texts are in /usr/share/doc/blkscope/LICENSE-MIT and LICENSE-APACHE."
} > "$doc/copyright"
gzip -9n -c "$ROOT/CHANGELOG.md" > "$doc/changelog.gz"

installed_kib="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: blkscope
Version: ${VERSION}
Architecture: ${ARCH}
Maintainer: blkscope developers <blkscope@localhost>
Installed-Size: ${installed_kib}
Depends: libc6 (>= 2.36), libgcc-s1
Recommends: blktrace, sysstat
Section: admin
Priority: optional
Homepage: https://github.com/blkscope/blkscope
Description: block I/O tracing and statistics from eBPF tracepoints
 iostat, blktrace/blkparse/btt, biosnoop, biotop, biolatency, bitesize,
 biopattern, biostacks, ext4slower and ext4dist views with the stock tools' flags and output, per container, live
 and over recordings; a Prometheus exporter; HTML reports and Perfetto
 timelines. Needs Linux 5.8 or later with BTF, and root (CAP_BPF and
 CAP_PERFMON) for the live views.
CONTROL
dpkg-deb --build --root-owner-group "$stage" "$OUTDIR/blkscope_${VERSION}_${ARCH}.deb" >&2
echo "$OUTDIR/blkscope_${VERSION}_${ARCH}.deb"
