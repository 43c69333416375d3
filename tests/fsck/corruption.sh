#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fsck.daxfs against damaged pools.  One pool with content (files, a
# subdirectory with files, a hard link, a symlink) is made through a real
# FUSE mount; then, for each kind of damage the injector knows, a copy of it
# is damaged and:
#   fsck.daxfs -n exits 4 and changes nothing (sha256 before and after);
#   fsck.daxfs -y exits 1, and then -n exits 0;
#   the repaired pool mounts, and what the damage did not touch reads back;
#   the damaged pool (a copy, before repair) mounts or is refused with a
#   one-line message: the daemon never dies of a signal.
# Also: a fresh pool checks clean, a mounted pool is refused (8), bad
# arguments exit 8, -p repairs only what is safe, and a pool left MOUNTED by a
# killed daemon (with an orphan) checks clean and mounts.
#
# Needs DAXFS, MKFS_DAXFS, FSCK_DAXFS and CORRUPT (meson sets them).  Daemons
# are started with -f in the background and only ever stopped by their PID.

set -euo pipefail

for v in DAXFS MKFS_DAXFS FSCK_DAXFS CORRUPT; do
	if [[ -z "${!v:-}" || ! -x "${!v}" ]]; then
		echo "FAIL: $v must name an executable (meson sets it)" >&2
		exit 1
	fi
done
for tool in fusermount3 mountpoint sha256sum timeout setfattr getfattr; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed" >&2; exit 1; }
done
[[ -e /dev/fuse ]] || { echo "FAIL: /dev/fuse does not exist" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/daxfs-fsck.XXXXXX")
CHECKS=0
DPID=""  # the daemon this script started and has not reaped yet
DMNT=""

say() { echo "== $*"; }
pass() { CHECKS=$((CHECKS + 1)); echo "  ok $CHECKS - $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

is_mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

pid_alive() {
	local state
	kill -0 "$1" 2>/dev/null || return 1
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ "$state" != Z ]]
}

wait_pid_exit() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		pid_alive "$1" || return 0
		sleep 0.05
	done
	return 1
}

