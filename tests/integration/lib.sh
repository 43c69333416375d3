# SPDX-License-Identifier: MIT
# Shared helpers for the daxfs integration tests.  Each test script does
#
#     set -euo pipefail
#     source "$(dirname "$0")/lib.sh"
#     itest_init
#
# and then uses mkpool / mount_fs / umount_fs / kill_daemon and the check
# helpers.  Environment: DAXFS and MKFS_DAXFS (required), FSCK_DAXFS
# (optional: every clean unmount, including those at teardown, is then
# followed by fsck.daxfs -n -f, which must exit 0), DAXFS_ITEST_TMPDIR
# (optional: where pools go), DAXFS_ITEST_MOUNT (optional: "helper" makes
# mount_fs mount as users do, see below), DAXFS_TRANSPORT (optional: auto,
# uring or dev, the -o transport= of every mount_fs; "DAXFS_TRANSPORT=uring
# meson test --suite integration" runs the suite on FUSE over io_uring,
# which needs enable_uring=Y).
#
# Two ways to mount.  By default mount_fs starts "$DAXFS POOL MNT -f" as our
# child.  With DAXFS_ITEST_MOUNT=helper (or after itest_use_mount_helper,
# before itest_init), the script runs in a private mount namespace in which
# this build's daxfs is bind-mounted over /usr/local/sbin, and mount_fs runs
# "mount -t fuse.daxfs POOL MNT [-o OPTS]": fuse3's mount helper starts the
# daemon, which forks and detaches.  Its pid is then the holder of the
# pool's lock (/proc/locks), which kill_daemon kills; umount_fs runs
# umount(8) and then, at once, fsck.daxfs, as a user would.
#
# itest_init makes a private temp dir and installs a trap that always
# unmounts everything this script mounted (fusermount3 -u with retries, -z as
# the last resort), waits for each daemon PID to exit, kills only the PIDs this
# script started, and removes the temp dir.
#
# A FUSE test that cannot mount fails with the daemon's stderr: there is no
# skip path in this suite.

set -euo pipefail

ITEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECKS=0
T=""
declare -A MNT_PID=()   # mountpoint -> daemon PID (started with -f by us)
declare -A MNT_LOG=()   # mountpoint -> daemon stdout/stderr log
declare -A MNT_POOL=()  # mountpoint -> pool file
declare -A MNT_FORKED=() # mountpoint -> 1 when mounted through mount -t
ITEST_MOUNT=${DAXFS_ITEST_MOUNT:-foreground}
declare -a BG_PIDS=()   # helper processes started by the test
declare -a DEAD_MNTS=() # mounts whose daemon we killed, not yet detached
declare -a EXTRA_DIRS=() # more temp dirs to remove at teardown
declare -a RESTORE_CMDS=() # commands putting back system settings, run at teardown
LOGSEQ=0

# ---------------------------------------------------------------- reporting

say() { echo "== $*"; }

die() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() {
	CHECKS=$((CHECKS + 1))
	echo "  ok $CHECKS - $*"
}

# check DESCRIPTION COMMAND [ARGS...]: the command must succeed.
check() {
	local desc=$1
	shift
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	if [[ $rc -ne 0 ]]; then
		die "$desc: command '$*' exited $rc: $out"
	fi
	pass "$desc"
}

# check_fails DESCRIPTION COMMAND [ARGS...]: the command must fail (non-zero).
check_fails() {
	local desc=$1
	shift
	local rc=0
	"$@" >/dev/null 2>&1 || rc=$?
	if [[ $rc -eq 0 ]]; then
		die "$desc: command '$*' succeeded but should have failed"
	fi
	pass "$desc"
}

check_eq() {
	local desc=$1 expected=$2 actual=$3
	if [[ "$expected" != "$actual" ]]; then
		die "$desc: expected '$expected', got '$actual'"
	fi
	pass "$desc"
}

finish() {
	echo "ok: $CHECKS checks"
}

# ---------------------------------------------------------------- setup

