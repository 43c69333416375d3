# SPDX-License-Identifier: MIT
# Shared by the stress suite's scripts: the integration harness
# (tests/integration/lib.sh: itest_init, mkpool, mount_fs, umount_fs, check,
# check_eq, finish) and a few helpers for pins and counters.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

stress_init() {
	itest_init
	local v
	for v in DAXFS_CTL DAXFS_STRESS DAXFS_PIN_HELPER; do
		[[ -x "${!v:-}" ]] || die "$v is not set to an executable (meson sets it)"
	done
}

# counter PATH NAME...: DAXFS_IOC_STATS counters of the mount holding PATH.
counter() {
	"$DAXFS_PIN_HELPER" stats "$@"
}

# wait_counter PATH NAME VALUE [SECONDS]: poll until the counter has the
# value (files are released and inodes forgotten asynchronously); prints
# the last value.
wait_counter() {
	local path=$1 name=$2 want=$3 secs=${4:-10} i cur
	for ((i = 0; i < secs * 20; i++)); do
		cur=$(counter "$path" "$name")
		[[ "$cur" == "$want" ]] && break
		sleep 0.05
	done
	echo "$cur"
}

# wait_line FILE PATTERN [SECONDS]: wait until a line of FILE matches.
wait_line() {
	local file=$1 pattern=$2 secs=${3:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		grep -q "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.05
	done
	die "no line matching '$pattern' in $file after $secs s: $(cat "$file" 2>/dev/null)"
}

now() { date +%s.%N; }

# check_show DESC COMMAND [ARGS...]: like check, and the command's output is
# shown (indented) whether it passes or not.
check_show() {
	local desc=$1 rc=0
	shift
	"$@" >"$T/show.out" 2>&1 || rc=$?
	sed 's/^/    /' "$T/show.out"
	[[ $rc -eq 0 ]] || die "$desc: command '$*' exited $rc"
	pass "$desc"
}

# check_between DESC VALUE LOW HIGH: LOW <= VALUE < HIGH (decimals).
check_between() {
	local desc=$1 v=$2 lo=$3 hi=$4
	if awk -v v="$v" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(v >= lo && v < hi) }'; then
		pass "$desc ($v)"
	else
		die "$desc: $v is not in [$lo, $hi)"
	fi
}

# The stress runs' seed: DAXFS_STRESS_SEED, or a fresh one that the log shows.
stress_seed() {
	echo "${DAXFS_STRESS_SEED:-$(( (RANDOM << 15) | RANDOM ))}"
}
