#!/usr/bin/env bash
# Installs every prerequisite of blkscope on a fresh Debian 12 machine of this kind,
# idempotently: when everything is present it only checks and returns in a second or two.
#
# Why a shell script and not only `cargo xtask setup`: RUSTUP_AUTO_INSTALL=0 means that cargo
# refuses to run in this workspace until the pinned toolchains exist, so they must be installed
# before the first cargo command. Everything else is here too, so one file says what a machine needs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STABLE="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/rust-toolchain.toml")"
NIGHTLY="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/probes/ebpf/rust-toolchain.toml")"
LLVM_MAJOR=22
BPF_LINKER_VERSION=0.13

# Debian packages: LLVM for bpf-linker, and the reference tools the tests compare against.
APT_PACKAGES=(
  "llvm-${LLVM_MAJOR}-dev" "libpolly-${LLVM_MAJOR}-dev" libzstd-dev zlib1g-dev
  sysstat blktrace fio bpftrace bpftool libbpf-tools
  e2fsprogs xfsprogs btrfs-progs util-linux tmux procps
  prometheus curl openssl
  lz4 binutils
  qemu-system-x86 busybox-static cpio xz-utils
  docker.io
  chromium
  man-db
)

# `--build-only` (the Dockerfile's build stage): only what building blkscope needs.
if [ "${1:-}" = "--build-only" ]; then
  APT_PACKAGES=("llvm-${LLVM_MAJOR}-dev" "libpolly-${LLVM_MAJOR}-dev" libzstd-dev zlib1g-dev)
fi

log() { printf 'setup: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "installing packages needs root; run as root (sudo $0)"
    exit 1
  fi
}

install_debian_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then return; fi
  need_root
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_toolchains() {
  if ! command -v rustup >/dev/null; then
    log "rustup is missing: this machine kind ships it; install rustup first"
    exit 1
  fi
  local installed
  installed="$(rustup toolchain list)"
  if ! grep -q "^${STABLE}-" <<<"$installed"; then
    log "installing Rust ${STABLE}"
    rustup toolchain install "$STABLE" --profile minimal --component clippy,rustfmt
  fi
  if ! grep -q "^${NIGHTLY}-" <<<"$installed"; then
    log "installing Rust ${NIGHTLY} (probes)"
    rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src
  elif ! rustup component list --toolchain "$NIGHTLY" --installed | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain "$NIGHTLY"
  fi
}

install_bpf_linker() {
  if command -v bpf-linker >/dev/null && bpf-linker --version 2>/dev/null | grep -q " ${BPF_LINKER_VERSION}\."; then
    return
  fi
  log "building bpf-linker ${BPF_LINKER_VERSION} against LLVM ${LLVM_MAJOR}"
  LLVM_PREFIX="/usr/lib/llvm-${LLVM_MAJOR}" \
    rustup run "$STABLE" cargo install --locked bpf-linker --version "~${BPF_LINKER_VERSION}" \
    --no-default-features --features "llvm-${LLVM_MAJOR}"
}

install_debian_packages
install_toolchains
install_bpf_linker
log "all prerequisites present"