# Where the temp dir (pools and mount points) goes: $DAXFS_ITEST_TMPDIR if
# set, else /dev/shm when it is a tmpfs with at least 4 GiB free, else
# $TMPDIR or /tmp.  A pool file on a disk-backed filesystem is persisted by
# msync, which makes every write wait for the disk: on tmpfs the same tests
# run one to two orders of magnitude faster and do not depend on the disk
# being idle.  (mount.sh also mounts one pool on a disk-backed directory.)
itest_tmpbase() {
	if [[ -n "${DAXFS_ITEST_TMPDIR:-}" ]]; then
		echo "$DAXFS_ITEST_TMPDIR"
		return
	fi
	local avail
	if [[ -d /dev/shm && -w /dev/shm ]] && [[ "$(stat -f -c %T /dev/shm 2>/dev/null)" == tmpfs ]]; then
		avail=$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')
		if [[ -n "$avail" ]] && ((avail >= 4 * 1024 * 1024)); then
			echo /dev/shm
			return
		fi
	fi
	echo "${TMPDIR:-/tmp}"
}

# extra_tmpdir BASE: make another temp dir under BASE, removed (after
# unmounting anything below it) at teardown; its path is left in XDIR.
extra_tmpdir() {
	XDIR=$(mktemp -d "$1/daxfs-itest-extra.XXXXXX")
	chmod 755 "$XDIR"
	EXTRA_DIRS+=("$XDIR")
}

# itest_use_mount_helper: mount_fs mounts through mount -t fuse.daxfs.
itest_use_mount_helper() {
	ITEST_MOUNT=helper
}

# Re-runs the script in a private mount namespace (helper mode only): the
# bind mount over /usr/local/sbin is seen by nothing else.
itest_enter_mount_ns() {
	[[ "$ITEST_MOUNT" == helper && -z "${DAXFS_MOUNT_HELPER_NS:-}" ]] || return 0
	command -v unshare >/dev/null || die "unshare (util-linux) is not installed"
	DAXFS_MOUNT_HELPER_NS=1 DAXFS_ITEST_MOUNT=helper \
		exec unshare --mount --propagation private bash "$0"
}

# Puts this build's daxfs where mount(8)'s helper looks for it, inside our
# private namespace.
itest_bind_daxfs() {
	[[ "$ITEST_MOUNT" == helper ]] || return 0
	[[ -n "${DAXFS_MOUNT_HELPER_NS:-}" ]] || die "helper mounts need the private mount namespace"
	mkdir "$T/sbin"
	ln -s "$(readlink -f "$DAXFS")" "$T/sbin/daxfs"
	mount --bind "$T/sbin" /usr/local/sbin ||
		die "cannot bind-mount over /usr/local/sbin in the test's namespace"
	ITEST_SBIN_BOUND=1
}

itest_init() {
	if [[ "${DAXFS_ITEST_MOUNT:-}" == helper ]]; then
		ITEST_MOUNT=helper
	fi
	itest_enter_mount_ns
	if [[ -z "${DAXFS:-}" ]]; then
		die "DAXFS is not set: it must name the daxfs daemon binary (meson sets it)"
	fi
	if [[ -z "${MKFS_DAXFS:-}" ]]; then
		die "MKFS_DAXFS is not set: it must name the mkfs.daxfs binary (meson sets it)"
	fi
	[[ -x "$DAXFS" ]] || die "DAXFS=$DAXFS is not an executable file"
	[[ -x "$MKFS_DAXFS" ]] || die "MKFS_DAXFS=$MKFS_DAXFS is not an executable file"
	if [[ -n "${FSCK_DAXFS:-}" ]]; then
		[[ -x "$FSCK_DAXFS" ]] || die "FSCK_DAXFS=$FSCK_DAXFS is not an executable file"
	else
		echo "# FSCK_DAXFS is not set: pools are not checked with fsck.daxfs after unmounting"
	fi
	local tool
	for tool in fusermount3 mountpoint setpriv sha256sum diff tar timeout; do
		command -v "$tool" >/dev/null || die "required tool '$tool' is not installed"
	done
	[[ -e /dev/fuse ]] || die "/dev/fuse does not exist: FUSE tests cannot run"
	# python3 that an unprivileged uid can run too (a pyenv shim under /root
	# cannot be run by uid 65534).
	if [[ -x /usr/bin/python3 ]]; then
		PY=/usr/bin/python3
	else
		PY=$(command -v python3) || die "python3 is not installed"
	fi

	T=$(mktemp -d "$(itest_tmpbase)/daxfs-itest.XXXXXX")
	chmod 755 "$T"
	export T
	trap itest_teardown EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir "$T/py"
	cp "$ITEST_DIR/dxcheck.py" "$T/py/"
	chmod -R a+rX "$T/py"
	export PYTHONPATH="$T/py"
	export PYTHONDONTWRITEBYTECODE=1
	echo "# temp dir $T"
	itest_bind_daxfs
	[[ "$ITEST_MOUNT" == helper ]] && echo "# mounting through mount -t fuse.daxfs (forked daemon)"
	return 0
}

