#!/usr/bin/env bash
# Boots one of Debian's cloud kernels under qemu and runs a shell script inside it, with the
# blkscope binary under test, so the probes can be checked on kernels other than the host's.
#
# Usage: scripts/kernel-vm.sh KERNEL BLKSCOPE_BINARY GUEST_SCRIPT [CACHE_DIR]
#   KERNEL           5.10 (Debian 11's newest linux-image-5.10.*-cloud-amd64, from the pool)
#                    or 6.1 (Debian 12's linux-image-6.1.*-cloud-amd64, via apt-get download)
#   BLKSCOPE_BINARY  the host-built blkscope; it lands in the guest as /usr/local/bin/blkscope
#                    (on PATH, also named by $BLKSCOPE) with its shared libraries and loader
#   GUEST_SCRIPT     run by busybox sh as root in the guest, stdin /dev/null, cwd /
#   CACHE_DIR        downloaded packages and extracted kernels (default <repo>/target/kernel-vm)
#
# The guest has: proc, sysfs, devtmpfs, tmpfs on /tmp, cgroup2 on /sys/fs/cgroup, debugfs on
# /sys/kernel/debug, tracefs on /sys/kernel/tracing; the modules virtio_pci, virtio_blk and loop
# (and their dependencies) loaded; a 64 MiB blank virtio disk as /dev/vda; busybox's applets.
# Its environment names the kernel in $KERNEL_VM_KERNEL and the binary in $BLKSCOPE.
#
# The guest script's stdout and stderr (merged, in order, through the guest's second serial port,
# ttyS1) go to this script's stdout; the kernel's console (ttyS0: boot messages, oopses, the
# init's own errors) goes to CACHE_DIR/console-KERNEL.log only (the last run's). Progress and
# diagnostics go to stderr. This script exits with the guest script's exit code; when the VM
# itself fails (download, boot, crash, timeout) it says why on stderr, shows the end of the
# console log and exits 125.
#
# Environment (all optional):
#   KERNEL_VM_TIMEOUT   seconds before the VM is killed (default 180)
#   KERNEL_VM_MODULES   more modules to load in the guest, by name (e.g. "null_blk scsi_debug")
#   KERNEL_VM_BINS      more host executables to copy in, with their libraries, at the same paths
#   KERNEL_VM_TTY=1     give the guest script the serial port itself as stdout and stderr (by
#                       default they are a pipe, as under a test harness: no colours, no TUI)
#   KERNEL_VM_ACCEL     kvm, tcg or auto (default): auto takes KVM when /dev/kvm opens and the
#                       CPU has VMX/SVM, else TCG with a warning
#   KERNEL_VM_APPEND    more kernel command line (e.g. "loglevel=8")
#
# Needs: qemu-system-x86_64 (Debian package qemu-system-x86), a static /bin/busybox
# (busybox-static), cpio, curl, dpkg-deb (dpkg), xz (xz-utils), gzip, timeout and sha256sum
# (coreutils), ldd (libc-bin); apt-get/apt-cache for 6.1. scripts/setup.sh installs them.
# KVM is used when /dev/kvm is usable and the CPU has VMX/SVM; otherwise qemu falls back to TCG
# (slower, still about 5 s to boot here).
set -euo pipefail
shopt -s lastpipe inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'kernel-vm: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 125
}
# shellcheck source=scripts/debian-packages.sh
. "$ROOT/scripts/debian-packages.sh"
usage() {
  sed -n '/^# Usage:/,/^#   CACHE_DIR/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 125
}

if [ "$#" -lt 3 ] || [ "$#" -gt 4 ]; then usage; fi
KERNEL="$1"
BINARY="$2"
GUEST_SCRIPT="$3"
CACHE_DIR="${4:-$ROOT/target/kernel-vm}"
TIMEOUT="${KERNEL_VM_TIMEOUT:-180}"
EXTRA_MODULES="${KERNEL_VM_MODULES:-}"
EXTRA_BINS="${KERNEL_VM_BINS:-}"

