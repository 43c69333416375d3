#!/usr/bin/env bash
# Installs what daxfs needs, builds and installs it, creates a default
# emulated-DAX pool if there is none, turns FUSE over io_uring on (the
# faster transport, off by default in the kernel), and mounts it.
#
#   POOL   pool file        (default /var/lib/daxfs/pool.daxfs)
#   SIZE   size of a new one (default 1G)
#   MNT    mount point      (default /mnt/daxfs)
set -euo pipefail

cd "$(dirname "$0")/.."
POOL=${POOL:-/var/lib/daxfs/pool.daxfs}
SIZE=${SIZE:-1G}
MNT=${MNT:-/mnt/daxfs}

tools/install-deps.sh
[[ -d build ]] || meson setup build --prefix=/usr/local
meson compile -C build
meson install -C build --quiet

if [[ ! -e "$POOL" ]]; then
	mkdir -p "$(dirname "$POOL")"
	mkfs.daxfs -s "$SIZE" -L daxfs "$POOL"
fi
# Only mounts made while it is on use io_uring; it lasts until reboot.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
if [[ -w $URING_PARAM ]]; then
	echo Y >"$URING_PARAM"
	echo "daxfs: turned FUSE over io_uring on ($URING_PARAM = Y); daxfs uses it unless mounted with -o transport=dev"
else
	echo "daxfs: this kernel has no FUSE over io_uring ($URING_PARAM): daxfs uses /dev/fuse"
fi
mkdir -p "$MNT"
if mountpoint -q "$MNT"; then
	echo "$MNT is already mounted"
else
	mount -t fuse.daxfs "$POOL" "$MNT"
fi
echo "daxfs: $POOL is mounted on $MNT; unmount it with: umount $MNT (or fusermount3 -u $MNT)"