# ---------------------------------------------------------------- processes

# uring_enable: turns FUSE over io_uring on for this test's mounts; the
# previous setting is put back at teardown.  Fails if the kernel has none.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
uring_enable() {
	[[ -e "$URING_PARAM" ]] || die "$URING_PARAM is missing: this kernel has no FUSE over io_uring"
	local old
	old=$(cat "$URING_PARAM")
	RESTORE_CMDS+=("echo $old >$URING_PARAM")
	echo Y >"$URING_PARAM" || die "cannot write $URING_PARAM"
}

# pid_alive PID: true while PID exists and is not a zombie.
pid_alive() {
	local pid=$1 state
	kill -0 "$pid" 2>/dev/null || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ "$state" != Z ]]
}

# wait_pid_exit PID SECONDS: wait until PID is gone; false on timeout.
wait_pid_exit() {
	local pid=$1 deadline=$((${EPOCHREALTIME//[!0-9]/} + $2 * 1000000))
	while ((${EPOCHREALTIME//[!0-9]/} < deadline)); do
		pid_alive "$pid" || return 0
		sleep 0.05
	done
	! pid_alive "$pid"
}

# wait_ready FILE PID SECS: wait until our helper PID has made FILE to say
# it is ready; fails the test if it dies first or takes more than SECS.
wait_ready() {
	local file=$1 pid=$2 deadline=$((${EPOCHREALTIME//[!0-9]/} + $3 * 1000000))
	until [[ -e "$file" ]]; do
		pid_alive "$pid" || die "helper PID $pid died before it made $file"
		((${EPOCHREALTIME//[!0-9]/} < deadline)) || die "helper PID $pid did not make $file within $3 s"
		sleep 0.05
	done
}

# reap PID: wait for our child PID (which has exited or is exiting) in this
# shell (not in a $(...) subshell, which cannot wait for it) and leave its
# exit status in REAP_RC.
reap() {
	REAP_RC=0
	# (the braces also silence bash's "Killed" job notice)
	{ wait "$1" || REAP_RC=$?; } 2>/dev/null
}

bg_track() { BG_PIDS+=("$1"); }

# stop_bg PID: terminate one helper process we started and reap it.
stop_bg() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	wait_pid_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for i in "${!BG_PIDS[@]}"; do
		[[ "${BG_PIDS[$i]}" == "$pid" ]] && unset 'BG_PIDS[i]'
	done
	return 0
}

# ---------------------------------------------------------------- mounts

is_mounted() {
	# Field 5 of mountinfo is the mount point (no spaces in our paths).
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# mkpool POOL [MKFS OPTIONS...]: format POOL with mkfs.daxfs, die on failure.
mkpool() {
	local pool=$1
	shift
	local out rc=0
	out=$("$MKFS_DAXFS" "$@" "$pool" 2>&1) || rc=$?
	if [[ $rc -ne 0 ]]; then
		die "mkfs.daxfs $* $pool exited $rc: $out"
	fi
}

daemon_log_tail() {
	local log=$1
	if [[ -s "$log" ]]; then
		tail -n 20 "$log"
	else
		echo "(daemon printed nothing)"
	fi
}

# mount_fs POOL MNT [DAEMON OPTIONS...]: start "$DAXFS POOL MNT -f OPTIONS" in
# the background, record its PID and wait (10 s at most) until MNT is a mount
# point.  Dies with the daemon's output if it exits or times out.
mount_fs() {
	if [[ "$ITEST_MOUNT" == helper ]]; then
		mount_fs_helper "$@"
		return
	fi
	local pool=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	LOGSEQ=$((LOGSEQ + 1))
	local log="$T/daemon.$LOGSEQ.log" pid i rc
	# DAXFS_TRANSPORT (auto, uring or dev) picks the transport of every
	# mount; a test's own -o transport= comes later and wins.
	"$DAXFS" "$pool" "$mnt" -f ${DAXFS_TRANSPORT:+-o "transport=$DAXFS_TRANSPORT"} "$@" >"$log" 2>&1 &
	pid=$!
	MNT_PID[$mnt]=$pid
	MNT_LOG[$mnt]=$log
	MNT_POOL[$mnt]=$pool
	local deadline=$((${EPOCHREALTIME//[!0-9]/} + 10000000))
	while ((${EPOCHREALTIME//[!0-9]/} < deadline)); do
		if is_mounted "$mnt" && timeout 5 mountpoint -q "$mnt"; then
			return 0
		fi
		if ! pid_alive "$pid"; then
			reap "$pid"
			rc=$REAP_RC
			unset 'MNT_PID[$mnt]'
			die "daxfs $pool $mnt -f $* exited with status $rc before the mount appeared: $(daemon_log_tail "$log")"
		fi
		sleep 0.05
	done
	die "daxfs $pool $mnt -f $* did not mount within 10 s (PID $pid): $(daemon_log_tail "$log")"
}

# pool_lock_holder POOL: the pid that holds the flock on POOL according to
# /proc/locks (the daemon takes it after it forks); false if none.
pool_lock_holder() {
	local id
	id=$(stat -L -c '%Hd %Ld %i' "$1") || return 1
	# shellcheck disable=SC2086
	id=$(printf '%02x:%02x:%d' $id)
	awk -v id="$id" '$2 == "FLOCK" && $6 == id { print $5; found = 1; exit }
		END { exit !found }' /proc/locks
}

# daemon_by_cmdline POOL MNT: the pid of a process whose arguments name both
# POOL and MNT (a daemon whose lock shows the pid of a parent that has
# exited); false if none.
daemon_by_cmdline() {
	local pool=$1 mnt=$2 d args
	for d in /proc/[0-9]*; do
		args=$(tr '\0' '\n' 2>/dev/null <"$d/cmdline") || continue
		if grep -qxF -- "$pool" <<<"$args" && grep -qxF -- "$mnt" <<<"$args"; then
			echo "${d#/proc/}"
			return 0
		fi
	done
	return 1
}

# mount_fs_helper POOL MNT [-o OPTS]...: mount -t fuse.daxfs; the daemon's
# pid is the lock holder's.  Dies with mount's output on failure.
mount_fs_helper() {
	local pool=$1 mnt=$2 rc=0 pid i
	shift 2
	local -a a=("$@")
	for ((i = 0; i < ${#a[@]}; i++)); do
		case "${a[i]}" in
		-o) i=$((i + 1)) ;;
		-o?*) ;;
		*) die "mount_fs: option '${a[i]}' cannot go through mount -t fuse.daxfs" ;;
		esac
	done
	mkdir -p "$mnt"
	LOGSEQ=$((LOGSEQ + 1))
	local log="$T/mount.$LOGSEQ.log"
	timeout 60 mount -t fuse.daxfs "$pool" "$mnt" "$@" >"$log" 2>&1 || rc=$?
	[[ $rc -eq 0 ]] || die "mount -t fuse.daxfs $pool $mnt $* exited $rc: $(daemon_log_tail "$log")"
	is_mounted "$mnt" || die "mount -t fuse.daxfs $pool $mnt $* succeeded but $mnt is not a mount point"
	pid=$(pool_lock_holder "$pool") || die "after mount -t fuse.daxfs, nothing holds the lock on $pool"
	if ! pid_alive "$pid"; then
		pid=$(daemon_by_cmdline "$pool" "$mnt") ||
			die "the lock on $pool shows pid $pid, which is not running, and no process runs with $pool $mnt as arguments"
		echo "# the lock on $pool shows an exited pid: the daemon is pid $pid"
	fi
	MNT_PID[$mnt]=$pid
	MNT_LOG[$mnt]=$log
	MNT_POOL[$mnt]=$pool
	MNT_FORKED[$mnt]=1
}

# fusermount_retry MNT: fusermount3 -u with retries; false if still mounted.
fusermount_retry() {
	local mnt=$1 i
	for ((i = 0; i < 20; i++)); do
		is_mounted "$mnt" || return 0
		fusermount3 -u "$mnt" 2>"$T/fusermount.err" && return 0
		sleep 0.25
	done
	! is_mounted "$mnt"
}

# umount_fs MNT: clean unmount; the daemon must exit with status 0.
umount_fs() {
	local mnt=$1 pid rc
	pid=${MNT_PID[$mnt]:-}
	[[ -n "$pid" ]] || die "umount_fs: $mnt was not mounted by this test"
	if [[ -n "${MNT_FORKED[$mnt]:-}" ]]; then
		umount_fs_helper "$mnt"
		return
	fi
	if ! fusermount_retry "$mnt"; then
		die "fusermount3 -u $mnt kept failing: $(cat "$T/fusermount.err")"
	fi
	if ! wait_pid_exit "$pid" 60; then
		die "daemon PID $pid did not exit within 60 s after fusermount3 -u $mnt: $(daemon_log_tail "${MNT_LOG[$mnt]}")"
	fi
	reap "$pid"
	rc=$REAP_RC
	unset 'MNT_PID[$mnt]'
	if [[ "$rc" != 0 ]]; then
		die "daemon for $mnt exited with status $rc after a clean unmount: $(daemon_log_tail "${MNT_LOG[$mnt]}")"
	fi
	fsck_pool "${MNT_POOL[$mnt]}"
}

# umount_fs_helper MNT: umount(8), then at once fsck.daxfs, which must find
# the pool clean and complete; the daemon must then be gone.
umount_fs_helper() {
	local mnt=$1 pid=${MNT_PID[$1]} out rc=0
	out=$(timeout 60 umount "$mnt" 2>&1) || rc=$?
	[[ $rc -eq 0 ]] || die "umount $mnt exited $rc: $out"
	unset 'MNT_PID[$mnt]' 'MNT_FORKED[$mnt]'
	fsck_pool "${MNT_POOL[$mnt]}"
	wait_pid_exit "$pid" 60 || die "daemon PID $pid did not exit within 60 s after umount $mnt"
}

# fsck_pool POOL: when FSCK_DAXFS names fsck.daxfs (meson sets it), a full
# check-only run must find the cleanly unmounted pool without errors.
fsck_pool() {
	local pool=$1 out rc=0
	[[ -n "${FSCK_DAXFS:-}" ]] || return 0
	out=$(timeout 120 "$FSCK_DAXFS" -n -f "$pool" 2>&1) || rc=$?
	if [[ $rc -ne 0 ]]; then
		die "fsck.daxfs -n -f $pool exited $rc after a clean unmount: $(echo "$out" | tail -n 15)"
	fi
	pass "fsck.daxfs -n -f: $(echo "$out" | tail -n 1)"
}

# kill_daemon MNT [--no-detach]: SIGKILL the daemon by its PID, then detach
# the dead mount (unless --no-detach: then call detach_mount MNT later, e.g.
# after stopping processes that still hold files open on it).
kill_daemon() {
	local mnt=$1 pid
	pid=${MNT_PID[$mnt]:-}
	[[ -n "$pid" ]] || die "kill_daemon: $mnt was not mounted by this test"
	kill -KILL "$pid"
	wait_pid_exit "$pid" 10 || die "daemon PID $pid survived SIGKILL"
	[[ -n "${MNT_FORKED[$mnt]:-}" ]] || reap "$pid"
	unset 'MNT_PID[$mnt]' 'MNT_FORKED[$mnt]'
	DEAD_MNTS+=("$mnt")
	if [[ "${2:-}" != --no-detach ]]; then
		detach_mount "$mnt"
	fi
}

# detach_mount MNT: unmount a mount whose daemon is dead.
detach_mount() {
	local mnt=$1 i
	if ! fusermount_retry "$mnt"; then
		fusermount3 -u -z "$mnt" 2>/dev/null || true
	fi
	is_mounted "$mnt" && die "could not detach the dead mount $mnt"
	for i in "${!DEAD_MNTS[@]}"; do
		[[ "${DEAD_MNTS[$i]}" == "$mnt" ]] && unset 'DEAD_MNTS[i]'
	done
	return 0
}

daemon_pid() { echo "${MNT_PID[$1]}"; }

itest_teardown() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	local pid mnt
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${BG_PIDS[@]}"; do
		wait_pid_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for mnt in "${!MNT_PID[@]}"; do
		pid=${MNT_PID[$mnt]}
		if [[ $rc -ne 0 && -n "${MNT_LOG[$mnt]:-}" && -s "${MNT_LOG[$mnt]}" ]]; then
			echo "# daemon log for $mnt (last lines):" >&2
			tail -n 20 "${MNT_LOG[$mnt]}" | sed 's/^/#   /' >&2
		fi
		local grace=60 clean=""
		if is_mounted "$mnt"; then
			if fusermount_retry "$mnt"; then
				clean=1
			else
				echo "# fusermount3 -u $mnt failed, detaching lazily" >&2
				fusermount3 -u -z "$mnt" 2>/dev/null
			fi
		else
			# never mounted (or already gone): ask the daemon to stop
			kill -TERM "$pid" 2>/dev/null
			grace=5
		fi
		if ! wait_pid_exit "$pid" "$grace"; then
			echo "# daemon PID $pid still running after unmount, sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null
			wait_pid_exit "$pid" 5
			clean=""
		fi
		[[ -n "${MNT_FORKED[$mnt]:-}" ]] || wait "$pid" 2>/dev/null
		# A pool this teardown unmounted cleanly is checked like any other.
		if [[ -n "$clean" && -n "${FSCK_DAXFS:-}" && -n "${MNT_POOL[$mnt]:-}" ]]; then
			local fout frc=0
			fout=$(timeout 120 "$FSCK_DAXFS" -n -f "${MNT_POOL[$mnt]}" 2>&1) || frc=$?
			if [[ $frc -ne 0 ]]; then
				echo "FAIL: fsck.daxfs -n -f ${MNT_POOL[$mnt]} exited $frc after the teardown's unmount: $(echo "$fout" | tail -n 15)" >&2
				[[ $rc -ne 0 ]] || rc=1
			else
				echo "  # teardown: fsck.daxfs -n -f ${MNT_POOL[$mnt]}: $(echo "$fout" | tail -n 1)"
			fi
		fi
	done
	for mnt in "${DEAD_MNTS[@]}"; do
		is_mounted "$mnt" && { fusermount_retry "$mnt" || fusermount3 -u -z "$mnt" 2>/dev/null; }
	done
	[[ -n "${ITEST_SBIN_BOUND:-}" ]] && umount /usr/local/sbin 2>/dev/null
	# Anything still mounted below our temp dir (e.g. a daemon that
	# daemonized itself) is detached before the temp dir goes.
	if [[ -n "$T" ]]; then
		local m
		for m in $(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo); do
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
		done
		rm -rf --one-file-system "$T"
	fi
	local cmd
	for cmd in "${RESTORE_CMDS[@]}"; do
		eval "$cmd"
	done
	local x
	for x in "${EXTRA_DIRS[@]}"; do
		for m in $(awk -v t="$x/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo); do
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
		done
		rm -rf --one-file-system "$x"
	done
	if [[ $rc -ne 0 ]]; then
		echo "FAILED after $CHECKS passing checks (exit $rc)" >&2
	fi
	exit "$rc"
}

# ---------------------------------------------------------------- python

# run_py [ARGS...] <<'EOF' ... EOF: run a python check block (dxcheck is
# importable); its passing checks are added to this script's count.
run_py() {
	_run_py_as "" "$@"
}

# run_py_nobody [ARGS...]: the same, as uid/gid 65534 with no groups.
run_py_nobody() {
	_run_py_as nobody "$@"
}

_run_py_as() {
	local who=$1
	shift
	local cf="$T/pycount" rc=0 n
	: >"$cf"
	chmod 666 "$cf"
	if [[ "$who" == nobody ]]; then
		DXCHECK_COUNT_FILE=$cf setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$PY" - "$@" || rc=$?
	else
		DXCHECK_COUNT_FILE=$cf "$PY" - "$@" || rc=$?
	fi
	n=$(cat "$cf" 2>/dev/null || true)
	CHECKS=$((CHECKS + ${n:-0}))
	if [[ $rc -ne 0 ]]; then
		die "python check block exited $rc (see the FAIL line above)"
	fi
}

# ---------------------------------------------------------------- trees

# tree_manifest DIR: one line per entry: path, type, mode, uid, gid, size,
# mtime (ns), link target, and a sha256 for regular files.  Sorted.
tree_manifest() {
	"$PY" - "$1" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
out = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in sorted(dirnames + filenames):
        p = os.path.join(dirpath, name)
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        extra = ""
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            extra = h.hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            extra = "-> " + ascii(os.readlink(p))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            extra = "rdev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        size = st.st_size if not stat.S_ISDIR(st.st_mode) else "-"
        mtime = st.st_mtime_ns if not stat.S_ISLNK(st.st_mode) else "-"
        out.append("%s %o %d %d %s %s %s" % (ascii(rel), st.st_mode, st.st_uid, st.st_gid,
                                            size, mtime, extra))
out.sort()
sys.stdout.write("\n".join(out) + "\n")
EOF
}

# compare_trees DESC A B: contents (diff -r, no dereferencing) and metadata
# (mode, owner, size, mtime, symlink targets) must be identical.
compare_trees() {
	local desc=$1 a=$2 b=$3 out rc=0
	out=$(diff -r --no-dereference "$a" "$b" 2>&1) || rc=$?
	# diff -r reports special files of the same type as differences
	# ("File X is a fifo while file Y is a fifo"); the manifest below
	# compares their types and device numbers instead.
	out=$(echo "$out" | grep -v -E '^File .* is a (fifo|socket|character special file|block special file) while file .* is a \1$' || true)
	if [[ $rc -gt 1 || -n "$out" ]]; then
		die "$desc: diff -r $a $b differs (exit $rc): $(echo "$out" | head -n 20)"
	fi
	pass "$desc: diff -r identical"
	tree_manifest "$a" >"$T/manifest.a"
	tree_manifest "$b" >"$T/manifest.b"
	rc=0
	out=$(diff "$T/manifest.a" "$T/manifest.b") || rc=$?
	if [[ $rc -ne 0 ]]; then
		die "$desc: metadata of $a and $b differs (< $a, > $b): $(echo "$out" | head -n 20)"
	fi
	pass "$desc: metadata (mode, owner, size, mtime, links) identical ($(wc -l <"$T/manifest.a") entries)"
}

# pool_state POOL: "STATE MOUNT_COUNT ORPHAN_HEAD" from the pool's state
# block (pmem/format.h: block 2; state 1 = clean, 2 = mounted or the daemon
# died).
pool_state() {
	"$PY" - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    f.seek(2 * 4096)
    magic, state, orphan, count = struct.unpack("<QQQQ", f.read(32))
if magic != 0x5441545346584144:
    sys.exit("state block magic is %#x, not DAXFSTAT" % magic)
print(state, count, orphan)
EOF
}

# statfs_line MNT: "free_blocks free_inodes" of the mount.
statfs_line() {
	stat -f -c '%f %d' "$1"
}

# wait_statfs MNT "BLOCKS INODES" [SECONDS]: poll (the kernel releases files
# asynchronously) until statfs_line equals the value; prints the last value.
wait_statfs() {
	local mnt=$1 want=$2 deadline=$((${EPOCHREALTIME//[!0-9]/} + ${3:-10} * 1000000)) cur
	while :; do
		cur=$(statfs_line "$mnt")
		[[ "$cur" == "$want" ]] && break
		((${EPOCHREALTIME//[!0-9]/} < deadline)) || break
		sleep 0.05
	done
	echo "$cur"
}
