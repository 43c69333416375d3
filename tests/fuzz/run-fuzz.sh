#!/usr/bin/env bash
# run-fuzz.sh TARGET CORPUS REGRESSIONS SECONDS ARTIFACTS
#
# The bounded fuzz run of the meson suite 'fuzz': runs every regression
# input and every corpus input once, then fuzzes TARGET (a libFuzzer binary)
# for SECONDS from the committed CORPUS.  New inputs go to a temporary
# directory (the first corpus directory libFuzzer is given), never into the
# source tree; a crashing input is saved in ARTIFACTS.  Prints
# "NAME: N executions, C crashes".
set -uo pipefail

bin=$1 corpus=$2 regressions=$3 seconds=$4 artifacts=$5
name=$(basename "$bin")
work=$(mktemp -d "${TMPDIR:-/tmp}/daxfs-$name.XXXXXX")
# The targets' pool files: removed with the run even if a target dies.
pools=$(mktemp -d /dev/shm/daxfs-$name.XXXXXX)
export FUZZ_POOL_DIR=$pools
trap 'rm -rf "$work" "$pools"' EXIT
mkdir -p "$artifacts"

opts=(-timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1
	-artifact_prefix="$artifacts/$name-")
dict=$(dirname "$corpus")/../daxfs.dict
[[ -f $dict ]] && opts+=(-dict="$dict")

# Each committed input once (libFuzzer runs files given by name once each).
mapfile -t inputs < <(find "$regressions" "$corpus" -type f ! -name '.*' | sort)
if ((${#inputs[@]})); then
	if ! "$bin" "${opts[@]}" "${inputs[@]}" >"$work/replay.log" 2>&1; then
		tail -n 60 "$work/replay.log"
		echo "$name: a committed input fails (see above)"
		exit 1
	fi
	echo "$name: ${#inputs[@]} committed inputs pass"
fi

mkdir "$work/new"
rc=0
"$bin" "${opts[@]}" -max_total_time="$seconds" "$work/new" "$corpus" >"$work/fuzz.log" 2>&1 || rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
if [[ -z $runs ]]; then
	runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/fuzz.log" | tail -n 1)
fi
grep -E '^#[0-9]+ +(INITED|DONE)' "$work/fuzz.log" | tail -n 2
if ((rc != 0)); then
	tail -n 80 "$work/fuzz.log"
	echo "$name: ${runs:-?} executions, 1 crash (input saved under $artifacts/)"
	exit 1
fi
echo "$name: ${runs:-?} executions, 0 crashes, $(find "$work/new" -type f | wc -l) new inputs (not kept)"