case "$KERNEL" in
  5.10 | 6.1) ;;
  *) die "unknown kernel '$KERNEL': use 5.10 or 6.1" ;;
esac
if [ ! -f "$BINARY" ] || [ ! -x "$BINARY" ]; then die "$BINARY is not an executable file"; fi
if [ ! -f "$GUEST_SCRIPT" ] || [ ! -r "$GUEST_SCRIPT" ]; then die "$GUEST_SCRIPT is not a readable file"; fi
case "$TIMEOUT" in
  '' | *[!0-9]*) die "KERNEL_VM_TIMEOUT must be a number of seconds" ;;
esac

# --- tools -------------------------------------------------------------------------------------

need_tool() {
  command -v "$1" >/dev/null || die "$1 is missing: install the Debian package $2 (scripts/setup.sh does)"
}
need_tool qemu-system-x86_64 qemu-system-x86
need_tool cpio cpio
need_tool dpkg-deb dpkg
need_tool xz xz-utils
need_tool gzip gzip
need_tool timeout coreutils
need_tool sha256sum coreutils
need_tool ldd libc-bin
if [ "$KERNEL" = 5.10 ]; then need_tool curl curl; fi
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing: install the Debian package busybox-static (scripts/setup.sh does)"
# The guest has no libc of its own, so busybox must be the static build.
if [[ "$(LC_ALL=C ldd "$BUSYBOX" 2>&1 || true)" != *'not a dynamic executable'* ]]; then
  die "$BUSYBOX is dynamically linked: install the Debian package busybox-static (scripts/setup.sh does)"
fi

mkdir -p "$CACHE_DIR"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
WORK="$(mktemp -d "$CACHE_DIR/.tmp.XXXXXX")"
# The console log lives in WORK while qemu writes it (parallel runs must not share it) and is
# kept as CACHE_DIR/console-KERNEL.log afterwards.
CONSOLE_LOG="$WORK/console.log"
KEPT_LOG="$CACHE_DIR/console-$KERNEL.log"
trap 'if [ -f "$CONSOLE_LOG" ]; then cp -f "$CONSOLE_LOG" "$KEPT_LOG" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT

# --- the kernel: download once, keep vmlinuz, config and modules under CACHE_DIR ---------------

# A kernel extracted before is reused as is (no network): linux-<release>/ with a .complete mark.
find_cached_kernel() {
  local d
  d="$(find "$CACHE_DIR" -mindepth 1 -maxdepth 1 -type d -name "linux-$KERNEL.*-cloud-amd64" \
    -exec test -e '{}/.complete' ';' -print | sort -V | tail -n 1)"
  [ -n "$d" ] && printf '%s\n' "$d"
}

# Unpacks a linux-image .deb into CACHE_DIR/linux-<release>/ and prints that directory.
extract_kernel() {
  local deb="$1" x vmlinuz release dest
  x="$WORK/deb-root"
  rm -rf "$x"
  dpkg-deb -x "$deb" "$x"
  vmlinuz="$(find "$x/boot" -maxdepth 1 -type f -name 'vmlinuz-*' | head -n 1)"
  [ -n "$vmlinuz" ] || die "$deb holds no boot/vmlinuz-*"
  release="${vmlinuz##*/vmlinuz-}"
  case "$release" in
    "$KERNEL".*-cloud-amd64) ;;
    *) die "unexpected kernel release $release in $deb" ;;
  esac
  [ -d "$x/lib/modules/$release/kernel" ] || die "$deb holds no lib/modules/$release"
  dest="$CACHE_DIR/linux-$release"
  rm -rf "$WORK/kernel"
  mkdir -p "$WORK/kernel"
  mv "$vmlinuz" "$WORK/kernel/vmlinuz"
  if [ -f "$x/boot/config-$release" ]; then mv "$x/boot/config-$release" "$WORK/kernel/config"; fi
  mv "$x/lib/modules/$release" "$WORK/kernel/modules"
  printf '%s\n' "$release" >"$WORK/kernel/release"
  touch "$WORK/kernel/.complete"
  rm -rf "$x" "$dest"
  mv "$WORK/kernel" "$dest"
  printf '%s\n' "$dest"
}

