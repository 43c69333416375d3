#!/bin/bash
# SPDX-License-Identifier: MIT
# The atime family of mount options, with their Linux meaning: relatime (the
# default), strictatime (every access), nodiratime and diratime, noatime,
# lazytime and nolazytime (accepted: every timestamp is persistent anyway);
# an unknown option still stops the daemon with a message naming it.  FUSE
# leaves atime to the daemon, so each case reads through a fresh mount and
# looks at st_atime.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
P=$T/p.pool
mkpool "$P" -s 32M

now=$(date +%s)
FUTURE=$((now + 3600)) # later than mtime and ctime, not a day old: relatime leaves it
PAST=$((now - 3 * 86400)) # a day old: relatime moves it

# prepare: a file whose atime relatime leaves alone, and a file and a
# directory whose atime relatime moves.
prepare() {
	mount_fs "$P" "$M" "$@"
	mkdir -p "$M/d"
	echo data >"$M/f_future"
	echo data >"$M/f_past"
	touch -a -d "@$FUTURE" "$M/f_future"
	touch -a -d "@$PAST" "$M/f_past" "$M/d"
	check_eq "f_future's atime set" "$FUTURE" "$(stat -c %X "$M/f_future")"
	check_eq "d's atime set" "$PAST" "$(stat -c %X "$M/d")"
}

# access: read both files and list the directory.
access() {
	cat "$M/f_future" "$M/f_past" >/dev/null
	ls "$M/d" >/dev/null
}

atime() { stat -c %X "$M/$1"; }

moved() {
	local desc=$1 name=$2 before=$3 after
	after=$(atime "$name")
	[[ "$after" != "$before" ]] || die "$desc: atime of $name stayed $before"
	pass "$desc ($before -> $after)"
}

say "default: relatime"
prepare
access
check_eq "relatime leaves an atime later than mtime and ctime" "$FUTURE" "$(atime f_future)"
moved "relatime moves a day-old atime of a file" f_past "$PAST"
moved "relatime moves a day-old atime of a directory" d "$PAST"
umount_fs "$M"

say "-o strictatime"
prepare -o strictatime
access
moved "strictatime moves the atime on every access" f_future "$FUTURE"
umount_fs "$M"

say "-o relatime after strictatime: the last wins"
prepare -o strictatime,relatime
access
check_eq "relatime wins over an earlier strictatime" "$FUTURE" "$(atime f_future)"
umount_fs "$M"

say "-o strictatime,atime: atime undoes noatime only, as on Linux"
prepare -o strictatime,atime
access
moved "strictatime stays after atime" f_future "$FUTURE"
umount_fs "$M"

say "-o nodiratime"
prepare -o nodiratime
access
check_eq "nodiratime leaves a directory's atime" "$PAST" "$(atime d)"
moved "nodiratime still moves a file's atime" f_past "$PAST"
umount_fs "$M"

say "-o nodiratime,diratime: the last wins"
prepare -o nodiratime,diratime
access
moved "diratime after nodiratime moves a directory's atime" d "$PAST"
umount_fs "$M"

say "-o strictatime,noatime: the last wins"
prepare -o strictatime,noatime
access
check_eq "noatime leaves a file's atime" "$PAST" "$(atime f_past)"
check_eq "noatime leaves a directory's atime" "$PAST" "$(atime d)"
umount_fs "$M"

say "-o lazytime, -o nolazytime"
mount_fs "$P" "$M" -o lazytime
echo lazy >"$M/lazy"
mtime=$(stat -c %Y "$M/lazy")
umount_fs "$M"
mount_fs "$P" "$M" -o nolazytime
check_eq "a file written under lazytime is there after a remount" lazy "$(cat "$M/lazy")"
check_eq "and so is its mtime" "$mtime" "$(stat -c %Y "$M/lazy")"
umount_fs "$M"

say "an unknown option"
mkdir -p "$T/m2"
rc=0
out=$(timeout 30 "$DAXFS" "$P" "$T/m2" -f -o nodiratime,bogus_atime 2>&1) || rc=$?
[[ $rc -ne 0 ]] || die "daxfs accepted -o bogus_atime"
case "$out" in
*nodiratime*) die "the refusal names nodiratime, which daxfs takes: $out" ;;
*bogus_atime*) pass "an unknown option is refused with a message naming it (exit $rc)" ;;
*) die "the refusal of -o bogus_atime does not name it: $out" ;;
esac
check_fails "nothing was mounted" mountpoint -q "$T/m2"
finish