unmount() {
	local i
	for ((i = 0; i < 20; i++)); do
		is_mounted "$1" || return 0
		fusermount3 -u "$1" 2>/dev/null && return 0
		sleep 0.25
	done
	fusermount3 -u -z "$1" 2>/dev/null || true
	! is_mounted "$1"
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	if [[ -n "$DMNT" ]] && is_mounted "$DMNT"; then
		unmount "$DMNT"
	fi
	if [[ -n "$DPID" ]]; then
		if ! wait_pid_exit "$DPID" 30; then
			echo "# daemon PID $DPID still running, sending SIGKILL" >&2
			kill -KILL "$DPID" 2>/dev/null
		fi
		wait "$DPID" 2>/dev/null
	fi
	rm -rf --one-file-system "$T"
	[[ $rc -ne 0 ]] && echo "FAILED after $CHECKS passing checks" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_daemon POOL MNT: "$DAXFS POOL MNT -f" in the background.  Returns 0
# once MNT is mounted; 1 if the daemon exited first, with its status in
# DSTATUS.  Gives up (dies) after 10 s.
start_daemon() {
	local pool=$1 mnt=$2 i
	mkdir -p "$mnt"
	"$DAXFS" "$pool" "$mnt" -f >"$T/daemon.log" 2>&1 &
	DPID=$!
	DMNT=$mnt
	for ((i = 0; i < 200; i++)); do
		if is_mounted "$mnt" && timeout 5 mountpoint -q "$mnt"; then
			return 0
		fi
		if ! pid_alive "$DPID"; then
			DSTATUS=0
			wait "$DPID" || DSTATUS=$?
			DPID=""
			return 1
		fi
		sleep 0.05
	done
	die "daxfs $pool did not mount within 10 s: $(tail -n 5 "$T/daemon.log")"
}

# stop_daemon: unmount, wait for the daemon to exit; its status in DSTATUS.
stop_daemon() {
	unmount "$DMNT" || die "cannot unmount $DMNT"
	wait_pid_exit "$DPID" 60 || die "daemon PID $DPID did not exit after unmount"
	DSTATUS=0
	wait "$DPID" || DSTATUS=$?
	DPID=""
}

mount_or_die() {
	start_daemon "$1" "$2" || die "daxfs refused $1 (status $DSTATUS): $(cat "$T/daemon.log")"
}

umount_or_die() {
	stop_daemon
	[[ $DSTATUS -eq 0 ]] || die "daemon exited $DSTATUS after unmount: $(tail -n 5 "$T/daemon.log")"
}

# run_fsck EXPECTED DESC ARGS...: fsck.daxfs must exit EXPECTED.
run_fsck() {
	local want=$1 desc=$2 rc=0
	shift 2
	"$FSCK_DAXFS" "$@" >"$T/fsck.out" 2>&1 || rc=$?
	if [[ $rc -ne $want ]]; then
		die "$desc: fsck.daxfs $* exited $rc, expected $want: $(cat "$T/fsck.out")"
	fi
	pass "$desc: fsck.daxfs $* exits $rc"
}

# manifest DIR: "path<TAB>type<TAB>contents" for everything below DIR.
manifest() {
	(
		cd "$1"
		find . -mindepth 1 -print0 | sort -z | while IFS= read -r -d '' p; do
			if [[ -L "$p" ]]; then
				printf '%s\tL\t%s\n' "$p" "$(readlink "$p")"
			elif [[ -d "$p" ]]; then
				printf '%s\tD\t-\n' "$p"
			else
				printf '%s\tF\t%s %s\n' "$p" "$(stat -c %s "$p")" \
					"$(sha256sum <"$p" | cut -c1-64)"
			fi
		done
	)
}

# without PATH...: a manifest on stdin minus those paths and what is below.
without() {
	awk -F '\t' -v list="$*" 'BEGIN { n = split(list, ex, " ") }
		{ for (i = 1; i <= n; i++) if ($1 == ex[i] || index($1, ex[i] "/") == 1) next; print }'
}

sha() { sha256sum <"$1" | cut -c1-64; }

# ------------------------------------------------------------ the base pool

say "a pool with content"
BASE=$T/base.pool
"$MKFS_DAXFS" -s 8M "$BASE" >/dev/null || die "mkfs.daxfs failed"
M=$T/mnt
mount_or_die "$BASE" "$M"
echo alpha >"$M/a.txt"
head -c 20000 /dev/urandom >"$M/b.bin"
mkdir -p "$M/sub/deep"
echo gamma >"$M/sub/c.txt"
ln "$M/a.txt" "$M/sub/hard"
echo delta >"$M/sub/deep/d.txt"
ln -s a.txt "$M/link"
echo victim >"$M/victim.txt"
# A set of extended attributes over two blocks and an index block.
setfattr -n user.tag -v hello "$M/sub/c.txt"
setfattr -n user.big -v "0x$(head -c 6000 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$M/sub/c.txt"
manifest "$M" >"$T/base.manifest"
umount_or_die
SUB_INO=$("$CORRUPT" ino "$BASE" /sub)
VICTIM_INO=$("$CORRUPT" ino "$BASE" /victim.txt)
pass "made $(wc -l <"$T/base.manifest") entries; /sub is inode $SUB_INO, /victim.txt $VICTIM_INO"

say "a fresh pool checks clean and no mode changes it"
before=$(sha "$BASE")
run_fsck 0 "fresh pool" -n "$BASE"
run_fsck 0 "fresh pool" -f -v "$BASE"
run_fsck 0 "fresh pool" -p "$BASE"
run_fsck 0 "fresh pool" -y "$BASE"
[[ "$(sha "$BASE")" == "$before" ]] || die "checking a clean pool changed it"
pass "the clean pool is unchanged"

# ------------------------------------------------------------ damage

# Extra checks of what was moved rather than lost: name, then a command.
check_moved() {
	local kind=$1
	case $kind in
	dirent-name)
		# "victim.txt" with a '/' at byte 5 comes back as "victi..txt".
		[[ "$(cat "$M/victi..txt")" == victim ]] || die "$kind: victi..txt is not the victim"
		pass "$kind: the entry was renamed victi..txt"
		;;
	dirent-ino)
		[[ "$(cat "$M/lost+found/#$VICTIM_INO")" == victim ]] ||
			die "$kind: the victim is not in /lost+found"
		pass "$kind: the victim is /lost+found/#$VICTIM_INO"
		;;
	lost-dir)
		diff <(awk -F '\t' 'index($1, "./sub/") == 1' "$T/base.manifest" |
			sed 's|^\./sub/|./|') \
			<(manifest "$M/lost+found/#$SUB_INO") >"$T/diff" ||
			die "$kind: /lost+found/#$SUB_INO differs from /sub: $(head "$T/diff")"
		pass "$kind: /sub is whole in /lost+found/#$SUB_INO"
		;;
	xattr)
		[[ -z "$(getfattr -d --absolute-names "$M/sub/c.txt")" ]] ||
			die "$kind: c.txt still has extended attributes"
		pass "$kind: the damaged set of c.txt was dropped"
		;;
	block-pointer)
		[[ $(stat -c %s "$M/b.bin") -eq 20000 ]] || die "$kind: b.bin changed size"
		pass "$kind: b.bin kept its size (one block is now a hole)"
		;;
	esac
}

