#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, then builds
# and runs every meson test in a plain build; the unit, integration, stress
# and fsck suites again under ASan+UBSan with debug checks (an illegal pfn
# transition aborts); and the in-process concurrency tests (unit, and the
# stress tool in process) under TSan; the crash-consistency harness in a
# build with the pmem tracer; and a bounded fuzz run in a clang build.
set -euo pipefail

cd "$(dirname "$0")/.."
tools/install-deps.sh

passed=0
failed=0

# FUSE over io_uring is off until root turns it on: on for this run, so
# that every mount's transport=auto takes io_uring; put back at exit.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
if [[ -e $URING_PARAM ]]; then
	uring_was=$(cat "$URING_PARAM")
	trap 'echo "$uring_was" >"$URING_PARAM"' EXIT
	echo Y >"$URING_PARAM"
fi

# run_suite BUILDDIR "SETUP OPTIONS" [meson test args...]
run_suite() {
	local dir=$1 opts=$2
	shift 2
	echo "=== $dir: meson test $*"
	# shellcheck disable=SC2086
	meson setup --wipe "$dir" $opts >"$dir.setup.log" 2>&1 || meson setup "$dir" $opts >"$dir.setup.log" 2>&1 ||
		{ cat "$dir.setup.log"; exit 1; }
	meson compile -C "$dir"
	local rc=0
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?
	local ok fail
	ok=$(grep -c '"result": "OK"' "$dir/meson-logs/testlog.json" || true)
	fail=$(grep -vc '"result": "OK"' "$dir/meson-logs/testlog.json" || true)
	passed=$((passed + ok))
	failed=$((failed + fail))
	return 0
}

# rerun_suite BUILDDIR [meson test args...]: the tests of a built directory
# once more, with the caller's environment.
rerun_suite() {
	local dir=$1
	shift
	echo "=== $dir again: meson test $*"
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || true
	passed=$((passed + $(grep -c '"result": "OK"' "$dir/meson-logs/testlog.json" || true)))
	failed=$((failed + $(grep -vc '"result": "OK"' "$dir/meson-logs/testlog.json" || true)))
}

run_suite build-test ""
# The suites that mount ran on io_uring above; again on /dev/fuse.
DAXFS_TRANSPORT=dev rerun_suite build-test --suite integration --suite posix
run_suite build-asan "-Db_sanitize=address,undefined -Db_lundef=false -Ddebug_checks=true" \
	--suite unit --suite integration --suite stress --suite fsck --suite posix
run_suite build-tsan "-Db_sanitize=thread -Db_lundef=false" --suite unit --suite stress
# Crash states need the pmem tracer, a build option of its own.
run_suite build-crash "-Dpmem_trace=true" --suite crash
# libFuzzer needs clang: a bounded fuzz run of the mount path and fsck.daxfs
# (tests/fuzz), about a minute, under ASan+UBSan with debug checks.
CC=clang run_suite build-fuzz "-Dfuzz=true -Ddebug_checks=true -Db_sanitize=address,undefined -Db_lundef=false" \
	--suite fuzz

echo "tests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