# Debian 11: the Packages index names the newest 5.10 cloud image; bullseye is frozen, so the
# index is cached and fetched again only when the .deb it names is gone from the mirror.
MIRROR=http://deb.debian.org/debian
fetch_bullseye_index() {
  log "downloading bullseye's Packages index"
  curl -fsSL --retry 3 -o "$WORK/Packages.xz" "$MIRROR/dists/bullseye/main/binary-amd64/Packages.xz" ||
    die "could not download $MIRROR/dists/bullseye/main/binary-amd64/Packages.xz"
  mv -f "$WORK/Packages.xz" "$CACHE_DIR/bullseye-Packages.xz"
}

# Prints "version package filename sha256" of the newest linux-image-5.10.*-cloud-amd64; the
# signed image wins over -unsigned of the same version (both hold the same vmlinuz and modules).
pick_bullseye_package() {
  xz -dc "$CACHE_DIR/bullseye-Packages.xz" | awk '
    /^Package: / { p = $2; v = f = s = "" }
    /^Version: / { v = $2 }
    /^Filename: / { f = $2 }
    /^SHA256: / { s = $2 }
    /^$/ { if (p ~ /^linux-image-5\.10\.[0-9]+-[0-9]+-cloud-amd64(-unsigned)?$/ && f != "") print v, p, f, s; p = "" }
    END { if (p ~ /^linux-image-5\.10\.[0-9]+-[0-9]+-cloud-amd64(-unsigned)?$/ && f != "") print v, p, f, s }' |
    sort -t ' ' -k1,1V -k2,2r | tail -n 1
}
get_kernel_510() {
  local line version pkg file sha deb
  mkdir -p "$CACHE_DIR/debs"
  [ -s "$CACHE_DIR/bullseye-Packages.xz" ] || fetch_bullseye_index
  for attempt in 1 2; do
    line="$(pick_bullseye_package)"
    [ -n "$line" ] || die "bullseye's Packages index names no linux-image-5.10.*-cloud-amd64"
    read -r version pkg file sha <<<"$line"
    deb="$CACHE_DIR/debs/${file##*/}"
    if [ -s "$deb" ] && printf '%s  %s\n' "$sha" "$deb" | sha256sum -c --quiet - >/dev/null 2>&1; then
      break
    fi
    log "downloading $pkg $version"
    if curl -fsSL --retry 3 -o "$WORK/kernel.deb" "$MIRROR/$file"; then
      printf '%s  %s\n' "$sha" "$WORK/kernel.deb" | sha256sum -c --quiet - >/dev/null 2>&1 ||
        die "$MIRROR/$file does not match the SHA256 of the Packages index"
      mv -f "$WORK/kernel.deb" "$deb"
      break
    fi
    [ "$attempt" -eq 1 ] || die "could not download $MIRROR/$file"
    fetch_bullseye_index # the cached index may name a file the mirror no longer has
  done
  log "extracting $pkg $version"
  extract_kernel "$deb"
}

# Debian 12: through apt (scripts/debian-packages.sh).
get_kernel_61() {
  local pkg deb
  need_tool apt-get apt
  need_tool apt-cache apt
  mkdir -p "$WORK/apt"
  download_bookworm_kernel "$WORK/apt"
  pkg="$BOOKWORM_PKG"
  deb="$BOOKWORM_DEB"
  mkdir -p "$CACHE_DIR/debs"
  mv -f "$deb" "$CACHE_DIR/debs/"
  log "extracting $pkg"
  extract_kernel "$CACHE_DIR/debs/${deb##*/}"
}

if ! KDIR="$(find_cached_kernel)"; then
  case "$KERNEL" in
    5.10) KDIR="$(get_kernel_510)" ;;
    6.1) KDIR="$(get_kernel_61)" ;;
  esac
fi
RELEASE="$(cat "$KDIR/release")"

# --- the initramfs -----------------------------------------------------------------------------

