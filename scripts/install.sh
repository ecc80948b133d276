#!/usr/bin/env bash
# Installs a built blkscope below a prefix, the way `./x install` and `./x package` do:
#   scripts/install.sh BINARY PREFIX [DESTDIR]
# PREFIX/bin/blkscope; the drop-in names (iostat, blkparse, btt, blktrace, biosnoop, biotop,
# biolatency, bitesize, biopattern, biostacks, ext4slower, ext4dist: the binary lists them) as links in
# PREFIX/lib/blkscope/bin, apart from the
# system's own tools unless that directory is put first in PATH; man pages (section 8) and
# bash, zsh and fish completions made by the binary itself; the exporter's systemd unit naming
# PREFIX/bin/blkscope. With DESTDIR the files go below DESTDIR/PREFIX (a package's staging
# root) while naming PREFIX.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINARY="${1:?usage: install.sh BINARY PREFIX [DESTDIR]}"
PREFIX="${2:?usage: install.sh BINARY PREFIX [DESTDIR]}"
DESTDIR="${3:-}"

top="${DESTDIR}${PREFIX}"
install -D -m 0755 "$BINARY" "$top/bin/blkscope"
mkdir -p "$top/lib/blkscope/bin"
for name in $("$top/bin/blkscope" install-files --list-drop-ins); do
  ln -sfn ../../../bin/blkscope "$top/lib/blkscope/bin/$name"
done

made="$(mktemp -d)"
trap 'rm -rf "$made"' EXIT
"$top/bin/blkscope" install-files --man "$top/share/man/man8" --completions "$made"
install -D -m 0644 "$made/bash/blkscope.bash" "$top/share/bash-completion/completions/blkscope"
install -D -m 0644 "$made/zsh/_blkscope" "$top/share/zsh/vendor-completions/_blkscope"
install -D -m 0644 "$made/fish/blkscope.fish" "$top/share/fish/vendor_completions.d/blkscope.fish"

sed "s|/usr/local/bin/blkscope|${PREFIX}/bin/blkscope|g" \
  "$ROOT/docs/exporter/blkscope-exporter.service" > "$made/blkscope-exporter.service"
install -D -m 0644 "$made/blkscope-exporter.service" "$top/lib/systemd/system/blkscope-exporter.service"

echo "installed blkscope in ${top}: drop-in names in ${PREFIX}/lib/blkscope/bin (put it first in PATH to use them)" >&2
