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

run_suite build-test ""
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
