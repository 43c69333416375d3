#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh [--rounds N] [--quick] [--wait-idle MIN] [--no-record] [--only FS,...]
#              [--disk-only | --no-disk]
#
# Measures, in one run on one machine and side by side:
#   daxfs    on an emulated-DAX pool in /dev/shm, PMEM_IS_PMEM_FORCE=1,
#            -o transport=dev (/dev/fuse)
#   daxfs_uring  the same on FUSE over io_uring (-o transport=uring; the run
#            turns enable_uring on and puts it back)
#   fuse2fs  an ext4 image in /dev/shm mounted with fuse2fs (libfuse2)
#   ceiling  bench/ceiling: a FUSE server that stores nothing (zeros on read,
#            writes discarded), daxfs's FUSE settings: no FUSE filesystem can
#            beat it
#   tmpfs    the kernel's, no FUSE: for reference
# with fio (sequential 1 MiB, random 4 KiB, buffered and O_DIRECT, 1 and 2
# jobs; the *-pin rows run one job pinned to CPU 0 with taskset, as the
# *-pin metabench rows do its one thread) and bench/metabench (create, stat, readdir, unlink, write+truncate,
# 4 KiB file create+write+fsync).  Rounds interleave the filesystems (each
# workload runs on every filesystem before the next workload), the table
# gives medians over the rounds and the spread of each cell, and the run is
# appended to bench/RESULTS.md.  Each measurement also records how much CPU
# other processes took meanwhile, and before each workload the script waits
# (--wait-idle) for the machine to be quiet.  See bench/README.md for what
# each row means.
#
# Then, in the same run, the disk configuration (bench/disk.sh): daxfs on a
# pool file on the disk that holds /var/lib (msync persistence, as
# tools/quickstart.sh makes it), fuse2fs on an ext4 image there and the host
# filesystem, with durable workloads (bench/disk_workloads.py).
# --disk-only runs only that, --no-disk skips it.
#
# Environment: BUILD_DIR (default /tmp/daxfs-bench-build; configured as a
# release build if missing, then compiled), RESULTS (default
# bench/RESULTS.md), SHM (default /dev/shm: where pools and images live).
#
# Needs root for apt-get and the tmpfs mount (without root: packages must be
# installed, fuse2fs runs with -o fakeroot and tmpfs is a directory in
# /dev/shm).  libfuse's passthrough example is not measured: Debian ships it
# only as source (libfuse3-dev's examples), no binary.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-/tmp/daxfs-bench-build}
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
SHM=${SHM:-/dev/shm}

ROUNDS=3
WAIT_IDLE=5
QUICK=0
RECORD=1
ONLY=""
ALL_FS="daxfs daxfs_uring fuse2fs ceiling tmpfs"

usage() {
	echo "usage: $0 [--rounds N] [--quick] [--wait-idle MIN] [--no-record] [--only FS,...]" >&2
	echo "  --rounds N    rounds to take medians over (default 3)" >&2
	echo "  --wait-idle MIN  before each workload, wait up to MIN minutes (default 5, 0: never;" >&2
	echo "                --quick: 0)" >&2
	echo "                until other processes use less than 10% of the CPUs" >&2
	echo "  --quick       1 round, small files, 1 s runs: a smoke test" >&2
	echo "  --no-record   do not append the run to bench/RESULTS.md" >&2
	echo "  --only LIST   a subset of: ${ALL_FS// /,}" >&2
	echo "  --disk-only   only the disk configuration (bench/disk.sh)" >&2
	echo "  --no-disk     without the disk configuration" >&2
	exit 2
}

