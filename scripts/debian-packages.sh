# Shared by scripts/debian-kernel-btf.sh and scripts/kernel-vm.sh (sourced, not run): finding
# Debian 12's 6.1 cloud kernel package through apt. The caller defines log and die.

APT_UPDATED=0
# Runs apt-get update once per script run (false when it ran already): the package lists may be
# missing on a fresh machine, or stale.
apt_update_once() {
  [ "$APT_UPDATED" -eq 0 ] || return 1
  APT_UPDATED=1
  [ "$(id -u)" -eq 0 ] || die "the apt package lists are missing or stale and apt-get update needs root"
  log "running apt-get update"
  apt-get update -qq >&2
}

# The metapackage names the current ABI (linux-image-6.1.0-NN-cloud-amd64); if it is unknown or
# points elsewhere (e.g. a backports kernel), take the newest 6.1 cloud image apt knows about.
# Signed and -unsigned packages both ship /boot/vmlinuz-*, so either will do.
pick_bookworm_kernel() {
  local pkg
  pkg="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9][0-9.-]*-cloud-amd64\(-unsigned\)\?\)$/\1/p' |
    head -n 1)"
  if [ -z "$pkg" ]; then
    pkg="$(apt-cache search --names-only '^linux-image-6\.1\.[0-9.]+-[0-9]+-cloud-amd64(-unsigned)?$' 2>/dev/null |
      cut -d ' ' -f 1 | sort -V | tail -n 1)"
  fi
  [ -n "$pkg" ] && printf '%s\n' "$pkg"
}

# Downloads Debian 12's 6.1 cloud kernel package into DIR; sets BOOKWORM_PKG (its name) and
# BOOKWORM_DEB (the .deb's path). apt-get download writes into the current directory; a failure
# usually means the lists are missing or name a version the mirror no longer has, so refresh
# them once and pick again.
download_bookworm_kernel() {
  local dir="$1"
  BOOKWORM_PKG="$(pick_bookworm_kernel)" || { apt_update_once || true; BOOKWORM_PKG="$(pick_bookworm_kernel)"; } ||
    die "apt knows no linux-image-6.1.*-cloud-amd64 package (is this Debian 12 with bookworm sources?)"
  if ! download_into "$dir" "$BOOKWORM_PKG"; then
    apt_update_once || die "apt-get download $BOOKWORM_PKG failed"
    BOOKWORM_PKG="$(pick_bookworm_kernel)" || die "no linux-image-6.1.*-cloud-amd64 package after apt-get update"
    download_into "$dir" "$BOOKWORM_PKG" || die "apt-get download $BOOKWORM_PKG failed even after apt-get update"
  fi
  BOOKWORM_DEB="$(find "$dir" -maxdepth 1 -name '*.deb' | head -n 1)"
  [ -n "$BOOKWORM_DEB" ] || die "apt-get download $BOOKWORM_PKG produced no .deb"
}

download_into() {
  log "downloading $2"
  # As root, apt drops to the _apt user, which cannot write a 0700 temp dir; download as root.
  (cd "$1" && apt-get download -q -o APT::Sandbox::User=root "$2" >&2)
}