log "building the initramfs for $RELEASE"
IRD="$WORK/initramfs"
mkdir -p "$IRD"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,dev,proc,sys,tmp,run,root,etc,mnt}
mkdir -p "$IRD/lib/modules/$RELEASE"

cp "$BUSYBOX" "$IRD/bin/busybox"
"$BUSYBOX" --list-full | while IFS= read -r applet; do
  [ -e "$IRD/$applet" ] || [ -L "$IRD/$applet" ] || ln -s /bin/busybox "$IRD/$applet"
done
# The kernel opens /dev/console for init before devtmpfs is mounted; without root the node
# cannot be made, and the init script opens the console again once devtmpfs is there.
mknod -m 600 "$IRD/dev/console" c 5 1 2>/dev/null || true

# Copies an executable and every library ldd lists (and the loader) at their host paths.
copy_with_libs() {
  local src="$1" dest="$2" lib
  cp -L "$src" "$IRD/$dest"
  chmod 755 "$IRD/$dest"
  LC_ALL=C ldd "$src" 2>/dev/null | grep -o '/[^ ]*' | sort -u | while IFS= read -r lib; do
    [ -e "$IRD/$lib" ] && continue
    mkdir -p "$IRD/$(dirname "$lib")"
    cp -L "$lib" "$IRD/$lib"
  done
}
copy_with_libs "$BINARY" /usr/local/bin/blkscope
for bin in $EXTRA_BINS; do
  path="$(command -v "$bin")" || die "KERNEL_VM_BINS names $bin, which is not on this host"
  [ -e "$IRD/$path" ] && continue
  mkdir -p "$IRD/$(dirname "$path")"
  copy_with_libs "$path" "$path"
done
cp "$GUEST_SCRIPT" "$IRD/guest.sh"