ROUNDS_SET=0
WAIT_SET=0
DISK_ONLY=0
NO_DISK=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--rounds)
		[[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
		ROUNDS=$2
		ROUNDS_SET=1
		shift 2
		;;
	--rounds=*)
		ROUNDS=${1#--rounds=}
		[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || usage
		ROUNDS_SET=1
		shift
		;;
	--quick) QUICK=1; shift ;;
	--wait-idle)
		[[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || usage
		WAIT_IDLE=$2
		WAIT_SET=1
		shift 2
		;;
	--no-record) RECORD=0; shift ;;
	--disk-only) DISK_ONLY=1; shift ;;
	--no-disk) NO_DISK=1; shift ;;
	--only)
		[[ $# -ge 2 ]] || usage
		ONLY=$2
		shift 2
		;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done

if [[ $QUICK -eq 1 ]]; then
	[[ $ROUNDS_SET -eq 1 ]] || ROUNDS=1
	[[ $WAIT_SET -eq 1 ]] || WAIT_IDLE=0
	SEQ_MB=128 RAND_MB=32 RUNTIME=1 META_N=2000 META_T=0.5
else
	SEQ_MB=1024 RAND_MB=256 RUNTIME=10 META_N=20000 META_T=3
fi

FSLIST=$ALL_FS
if [[ -n "$ONLY" ]]; then
	FSLIST=""
	for fs in ${ONLY//,/ }; do
		[[ " $ALL_FS " == *" $fs "* ]] || { echo "run.sh: unknown filesystem '$fs'" >&2; usage; }
		FSLIST="$FSLIST $fs"
	done
	FSLIST=${FSLIST# }
fi
has_fs() { [[ " $FSLIST " == *" $1 "* ]]; }
[[ $DISK_ONLY -eq 0 || $NO_DISK -eq 0 ]] || usage
[[ $DISK_ONLY -eq 0 ]] || FSLIST=""

say() { echo "== $*" >&2; }
# note: something a filesystem did wrong that did not stop the run; printed
# now and under the table.
NOTES=""
note() {
	echo "== NOTE: $*" >&2
	[[ -z "$NOTES" ]] || printf '%s\n' "$*" >>"$NOTES"
}
die() {
	echo "run.sh: FAIL: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- packages

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

install_packages() {
	local need=() cmd pkg
	for cmd in fio:fio fuse2fs:fuse2fs mkfs.ext4:e2fsprogs fusermount3:fuse3 \
		meson:meson ninja:ninja-build cc:gcc pkg-config:pkg-config; do
		command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd#*:}")
	done
	for pkg in libfuse3-dev libpmem-dev liburcu-dev; do
		dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
	done
	[[ -x /usr/bin/python3 ]] || command -v python3 >/dev/null 2>&1 || need+=(python3)
	[[ ${#need[@]} -eq 0 ]] && return 0
	[[ $IS_ROOT -eq 1 ]] || die "missing packages (${need[*]}) and not root: apt-get install ${need[*]}"
	say "installing ${need[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2; then
		say "apt-get install failed: apt-get update, then again"
		apt-get update -q >&2 || die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2 ||
			die "apt-get install ${need[*]} failed"
	fi
}

install_packages
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=$(command -v python3); fi
[[ -e /dev/fuse ]] || die "/dev/fuse does not exist: no FUSE on this machine"

# ---------------------------------------------------------------- build

build() {
	if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
		say "configuring $BUILD_DIR (release)"
		meson setup "$BUILD_DIR" "$REPO" -Dbuildtype=release >&2 || die "meson setup failed"
	fi
	local bt
	bt=$(meson introspect --buildoptions "$BUILD_DIR" 2>/dev/null |
		"$PY" -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"][0])' ||
		echo unknown)
	[[ "$bt" == release ]] || say "WARNING: $BUILD_DIR is a '$bt' build, not release"
	BUILDTYPE=$bt
	meson compile -C "$BUILD_DIR" fs/daxfs mkfs/mkfs.daxfs bench/ceiling bench/metabench >&2 ||
		die "meson compile -C $BUILD_DIR failed"
	DAXFS=$BUILD_DIR/fs/daxfs
	MKFS=$BUILD_DIR/mkfs/mkfs.daxfs
	CEILING=$BUILD_DIR/bench/ceiling
	METABENCH=$BUILD_DIR/bench/metabench
	local b
	for b in "$DAXFS" "$MKFS" "$CEILING" "$METABENCH"; do
		[[ -x "$b" ]] || die "$b was not built"
	done
}
build
# shellcheck source=bench/disk.sh
source "$REPO/bench/disk.sh"

# ---------------------------------------------------------------- cleanup

T=""
SHMDIR=""
declare -A MNT=()     # fs -> mount point
declare -A PID=()     # fs -> daemon PID (started with -f by us)
declare -A LOG=()     # fs -> daemon log
TMPFS_MOUNTED=0

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

fuse_unmount() {
	local mnt=$1 i
	for ((i = 0; i < 40; i++)); do
		is_mounted "$mnt" || return 0
		fusermount3 -u "$mnt" 2>/dev/null && return 0
		sleep 0.25
	done
	is_mounted "$mnt" || return 0
	echo "run.sh: fusermount3 -u $mnt keeps failing, detaching lazily" >&2
	fusermount3 -u -z "$mnt" 2>/dev/null || true
}

cleanup() {
	local rc=$? fs pid
	set +e
	trap - EXIT INT TERM
	for fs in "${!PID[@]}"; do
		pid=${PID[$fs]}
		fuse_unmount "${MNT[$fs]}"
		if ! wait_pid_exit "$pid" 60; then
			echo "run.sh: $fs daemon (PID $pid) still running after unmount, SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null
			wait_pid_exit "$pid" 5
		fi
		wait "$pid" 2>/dev/null
		if [[ $rc -ne 0 && -s "${LOG[$fs]}" ]]; then
			echo "# $fs daemon log (last lines):" >&2
			tail -n 10 "${LOG[$fs]}" | sed 's/^/#   /' >&2
		fi
	done
	if [[ $TMPFS_MOUNTED -eq 1 ]]; then
		umount "${MNT[tmpfs]}" || umount -l "${MNT[tmpfs]}"
	fi
	uring_restore
	[[ -n "$SHMDIR" ]] && rm -rf --one-file-system "$SHMDIR"
	[[ -n "$DISK_DIR" ]] && rm -rf --one-file-system "$DISK_DIR"
	if [[ -n "$T" ]]; then
		# Nothing of ours may still be mounted below T before it goes.
		local m
		awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo |
			while read -r m; do
				echo "run.sh: $m still mounted, detaching" >&2
				fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
			done
		rm -rf --one-file-system "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T=$(mktemp -d "${TMPDIR:-/tmp}/daxfs-bench.XXXXXX")
SHMDIR=$(mktemp -d "$SHM/daxfs-bench.XXXXXX")
NOTES=$T/notes
: >"$NOTES"

# ---------------------------------------------------------------- sizes

# Files: 2 sequential files, 2 random ones, the metadata benchmark's and a
# margin for the filesystems' own metadata.
FS_MB=$((2 * SEQ_MB + 2 * RAND_MB + (QUICK ? 256 : 1024)))
avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
# pool + ext4 image + tmpfs contents + page cache of the FUSE files
need_mb=$((4 * FS_MB + 2 * (2 * SEQ_MB + 2 * RAND_MB)))
[[ $avail_mb -ge $need_mb ]] ||
	die "needs about $need_mb MiB of available memory, $avail_mb MiB available"
shm_mb=$(df -Pm "$SHM" | awk 'NR == 2 { print $4 }')
[[ $shm_mb -ge $((3 * FS_MB + 64)) ]] ||
	die "$SHM has $shm_mb MiB free, needs $((3 * FS_MB + 64)) MiB (2 pools + ext4 image)"

# ---------------------------------------------------------------- mounts

# wait_mount FS TYPE: the daemon must stay alive until the mount point shows
# up in mountinfo with the expected type, then a file must be creatable.
wait_mount() {
	local fs=$1 type=$2 mnt=${MNT[$1]} pid=${PID[$1]:-} i got
	for ((i = 0; i < 400; i++)); do
		if is_mounted "$mnt"; then
			break
		fi
		if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
			wait "$pid" 2>/dev/null && rc=0 || rc=$?
			unset "PID[$fs]"
			die "$fs did not mount on $mnt: its daemon exited with status $rc: $(tail -n 5 "${LOG[$fs]}" 2>/dev/null)"
		fi
		sleep 0.05
	done
	is_mounted "$mnt" || die "$fs did not mount on $mnt within 20 s: $(tail -n 5 "${LOG[$fs]}" 2>/dev/null)"
	got=$(awk -v m="$mnt" '$5 == m { for (i = 7; $i != "-"; i++); t = $(i + 1) } END { print t }' \
		/proc/self/mountinfo)
	[[ "$got" == "$type" ]] || die "$mnt is mounted as '$got', expected '$type' for $fs"
	echo probe >"$mnt/.probe" 2>/dev/null || die "$fs: cannot create a file on $mnt"
	# The ceiling keeps sizes, not data: it reads back zeros.
	if [[ $fs != ceiling && $(cat "$mnt/.probe") != probe ]]; then
		die "$fs: a file written on $mnt reads back wrong"
	fi
	rm -f "$mnt/.probe"
	mkdir "$mnt/fio" "$mnt/meta" || die "$fs: mkdir on $mnt failed"
}

# pretouch FS: first touch of fresh memory on a VM is slow and erratic; write
# a file as large as the free space of the mount, then delete it, so that the
# measured runs use memory that has been touched once.
pretouch() {
	local fs=$1 mnt=${MNT[$1]} free_mb
	free_mb=$(df -Pm "$mnt" | awk 'NR == 2 { print $4 }')
	free_mb=$((free_mb - 64))
	[[ $free_mb -gt 0 ]] || return 0
	say "pre-touching $fs: $free_mb MiB written and deleted"
	dd if=/dev/zero of="$mnt/.pretouch" bs=1M count="$free_mb" conv=fsync status=none 2>"$T/pretouch.err" ||
		die "$fs: pre-touch write failed: $(cat "$T/pretouch.err")"
	rm -f "$mnt/.pretouch"
	# FUSE releases the file after rm returns: wait for its space to come back.
	local i now_mb h
	for ((i = 0; i < 300; i++)); do
		now_mb=$(df -Pm "$mnt" | awk 'NR == 2 { print $4 }')
		[[ $now_mb -ge $((free_mb + 32)) ]] && return 0
		# libfuse 2 (fuse2fs) renames a file unlinked while it counts it
		# open to .fuse_hidden*, to remove it at its last RELEASE; when the
		# RELEASE of dd's close races with the UNLINK, that never happens
		# (see metabench.c).  .pretouch is the only file on the mount.
		if [[ $i -eq 20 ]]; then
			for h in "$mnt"/.fuse_hidden*; do
				[[ -f "$h" ]] || continue
				note "$fs: pre-touch: $mnt/.pretouch, deleted right after dd closed it, was still there 2 s later as ${h##*/} ($(stat -c %s "$h") bytes): removed it"
				rm -f "$h"
			done
		fi
		sleep 0.1
	done
	die "$fs: the space of a deleted file did not come back within 30 s ($now_mb MiB free; files on $mnt: $(find "$mnt" -mindepth 1 -maxdepth 1 -printf '%f '))"
}

mount_daxfs() {
	local pool=$SHMDIR/daxfs.pool
	say "daxfs: mkfs.daxfs -s ${FS_MB}M $pool"
	"$MKFS" -f -s "${FS_MB}M" "$pool" >"$T/mkfs.daxfs.log" 2>&1 ||
		die "mkfs.daxfs failed: $(tail -n 5 "$T/mkfs.daxfs.log")"
	LOG[daxfs]=$T/daxfs.log
	PMEM_IS_PMEM_FORCE=1 "$DAXFS" "$pool" "${MNT[daxfs]}" -f -o transport=dev >"${LOG[daxfs]}" 2>&1 &
	PID[daxfs]=$!
	wait_mount daxfs fuse.daxfs
}

# FUSE over io_uring is off until root turns it on: on for the run, put
# back by cleanup.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_WAS=""
uring_on() {
	[[ -e $URING_PARAM ]] || die "daxfs_uring: this kernel has no FUSE over io_uring ($URING_PARAM)"
	[[ $IS_ROOT -eq 1 ]] || [[ $(cat "$URING_PARAM") == Y ]] ||
		die "daxfs_uring: enable_uring is off and only root can turn it on"
	URING_WAS=$(cat "$URING_PARAM")
	[[ $IS_ROOT -eq 1 ]] && echo Y >"$URING_PARAM"
	return 0
}
uring_restore() {
	[[ -z "$URING_WAS" || $IS_ROOT -ne 1 ]] || echo "$URING_WAS" >"$URING_PARAM"
}

# The rings register once INIT is answered: measure only once they have.
mount_daxfs_uring() {
	local pool=$SHMDIR/daxfs-uring.pool i
	uring_on
	"$MKFS" -f -s "${FS_MB}M" "$pool" >"$T/mkfs.daxfs-uring.log" 2>&1 ||
		die "mkfs.daxfs failed: $(tail -n 5 "$T/mkfs.daxfs-uring.log")"
	LOG[daxfs_uring]=$T/daxfs-uring.log
	PMEM_IS_PMEM_FORCE=1 "$DAXFS" "$pool" "${MNT[daxfs_uring]}" -f -o transport=uring \
		>"${LOG[daxfs_uring]}" 2>&1 &
	PID[daxfs_uring]=$!
	wait_mount daxfs_uring fuse.daxfs
	for ((i = 0; i < 200; i++)); do
		grep -q 'transport: io_uring' "${LOG[daxfs_uring]}" && return 0
		sleep 0.05
	done
	die "daxfs_uring: the rings did not start: $(tail -n 5 "${LOG[daxfs_uring]}")"
}

mount_fuse2fs() {
	local img=$SHMDIR/ext4.img opts=()
	say "fuse2fs: mkfs.ext4 on a ${FS_MB} MiB image"
	# Fully allocated, as the daxfs pool is.
	fallocate -l "${FS_MB}M" "$img" 2>/dev/null ||
		dd if=/dev/zero of="$img" bs=1M count="$FS_MB" status=none ||
		die "cannot create $img"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img" >"$T/mkfs.ext4.log" 2>&1 ||
		die "mkfs.ext4 failed: $(tail -n 5 "$T/mkfs.ext4.log")"
	[[ $IS_ROOT -eq 1 ]] || opts=(-o fakeroot)
	LOG[fuse2fs]=$T/fuse2fs.log
	fuse2fs "$img" "${MNT[fuse2fs]}" -f "${opts[@]}" >"${LOG[fuse2fs]}" 2>&1 &
	PID[fuse2fs]=$!
	wait_mount fuse2fs fuse.ext4
}

mount_ceiling() {
	LOG[ceiling]=$T/ceiling.log
	"$CEILING" "${MNT[ceiling]}" -f >"${LOG[ceiling]}" 2>&1 &
	PID[ceiling]=$!
	wait_mount ceiling fuse.ceiling
}

mount_tmpfs() {
	if [[ $IS_ROOT -eq 1 ]]; then
		mount -t tmpfs -o "size=${FS_MB}M,mode=755" daxfs-bench "${MNT[tmpfs]}" ||
			die "cannot mount a tmpfs on ${MNT[tmpfs]}"
		TMPFS_MOUNTED=1
		wait_mount tmpfs tmpfs
	else
		# Not root: a directory of /dev/shm, which is a tmpfs.
		MNT[tmpfs]=$SHMDIR/tmpfs
		mkdir -p "${MNT[tmpfs]}"
		mkdir "${MNT[tmpfs]}/fio" "${MNT[tmpfs]}/meta"
	fi
}

for fs in $FSLIST; do
	MNT[$fs]=$T/mnt/$fs
	mkdir -p "${MNT[$fs]}"
	"mount_$fs"
done
for fs in $FSLIST; do
	[[ $fs == ceiling ]] || pretouch "$fs"
done

# ---------------------------------------------------------------- workloads

# name|unit|fio arguments ("-" for metabench rows)
WORKLOADS=(
	"seqwrite-1j|MiB/s|--rw=write --bs=1M --size=${SEQ_MB}M --numjobs=1 --end_fsync=1 --filename_format=seq.\$jobnum"
	"seqwrite-2j|MiB/s|--rw=write --bs=1M --size=${SEQ_MB}M --numjobs=2 --end_fsync=1 --filename_format=seq.\$jobnum"
	"seqread-1j|MiB/s|--rw=read --bs=1M --size=${SEQ_MB}M --numjobs=1 --filename_format=seq.\$jobnum"
	"seqread-2j|MiB/s|--rw=read --bs=1M --size=${SEQ_MB}M --numjobs=2 --filename_format=seq.\$jobnum"
	"randread-buf-1j|IOPS|--rw=randread --bs=4k --size=${RAND_MB}M --numjobs=1 --filename_format=rand.\$jobnum"
	"randread-buf-2j|IOPS|--rw=randread --bs=4k --size=${RAND_MB}M --numjobs=2 --filename_format=rand.\$jobnum"
	"randread-dio-1j|IOPS|--rw=randread --bs=4k --size=${RAND_MB}M --numjobs=1 --direct=1 --filename_format=rand.\$jobnum"
	"randread-dio-2j|IOPS|--rw=randread --bs=4k --size=${RAND_MB}M --numjobs=2 --direct=1 --filename_format=rand.\$jobnum"
	"randwrite-buf-1j|IOPS|--rw=randwrite --bs=4k --size=${RAND_MB}M --numjobs=1 --filename_format=rand.\$jobnum"
	"randwrite-buf-2j|IOPS|--rw=randwrite --bs=4k --size=${RAND_MB}M --numjobs=2 --filename_format=rand.\$jobnum"
	"randwrite-dio-1j|IOPS|--rw=randwrite --bs=4k --size=${RAND_MB}M --numjobs=1 --direct=1 --filename_format=rand.\$jobnum"
	"randwrite-dio-2j|IOPS|--rw=randwrite --bs=4k --size=${RAND_MB}M --numjobs=2 --direct=1 --filename_format=rand.\$jobnum"
	"randread-dio-1j-pin|IOPS|--rw=randread --bs=4k --size=${RAND_MB}M --numjobs=1 --direct=1 --filename_format=rand.\$jobnum"
	"randwrite-dio-1j-pin|IOPS|--rw=randwrite --bs=4k --size=${RAND_MB}M --numjobs=1 --direct=1 --filename_format=rand.\$jobnum"
)
META_ROWS="create stat readdir unlink trunc smallfile"
RAW=$T/raw.tsv
: >"$RAW"

# Each round runs the filesystems in a rotated order, so that a slow phase
# of the machine does not always fall on the same one.
fs_order() {
	local r=$1 arr n i order=()
	read -r -a arr <<<"$FSLIST"
	n=${#arr[@]}
	for ((i = 0; i < n; i++)); do
		order+=("${arr[$(((i + r) % n))]}")
	done
	echo "${order[@]}"
}

check_alive() {
	local fs=$1
	[[ -z "${PID[$fs]:-}" ]] && return 0
	pid_alive "${PID[$fs]}" || die "the $fs daemon (PID ${PID[$fs]}) died: $(tail -n 5 "${LOG[$fs]}")"
	is_mounted "${MNT[$fs]}" || die "${MNT[$fs]} ($fs) is no longer mounted"
}

# Other processes on the machine (a build, another test suite) take CPU from
# the benchmark and make it lie.  measure FS CMD... runs CMD and sets
# OTHER_CPU: the share (in % of all CPUs) of CPU time spent meanwhile by
# anything but CMD, its children and FS's daemon; and STEAL: the share
# the hypervisor gave to other guests.
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
cpu_counters() {
	# user nice system idle iowait irq softirq steal: busy, then steal
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9; exit }' /proc/stat
}
daemon_ticks() {
	local pid=${PID[$1]:-}
	if [[ -n "$pid" && -r /proc/$pid/stat ]]; then
		# utime + stime of all its threads; the name field has no spaces
		awk '{ print $14 + $15 }' "/proc/$pid/stat"
	else
		echo 0
	fi
}
measure() {
	local fs=$1 c0 c1 d0 d1 t0 t1 rc=0
	shift
	c0=$(cpu_counters)
	d0=$(daemon_ticks "$fs")
	t0=$(date +%s.%N)
	# The subshell reaps CMD: its children's times are CMD's, fio's jobs included.
	("$@" || exit $?; awk '{ print $16 + $17 }' "/proc/$BASHPID/stat" >"$T/child.ticks") || rc=$?
	t1=$(date +%s.%N)
	c1=$(cpu_counters)
	d1=$(daemon_ticks "$fs")
	read -r OTHER_CPU STEAL < <(awk -v c0="$c0" -v c1="$c1" -v d0="$d0" -v d1="$d1" \
		-v t0="$t0" -v t1="$t1" -v child="$(cat "$T/child.ticks" 2>/dev/null || echo 0)" \
		-v hz="$CLK_TCK" -v n="$NCPU" 'BEGIN {
			split(c0, a, " "); split(c1, b, " ")
			cap = (t1 - t0) * hz * n
			if (cap <= 0) cap = 1
			o = (b[1] - a[1] - (d1 - d0) - child) / cap * 100
			if (o < 0) o = 0
			printf "%.1f %.1f\n", o, (b[2] - a[2]) / cap * 100
		}')
	return "$rc"
}

# wait_idle: before a workload, wait (up to WAIT_IDLE minutes) until the
# machine is quiet: other processes using less than 10% of all CPUs over 2 s.
busy_share() {
	local c0 c1
	c0=$(cpu_counters)
	sleep 2
	c1=$(cpu_counters)
	awk -v c0="$c0" -v c1="$c1" -v hz="$CLK_TCK" -v n="$NCPU" \
		'BEGIN { split(c0, a, " "); split(c1, b, " "); printf "%.0f\n", (b[1] - a[1]) / (2 * hz * n) * 100 }'
}
wait_idle() {
	local deadline=$((SECONDS + WAIT_IDLE * 60)) b said=0
	[[ $WAIT_IDLE -gt 0 ]] || return 0
	while :; do
		b=$(busy_share)
		[[ $b -lt 10 ]] && return 0
		if [[ $SECONDS -ge $deadline ]]; then
			say "machine still busy ($b% of the CPUs used by others): measuring anyway"
			return 0
		fi
		[[ $said -eq 1 ]] || say "machine busy ($b% of the CPUs used by others), waiting up to $WAIT_IDLE min"
		said=1
		sleep 5
	done
}

# pinned NAME: the command prefix that runs a *-pin row on CPU 0.
pinned() {
	[[ $1 == *-pin ]] && echo "taskset -c 0"
	return 0
}

run_fio() {
	local round=$1 fs=$2 name=$3 unit=$4 args=$5
	local out=$T/fio.$round.$name.$fs.json val
	# shellcheck disable=SC2086
	if ! measure "$fs" $(pinned "$name") fio --name="$name" --directory="${MNT[$fs]}/fio" --ioengine=psync \
		--fallocate=none --time_based --runtime="$RUNTIME" --ramp_time=0 --group_reporting \
		--output-format=json --output="$out" $args >"$T/fio.err" 2>&1; then
		check_alive "$fs"
		die "fio $name on $fs failed: $(tail -n 5 "$T/fio.err")"
	fi
	val=$("$PY" - "$out" "$unit" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
job = j["jobs"][0]
if job.get("error"):
    sys.exit("fio error %d" % job["error"])
side = job["write"] if job["write"]["io_bytes"] > job["read"]["io_bytes"] else job["read"]
print("%.1f" % (side["bw_bytes"] / 1048576.0 if sys.argv[2] == "MiB/s" else side["iops"]))
EOF
	) || die "cannot read fio's result for $name on $fs ($out)"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$unit" "$fs" "$val" "$OTHER_CPU" \
		"$STEAL" >>"$RAW"
	printf '  %-18s %-8s %12s %-9s other CPU %5s%%, steal %5s%%\n' "$name" "$fs" "$val" "$unit" \
		"$OTHER_CPU" "$STEAL" >&2
}

run_meta() {
	local round=$1 fs=$2 sfx=${3:-}
	local out=$T/meta.$round.$fs$sfx.txt row unit val
	# shellcheck disable=SC2046
	if ! measure "$fs" $(pinned "$sfx") "$METABENCH" -n "$META_N" -t "$META_T" "${MNT[$fs]}/meta" >"$out" \
		2>"$T/meta.err"; then
		check_alive "$fs"
		die "metabench on $fs failed: $(tail -n 5 "$T/meta.err")"
	fi
	# Its warnings: what the filesystem did wrong without failing a phase
	# (e.g. a file left behind after its unlink).
	local line
	while IFS= read -r line; do
		note "round $round, $fs: $line"
	done <"$T/meta.err"
	for row in $META_ROWS; do
		val=$(awk -v r="$row" '$1 == r { print $2 }' "$out")
		[[ -n "$val" ]] || die "metabench on $fs printed no '$row' figure"
		case $row in
		trunc) unit=loops/s ;;
		smallfile) unit=files/s ;;
		readdir) unit=entries/s ;;
		*) unit=ops/s ;;
		esac
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$row$sfx" "$unit" "$fs" "$val" \
			"$OTHER_CPU" "$STEAL" >>"$RAW"
		printf '  %-18s %-8s %12s %-9s other CPU %5s%%, steal %5s%%\n' "$row$sfx" "$fs" "$val" \
			"$unit" "$OTHER_CPU" "$STEAL" >&2
	done
}

if [[ $DISK_ONLY -eq 1 ]]; then
	disk_run
	exit 0
fi
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START_S=$(date +%s)
for ((round = 1; round <= ROUNDS; round++)); do
	say "round $round of $ROUNDS"
	rotation=$(fs_order "$round")
	for w in "${WORKLOADS[@]}"; do
		IFS='|' read -r name unit args <<<"$w"
		wait_idle
		for fs in $rotation; do
			check_alive "$fs"
			run_fio "$round" "$fs" "$name" "$unit" "$args"
		done
	done
	for fs in $rotation; do
		wait_idle
		check_alive "$fs"
		run_meta "$round" "$fs"
	done
	for fs in $rotation; do
		wait_idle
		check_alive "$fs"
		run_meta "$round" "$fs" -pin
	done
done
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START_S))

# ---------------------------------------------------------------- report

# The revision of the sources the build directory compiles (DAXFS_REV
# overrides: e.g. for a build of an exported snapshot).
src=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
	"$BUILD_DIR/meson-info/meson-info.json" 2>/dev/null || echo "$REPO")
commit=${DAXFS_REV:-}
if [[ -z "$commit" ]]; then
	commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "unknown revision")
	if [[ $commit != "unknown revision" && -n $(git -C "$src" status --porcelain -- fs pmem mkfs 2>/dev/null) ]]; then
		commit="$commit + uncommitted changes in fs/, pmem/ or mkfs/"
	fi
fi
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mode="full"
[[ $QUICK -eq 1 ]] && mode="quick"

{
	echo "### $START_DATE, $mode, $ROUNDS round(s)"
	echo
	echo "- kernel $(uname -r), $(nproc) CPUs, $cpu, $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "- daxfs $commit, $BUILDTYPE build; $(fio --version); fuse2fs $(dpkg-query -W -f '${Version}' fuse2fs 2>/dev/null) (libfuse2 $(dpkg-query -W -f '${Version}' libfuse2 2>/dev/null)); libfuse $(dpkg-query -W -f '${Version}' libfuse3-3 2>/dev/null)"
	echo "- files: sequential ${SEQ_MB} MiB, random ${RAND_MB} MiB per job; ${RUNTIME} s per fio run; metabench ${META_N} files, ${META_T} s loops"
	echo "- load average before ${START_LOAD}, after ${END_LOAD}; ${ELAPSED} s"
	echo
	"$PY" - "$RAW" "$FSLIST" <<'EOF'
import sys
from collections import defaultdict, OrderedDict
from statistics import median

raw, fslist = sys.argv[1], sys.argv[2].split()
vals = defaultdict(dict)            # (row, fs) -> {round: value}
other = defaultdict(float)          # row -> highest CPU share of other processes
steals = []
units = OrderedDict()
for line in open(raw):
    rnd, row, unit, fs, v, oth, st = line.rstrip("\n").split("\t")
    units[row] = unit
    vals[(row, fs)][int(rnd)] = float(v)
    other[row] = max(other[row], float(oth))
    steals.append(float(st))

def fmt(x):
    if x is None:
        return "-"
    if x >= 100:
        return "{:,.0f}".format(x)
    return "{:.1f}".format(x)

def cell(row, fs):
    d = vals.get((row, fs))
    if not d:
        return "-", None, None
    v = list(d.values())
    m = median(v)
    spread = (max(v) - min(v)) / m * 100 if m > 0 and len(v) > 1 else None
    return fmt(m), m, spread

def ratio(row, a, b):
    """Median and range of the per-round ratios a/b (same round, same
    machine state), or None."""
    da, db = vals.get((row, a)), vals.get((row, b))
    if not da or not db:
        return None
    rs = [da[r] / db[r] for r in da if r in db and db[r] > 0]
    if not rs:
        return None
    return median(rs), min(rs), max(rs)

def fmt_ratio(r):
    if r is None:
        return "-"
    m, lo, hi = r
    if lo == hi:
        return "{:.2f}".format(m)
    return "{:.2f} ({:.2f}–{:.2f})".format(m, lo, hi)

NOISY = 20.0
BUSY = 10.0
hdr = ["workload", "unit"] + fslist
have = lambda fs: fs in fslist
if have("daxfs") and have("fuse2fs"):
    hdr.append("daxfs/fuse2fs")
if have("daxfs") and have("ceiling"):
    hdr.append("daxfs/ceiling")
uring_cols = [(a, b) for a, b in (("daxfs_uring", "daxfs"), ("daxfs_uring", "ceiling"))
              if have(a) and have(b)]
hdr += ["uring/" + ("dev" if b == "daxfs" else b) for a, b in uring_cols]
hdr += ["other CPU", "noisy"]
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join(["---"] * 2 + ["---:"] * (len(hdr) - 3) + ["---"]) + "|")
for row, unit in units.items():
    cells, noisy = [], []
    for fs in fslist:
        s, m, sp = cell(row, fs)
        if sp is not None:
            s += " ±{:.0f}%".format(sp / 2)
            if sp > NOISY and fs != "tmpfs":
                noisy.append(fs)
        cells.append(s)
    line = [row, unit] + cells
    if have("daxfs") and have("fuse2fs"):
        line.append(fmt_ratio(ratio(row, "daxfs", "fuse2fs")))
    if have("daxfs") and have("ceiling"):
        line.append(fmt_ratio(ratio(row, "daxfs", "ceiling")))
    for a, b in uring_cols:
        line.append(fmt_ratio(ratio(row, a, b)))
    line.append("{:.0f}%".format(other[row]))
    flags = []
    if noisy:
        flags.append("spread: " + ", ".join(noisy))
    if other[row] > BUSY:
        flags.append("busy machine")
    line.append("**" + "; ".join(flags) + "**" if flags else "")
    print("| " + " | ".join(line) + " |")
print()
print("Cells: median over the rounds ± half the min–max spread, in % of the median; "
      "a row is marked noisy when a FUSE filesystem's full spread exceeds {:.0f}%, or when "
      "other processes used more than {:.0f}% of the machine's CPU during one of its "
      "measurements (other CPU: the highest such share in the row). "
      "Ratios: median of the per-round ratios (min–max). "
      "CPU steal by the hypervisor: {:.1f}% on average, {:.1f}% at most.".format(
          NOISY, BUSY, sum(steals) / max(len(steals), 1), max(steals or [0])))

# 2 jobs against 1 job, per filesystem.
pairs = [r[:-3] for r in units if r.endswith("-1j") and r[:-3] + "-2j" in units]
if pairs:
    print()
    print("Scaling, 2 jobs / 1 job (medians):")
    print()
    print("| workload | " + " | ".join(fslist) + " |")
    print("|---|" + "|".join(["---:"] * len(fslist)) + "|")
    for p in pairs:
        cs = []
        for fs in fslist:
            _, m1, _ = cell(p + "-1j", fs)
            _, m2, _ = cell(p + "-2j", fs)
            cs.append("{:.2f}".format(m2 / m1) if m1 and m2 else "-")
        print("| " + p + " | " + " | ".join(cs) + " |")

# The targets of the issue.
if have("daxfs") and (have("ceiling") or have("fuse2fs")):
    print()
    print("Targets (daxfs, ratios of this run):")
    print()
    print("| target | measured | result | best a FUSE filesystem can do |")
    print("|---|---:|---|---:|")
    def target(desc, r, need, bound=None):
        """bound: the same ratio for the ceiling, when the target is
        relative to another filesystem: no FUSE filesystem can beat it."""
        if r is None:
            return
        res = "met" if r[0] >= need else "**missed**"
        b = "-"
        if bound is not None:
            b = "{:.2f}".format(bound[0])
            if bound[0] < need:
                res += " (out of reach through FUSE)"
        print("| {} | {:.2f} | {} | {} |".format(desc, r[0], res, b))
    for row in ("seqwrite-1j", "seqwrite-2j", "seqread-1j", "seqread-2j"):
        if row in units:
            target(row + " ≥ 0.75 × ceiling", ratio(row, "daxfs", "ceiling"), 0.75)
            target(row + " ≥ 5 × fuse2fs", ratio(row, "daxfs", "fuse2fs"), 5,
                   ratio(row, "ceiling", "fuse2fs"))
    for row in ("randread-dio-1j", "randread-dio-2j", "randwrite-dio-1j", "randwrite-dio-2j"):
        if row in units:
            target(row + " ≥ 0.85 × ceiling", ratio(row, "daxfs", "ceiling"), 0.85)
    for row in ("create", "stat", "unlink"):
        if row in units:
            target(row + " ≥ 10 × fuse2fs", ratio(row, "daxfs", "fuse2fs"), 10,
                   ratio(row, "ceiling", "fuse2fs"))
    if "trunc" in units:
        target("trunc ≥ 3 × fuse2fs", ratio("trunc", "daxfs", "fuse2fs"), 3,
               ratio("trunc", "ceiling", "fuse2fs"))
    for p in pairs:
        _, c1, _ = cell(p + "-1j", "ceiling")
        _, c2, _ = cell(p + "-2j", "ceiling")
        _, d1, _ = cell(p + "-1j", "daxfs")
        _, d2, _ = cell(p + "-2j", "daxfs")
        if not (c1 and c2 and d1 and d2):
            continue
        if c2 / c1 >= 1.7:
            target(p + " 2j ≥ 1.7 × 1j", (d2 / d1,), 1.7, (c2 / c1,))
        else:
            print("| {} 2j ≥ 1.7 × 1j | {:.2f} | n/a: the ceiling scales {:.2f}× | {:.2f} |".format(
                p, d2 / d1, c2 / c1, c2 / c1))

# FUSE over io_uring: daxfs_uring against daxfs on /dev/fuse (dev) and the
# /dev/fuse ceiling, in the same run.
if have("daxfs_uring") and have("daxfs"):
    print()
    print("Targets (daxfs on io_uring: uring/dev against daxfs on /dev/fuse, uring/ceiling "
          "against the /dev/fuse ceiling):")
    print()
    print("| target | measured | result |")
    print("|---|---:|---|")
    def utarget(desc, r, need):
        if r is None:
            return
        print("| {} | {} | {} |".format(desc, fmt_ratio(r), "met" if r[0] >= need else "**missed**"))
    for row in ("randread-dio-1j-pin", "randwrite-dio-1j-pin"):
        if row in units:
            utarget(row + " uring/dev ≥ 1.3", ratio(row, "daxfs_uring", "daxfs"), 1.3)
            if have("ceiling"):
                utarget(row + " uring/ceiling ≥ 1.2", ratio(row, "daxfs_uring", "ceiling"), 1.2)
    for row in ("create-pin", "stat-pin"):
        if row in units:
            utarget(row + " uring/dev ≥ 1.3", ratio(row, "daxfs_uring", "daxfs"), 1.3)
    for row in units:
        if row.endswith("-pin"):
            continue
        need = 0.95 if row.startswith("seq") else 1.0
        utarget("{} (unpinned) uring/dev ≥ {:.2f}".format(row, need),
                ratio(row, "daxfs_uring", "daxfs"), need)
EOF
	echo
	if [[ -s "$NOTES" ]]; then
		echo "Notes (what a filesystem did wrong without stopping the run):"
		echo
		sed 's/^/- /' "$NOTES"
		echo
	fi
} >"$T/report.md"

cat "$T/report.md"
# RAW_OUT=FILE keeps the per-round figures (round, row, unit, fs, value,
# other CPU %, steal %).
[[ -z "${RAW_OUT:-}" ]] || cp "$RAW" "$RAW_OUT"
if [[ $RECORD -eq 1 ]]; then
	if [[ ! -f "$RESULTS" ]]; then
		cat >"$RESULTS" <<'EOF'
# Benchmark results

Runs of `bench/run.sh`, newest last; bench/README.md explains the rows. The
figures belong to the machine and the moment they were taken on: compare
columns of one run, not runs with each other.

EOF
	fi
	cat "$T/report.md" >>"$RESULTS"
	say "appended to $RESULTS"
fi
[[ $NO_DISK -eq 1 ]] || disk_run