# The damaged copy, before any repair: mounted and read, or refused.
try_damaged() {
	local kind=$1 pool=$2 lines
	cp --sparse=never "$pool" "$T/try.pool"
	if start_daemon "$T/try.pool" "$T/try"; then
		timeout 20 ls -laR "$T/try" >/dev/null 2>&1 || true
		timeout 20 find "$T/try" -type f -exec cat {} + >/dev/null 2>&1 || true
		stop_daemon
		[[ $DSTATUS -lt 128 ]] || die "$kind: the daemon died of signal $((DSTATUS - 128))"
		pass "$kind: the damaged pool mounts and reads, the daemon exits $DSTATUS"
		return
	fi
	if [[ $DSTATUS -ge 128 ]]; then
		die "$kind: the daemon died of signal $((DSTATUS - 128)): $(cat "$T/daemon.log")"
	fi
	lines=$(grep -c . "$T/daemon.log" || true)
	[[ $lines -eq 1 ]] || die "$kind: refused with $lines lines: $(cat "$T/daemon.log")"
	pass "$kind: the damaged pool is refused (status $DSTATUS): $(cat "$T/daemon.log")"
}

# kind | injector arguments | paths the damage may change | known bug
KINDS=(
	"superblock|||"
	"backup-superblock|||"
	"state|||"
	"inode-mode|/victim.txt||"
	"inode-size|/victim.txt||"
	"block-pointer|/b.bin|./b.bin|"
	"double-owner|/victim.txt /sub/c.txt|./victim.txt|"
	"bitmap-free|/b.bin||"
	"bitmap-leak|||"
	"dirent-name|/victim.txt|./victim.txt ./victi..txt|"
	"dirent-ino|/victim.txt|./victim.txt|"
	"nlink|/a.txt||"
	"orphan-loop|/victim.txt /sub/c.txt||"
	"undo-log|||"
	"undo-pending|/victim.txt||"
	"lost-dir|/sub|./sub|"
	"undo-log-wrap|||"
	"xattr|/sub/c.txt||"
)

for spec in "${KINDS[@]}"; do
	IFS='|' read -r kind args changed _ <<<"$spec"
	say "$kind"
	P=$T/$kind.pool
	cp --sparse=never "$BASE" "$P"
	# shellcheck disable=SC2086 # args is a list
	"$CORRUPT" "$kind" "$P" $args >"$T/corrupt.out" || die "corrupt $kind failed"
	before=$(sha "$P")
	run_fsck 4 "$kind" -n "$P"
	[[ "$(sha "$P")" == "$before" ]] || die "$kind: fsck.daxfs -n changed the pool"
	pass "$kind: -n left the pool unchanged"
	cp --sparse=never "$P" "$T/damaged.pool"
	run_fsck 1 "$kind" -y "$P"
	run_fsck 0 "$kind, repaired" -n "$P"
	mount_or_die "$P" "$M"
	# shellcheck disable=SC2086 # changed is a list
	diff <(without <"$T/base.manifest" $changed) \
		<(manifest "$M" | without ./lost+found $changed) >"$T/diff" ||
		die "$kind: the content differs after repair: $(head "$T/diff")"
	pass "$kind: the repaired pool mounts and its content reads back"
	check_moved "$kind"
	umount_or_die
	run_fsck 0 "$kind, repaired and mounted once" -n "$P"
	try_damaged "$kind" "$T/damaged.pool"