# Modules: Debian's packages ship no modules.dep (depmod makes it on install), so the
# dependencies come from each module's own modinfo "depends=" field. Compressed modules are
# unpacked here, since busybox's insmod may not read them. Built-in ones are skipped.
MODDIR="$KDIR/modules"
declare -A MOD_DONE=()
LOAD_ORDER=()
is_builtin() {
  [ -f "$MODDIR/modules.builtin" ] &&
    sed 's,.*/,,; s,\.ko.*,,; s,-,_,g' "$MODDIR/modules.builtin" | grep -qx "$1"
}
find_module() {
  local pattern="${1//_/[_-]}"
  find "$MODDIR/kernel" -type f \( -name "$pattern.ko" -o -name "$pattern.ko.*" \) | head -n 1
}
module_text() { # the decompressed module on stdout
  case "$1" in
    *.ko) cat "$1" ;;
    *.ko.xz) xz -dc "$1" ;;
    *.ko.gz) gzip -dc "$1" ;;
    *.ko.zst) command -v zstd >/dev/null || die "$1 is zstd-compressed: install the Debian package zstd"
      zstd -dcq "$1" ;;
    *) die "unknown module format: $1" ;;
  esac
}
add_module() {
  local name="${1//-/_}" file dest deps dep
  [ -z "${MOD_DONE[$name]:-}" ] || return 0
  MOD_DONE[$name]=1
  if is_builtin "$name"; then return 0; fi
  file="$(find_module "$name")"
  [ -n "$file" ] || die "kernel $RELEASE has no module $name"
  dest="/lib/modules/$RELEASE/$name.ko"
  module_text "$file" >"$IRD/$dest"
  deps="$(tr '\0' '\n' <"$IRD/$dest" | sed -n 's/^depends=//p' | head -n 1)"
  for dep in ${deps//,/ }; do add_module "$dep"; done
  LOAD_ORDER+=("$dest")
}
for m in virtio_pci virtio_blk loop $EXTRA_MODULES; do add_module "$m"; done
printf '%s\n' "${LOAD_ORDER[@]}" >"$IRD/etc/kernel-vm-modules"

# Markers with a random part, so the guest script's output cannot fake them.
NONCE="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
BEGIN_MARK="KERNEL_VM_BEGIN_$NONCE"
EXIT_MARK="KERNEL_VM_EXIT_$NONCE="
cat >"$IRD/etc/kernel-vm.env" <<EOF
BEGIN_MARK='$BEGIN_MARK'
EXIT_MARK='$EXIT_MARK'
export KERNEL_VM_KERNEL='$RELEASE'
export BLKSCOPE=/usr/local/bin/blkscope
KERNEL_VM_TTY='${KERNEL_VM_TTY:-0}'
EOF

cat >"$IRD/init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1
. /etc/kernel-vm.env

fail() {
  echo "kernel-vm init: error: $*"
  # Let the serial port drain before the power goes.
  sleep 1
  poweroff -f
}
mount -t proc proc /proc || fail "mounting proc"
mount -t sysfs sysfs /sys || fail "mounting sysfs"
mount -t tmpfs tmpfs /tmp || fail "mounting tmpfs on /tmp"
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "mounting cgroup2"
mount -t debugfs debugfs /sys/kernel/debug || fail "mounting debugfs"
mount -t tracefs tracefs /sys/kernel/tracing || fail "mounting tracefs"
while read -r m; do
  insmod "$m" || fail "insmod $m"
done </etc/kernel-vm-modules
i=0
while [ ! -b /dev/vda ]; do
  [ "$i" -lt 100 ] || fail "/dev/vda did not appear"
  i=$((i + 1))
  sleep 0.05
done

# The guest script's channel: the second serial port, raw (no echo, no \n -> \r\n).
OUT=/dev/ttyS1
[ -c "$OUT" ] || fail "$OUT is missing"
exec 3>"$OUT" || fail "opening $OUT"
stty -F "$OUT" raw -echo || fail "stty $OUT"
echo "$BEGIN_MARK" >&3
cd /
if [ "$KERNEL_VM_TTY" = 1 ]; then
  sh /guest.sh >&3 2>&1 3>&-
  rc=$?
else
  # Through a pipe, as under a test harness: programs see no terminal (no colours, no TUI).
  { sh /guest.sh 3>&-; echo "$?" >/run/kernel-vm-rc; } 2>&1 | cat >&3
  rc="$(cat /run/kernel-vm-rc 2>/dev/null || echo 255)"
fi
# The newline ends a last line that lacks one; the host drops it when it is empty.
printf '\n%s%d\n' "$EXIT_MARK" "$rc" >&3
# tcsetattr(TCSADRAIN): wait until the serial port has sent everything.
stty -F "$OUT" raw 2>/dev/null
poweroff -f
EOF
chmod 755 "$IRD/init"

(cd "$IRD" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$WORK/initramfs.gz"

# --- the VM ------------------------------------------------------------------------------------

truncate -s 64M "$WORK/disk.img"

# KVM proper needs VMX or SVM. A /dev/kvm without them (e.g. PVM, as in some nested sandboxes:
# /sys/module/kvm_pvm) cannot run these stock kernels: they stop in "KVM internal error ...
# emulation failure" on cmpxchg16b or xrstor, and boot at a crawl until then. So such a host gets
# TCG too; KERNEL_VM_ACCEL=kvm or =tcg overrides the choice.
TCG=(-accel "tcg,thread=multi" -cpu max)
KVM=(-enable-kvm -cpu host)
case "${KERNEL_VM_ACCEL:-auto}" in
  kvm) ACCEL=("${KVM[@]}") ;;
  tcg) ACCEL=("${TCG[@]}") ;;
  auto)
    if ! { [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; }; then
      log "warning: /dev/kvm is missing or not usable: falling back to TCG emulation (slower)"
      ACCEL=("${TCG[@]}")
    elif ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
      log "warning: /dev/kvm is not backed by VMX/SVM (modules: $(cd /sys/module && echo kvm*)), which cannot run these kernels: falling back to TCG emulation (slower)"
      ACCEL=("${TCG[@]}")
    else
      ACCEL=("${KVM[@]}")
    fi
    ;;
  *) die "KERNEL_VM_ACCEL must be kvm, tcg or auto" ;;
