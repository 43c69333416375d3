#!/bin/bash
# SPDX-License-Identifier: MIT
# A WRITE pin allocates blocks for holes and hands out the blocks for
# stores: it must need a file opened for writing, as a write() does.  A
# file opened read-only (here by a user who may not write it at all) gets
# READ pins only, and its holes stay holes.  READ and STABLE pins hand out
# the data: they need a file opened for reading.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

M=$T/m
mkpool "$T/p.pool" -s 32M
mount_fs "$T/p.pool" "$M" -o allow_other
for f in f g; do # 8 blocks of data, then 8 of hole
	dd if=/dev/urandom of="$M/$f" bs=4096 count=8 status=none
	truncate -s 64K "$M/$f"
done
cp "$DAXFS_PIN_HELPER" "$T/pin-helper"
chmod 755 "$T/pin-helper"
chmod 644 "$M/g"
check_show "no WRITE pin for a user who may only read the file" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T/pin-helper" rdonly "$M/g"
check_show "no WRITE pin through a file opened read-only (root)" \
	"$DAXFS_PIN_HELPER" rdonly "$M/f"
# The other way round: a user who may write the file (0622) but not read
# it gets no READ or STABLE pin, which would hand out the file's data.
chmod 622 "$M/g"
check_show "no READ or STABLE pin for a user who may only write the file" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T/pin-helper" wronly "$M/g"
check_show "no READ or STABLE pin through a file opened write-only (root)" \
	"$DAXFS_PIN_HELPER" wronly "$M/f"
umount_fs "$M"
finish