done

# ------------------------------------------------------------ -p

say "-p repairs what is safe, and nothing when something is not"
cp --sparse=never "$BASE" "$T/p.pool"
"$CORRUPT" bitmap-leak "$T/p.pool" >/dev/null
"$CORRUPT" nlink "$T/p.pool" /a.txt >/dev/null
run_fsck 1 "bitmap leak and link count" -p "$T/p.pool"
run_fsck 0 "after -p" -n "$T/p.pool"
cp --sparse=never "$BASE" "$T/p.pool"
"$CORRUPT" bitmap-leak "$T/p.pool" >/dev/null
"$CORRUPT" dirent-name "$T/p.pool" /victim.txt >/dev/null
before=$(sha "$T/p.pool")
run_fsck 4 "bitmap leak and a bad name" -p "$T/p.pool"
grep -q "run fsck.daxfs -y" "$T/fsck.out" || die "-p did not say to run -y: $(cat "$T/fsck.out")"
[[ "$(sha "$T/p.pool")" == "$before" ]] || die "-p changed a pool it could not wholly repair"
pass "-p left that pool unchanged and asked for -y"

# ------------------------------------------------------------ operational

say "a mounted pool is refused"
cp --sparse=never "$BASE" "$T/m.pool"
mount_or_die "$T/m.pool" "$M"
run_fsck 8 "mounted pool" -n "$T/m.pool"
grep -q "in use" "$T/fsck.out" || die "no clear message for a mounted pool: $(cat "$T/fsck.out")"
run_fsck 8 "mounted pool" -y "$T/m.pool"
umount_or_die

say "bad arguments"
: >"$T/empty"
head -c 1M /dev/zero >"$T/zeros"
run_fsck 8 "no pool" -n
run_fsck 8 "-n with -y" -n -y "$BASE"
run_fsck 8 "-p with -y" -p -y "$BASE"
run_fsck 8 "unknown option" -Z "$BASE"
run_fsck 8 "two pools" -n "$BASE" "$BASE"
run_fsck 8 "missing pool" -n "$T/nonexistent"
run_fsck 8 "empty file" -n "$T/empty"
run_fsck 8 "not a pool" -n "$T/zeros"
run_fsck 8 "a directory" -n "$T"
run_fsck 0 "help" --help
run_fsck 0 "version" -V

# ------------------------------------------------------------ a crash

say "a pool left MOUNTED by a killed daemon, with an orphan"
cp --sparse=never "$BASE" "$T/k.pool"
mount_or_die "$T/k.pool" "$M"
head -c 50000 /dev/urandom >"$M/big"
echo open >"$M/orphan"
exec 9<"$M/orphan"
rm "$M/orphan"
kill -KILL "$DPID"
wait_pid_exit "$DPID" 10 || die "daemon survived SIGKILL"
wait "$DPID" 2>/dev/null || true
DPID=""
exec 9<&-
unmount "$M" || die "cannot detach the dead mount"
run_fsck 0 "crashed pool with an orphan" -n -v "$T/k.pool"
grep -q "state block: not clean" "$T/fsck.out" && grep -q "orphan list: 1 unlinked" "$T/fsck.out" ||
	die "expected a MOUNTED pool with one orphan: $(cat "$T/fsck.out")"
pass "fsck saw the unclean state and the orphan, and no error"
run_fsck 0 "crashed pool with an orphan" -y "$T/k.pool"
mount_or_die "$T/k.pool" "$M"
[[ $(stat -c %s "$M/big") -eq 50000 ]] || die "big lost its size"
[[ ! -e "$M/orphan" ]] || die "the orphan came back"
pass "the crashed pool mounts, the orphan is gone"
umount_or_die
run_fsck 0 "crashed pool after its recovery" -n "$T/k.pool"

echo "ok: $CHECKS checks"