esac

: >"$CONSOLE_LOG"
QEMU_ARGS=(
  "${ACCEL[@]}" -m 1024 -smp 2
  -nodefaults -no-user-config -display none -monitor none -no-reboot
  -serial "file:$CONSOLE_LOG"
  -chardev "stdio,id=out,signal=off" -serial chardev:out
  -kernel "$KDIR/vmlinuz" -initrd "$WORK/initramfs.gz"
  # The console log gets the whole boot. panic=-1 with -no-reboot makes a panicking guest end
  # qemu at once instead of waiting for the timeout; oops=panic makes an oops a panic.
  -append "console=ttyS0 panic=-1 oops=panic ${KERNEL_VM_APPEND:-}"
  -drive "file=$WORK/disk.img,if=virtio,format=raw"
  -pidfile "$WORK/qemu.pid"
)

# qemu's stderr goes on to ours; a KVM failure leaves qemu paused until the timeout, so it is
# stopped at once instead.
watch_stderr() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s\n' "$line" >&2
    if [[ "$line" == *"KVM internal error"* ]] && [ ! -e "$WORK/kvm-failed" ]; then
      : >"$WORK/kvm-failed"
      kill "$(cat "$WORK/qemu.pid" 2>/dev/null)" 2>/dev/null || true
    fi
  done
}


log "booting $RELEASE (timeout ${TIMEOUT}s)"
START=$SECONDS
STATE=booting
GUEST_RC=
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 "${QEMU_ARGS[@]}" </dev/null 2> >(watch_stderr) |
  {
    # Prints the lines between the markers. Each line is held back one step: the last one,
    # just before the exit marker, is the init's extra newline when it is empty.
    held=
    have_held=0
    while IFS= read -r line || [ -n "$line" ]; do
      case "$STATE" in
        booting)
          if [[ "$line" == *"$BEGIN_MARK"* ]]; then
            STATE=running
            log "guest script started after $((SECONDS - START))s"
          fi
          ;;
        running)
          if [[ "$line" == "$EXIT_MARK"* ]]; then
            if [ "$have_held" -eq 1 ] && [ -n "$held" ]; then printf '%s\n' "$held"; fi
            GUEST_RC="${line#"$EXIT_MARK"}"
            STATE=finished
          else
            if [ "$have_held" -eq 1 ]; then printf '%s\n' "$held"; fi
            held="$line"
            have_held=1
          fi
          ;;
      esac
    done
    # A guest that died mid-script: show all it printed.
    if [ "$STATE" = running ] && [ "$have_held" -eq 1 ]; then printf '%s\n' "$held"; fi
  }
QEMU_RC="${PIPESTATUS[0]}"
set -e

show_log_tail() {
  log "last lines of the console (all of it: $KEPT_LOG):"
  tail -n 40 "$CONSOLE_LOG" | sed 's/^/  | /' >&2
}
if [ -e "$WORK/kvm-failed" ] && [ "$STATE" != finished ]; then
  show_log_tail
  die "KVM could not run the guest (see qemu's message above); KERNEL_VM_ACCEL=tcg avoids KVM"
fi
if [ "$STATE" != finished ]; then
  case "$QEMU_RC" in
    124 | 137) why="timed out after ${TIMEOUT}s" ;;
    0) why="powered off" ;;
    *) why="exited with status $QEMU_RC" ;;
  esac
  if [ "$STATE" = booting ]; then
    show_log_tail
    die "the VM $why before the guest script started (boot or init failure)"
  fi
  show_log_tail
  die "the VM $why before the guest script finished (guest crash or hang?)"
fi
case "$GUEST_RC" in
  '' | *[!0-9]*) die "garbled exit marker from the guest: '$GUEST_RC'" ;;
esac
if [ "$QEMU_RC" -ne 0 ]; then
  log "warning: qemu exited with status $QEMU_RC after the guest script finished"
fi
log "guest script exited with $GUEST_RC; VM ran $((SECONDS - START))s in all"
exit "$GUEST_RC"
