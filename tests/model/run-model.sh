#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Checks a Promela model with spin, one exhaustive run per variant, and
# compares each outcome with the expected one: blockref.pml (the block
# reference protocol, the default) or pins.pml (pins, copy-on-write, the
# deferred free).  Usage: run-model.sh [blockref|pins]
# (SPIN=/path/to/spin to override).  Writes only to a temporary directory
# that it removes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
model=${1:-blockref}.pml
spin=${SPIN:-spin}

if ! command -v "$spin" >/dev/null 2>&1; then
	echo "run-model.sh: spin not found ('$spin'); install the Debian package 'spin'" \
		"(apt-get install -y spin) or set SPIN=/path/to/spin" >&2
	exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
	echo "run-model.sh: no C compiler 'cc' to build spin's verifier" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/daxfs-model.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# name | -D flags | expected (pass: no errors, exhaustive; fail: a counterexample) | what it shows
# [| text of the assertion the counterexample must violate]
case $model in
pins.pml)
variants=(
	"implemented||pass|WRITE and STABLE pins exclude each other on a block; bounce, layout_retire, recall, deferred free by the last put: safe, no store lost without a recall"
	"bounce-no-recall|-DNO_EXCLUSION|fail|both pins granted and the bounce does not recall the WRITE pin: a store lands in the retired block|(map!=0)&&(dpart[map]==s)"
	"defer-race|-DDEFER_RACE|fail|the deferred flag and the idle check in two steps: the last put and the remover both free the block|(state[p]==1)&&(refs[p]==0)"
)
;;
blockref.pml)
variants=(
	"implemented||pass|untrack, wait idle, free; index block freed by call_rcu after a grace period: safe"
	"reversed|-DREVERSED|fail|wait idle while TRACKED, then untrack: a reference slips in"
	"no-recheck|-DNO_RECHECK|fail|without the re-check a reader keeps a reference on a freed and reallocated block"
	"no-index-gp|-DNO_INDEX_GP|fail|an index block freed without a grace period is still walked by a reader"
	"data-gp|-DDATA_GP|pass|a grace period before the wait as well (the previous order) is safe too"
	"data-gp+no-recheck|-DDATA_GP -DNO_RECHECK|pass|with that grace period the re-check would not be needed"
)
;;
*)
	echo "run-model.sh: no model '$model' (blockref or pins)" >&2
	exit 2
	;;
esac

start=$(date +%s.%N)
failures=0

for v in "${variants[@]}"; do
	IFS='|' read -r name flags expect what want <<<"$v"
	read -r -a D <<<"$flags"	# the -D options as separate words
	dir="$tmp/$name"
	mkdir -p "$dir"
	cp "$here/$model" "$dir/"
	(cd "$dir" && "$spin" "${D[@]}" -a "$model") >"$dir/spin.log" 2>&1 || {
		echo "FAIL $name: spin -a failed"; cat "$dir/spin.log"; failures=$((failures + 1)); continue; }

	if [ "$expect" = pass ]; then
		# Depth-first, exhaustive; the depth bound is far above what the
		# model reaches (about 100) and truncation is checked below.
		cflags="-O2 -DSAFETY"
		panargs="-m100000 -w20"
	else
		# Breadth-first gives the shortest counterexample.
		cflags="-O2 -DSAFETY -DBFS"
		panargs="-w20"
	fi
	# -w: pan.c trips gcc's -Wstringop-overflow on its own undo code
	# shellcheck disable=SC2086
	(cd "$dir" && cc $cflags -w -o pan pan.c) >"$dir/cc.log" 2>&1 || {
		echo "FAIL $name: compiling pan failed"; cat "$dir/cc.log"; failures=$((failures + 1)); continue; }
	# pan's exit status does not reflect errors; the output is parsed instead.
	# shellcheck disable=SC2086
	(cd "$dir" && ./pan $panargs) >"$dir/pan.out" 2>&1 || true

	out="$dir/pan.out"
	errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$out" | head -n1)
	stored=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' "$out" | head -n1)
	if [ -z "$errors" ] || [ -z "$stored" ]; then
		echo "FAIL $name: could not parse pan output"; cat "$out"; failures=$((failures + 1)); continue
	fi

	if [ "$expect" = pass ]; then
		if [ "$errors" -ne 0 ]; then
			echo "FAIL $name: expected no errors, got $errors ($stored states): $what"
			grep -E '^pan:' "$out" || true
			(cd "$dir" && "$spin" "${D[@]}" -t -p "$model" 2>&1 | sed '/^#processes/,$d' | tail -n 30) || true
			failures=$((failures + 1))
		elif grep -qiE 'depth too small|search not completed|bitstate' "$out"; then
			echo "FAIL $name: search was not exhaustive ($stored states)"; cat "$out"
			failures=$((failures + 1))
		else
			echo "ok   $name: no errors, exhaustive, $stored states stored -- $what"
		fi
	else
		if [ "$errors" -ge 1 ] && grep -q 'assertion violated' "$out" &&
			{ [ -z "$want" ] || grep -F 'assertion violated' "$out" | grep -qF "$want"; }; then
			echo "ok   $name: counterexample found as expected ($stored states stored) -- $what"
			grep -E '^pan:[0-9]+: ' "$out" | sed 's/^/     /'
			echo "     --- trail (spin -t -p, last 30 steps) ---"
			(cd "$dir" && "$spin" "${D[@]}" -t -p "$model" 2>&1 | sed '/^#processes/,$d' | tail -n 30) |
				sed 's/^/     /' || true
		else
			echo "FAIL $name: expected an assertion violation${want:+ of '$want'}, got errors: $errors ($stored states): $what"
			grep -E '^pan:' "$out" || true
			failures=$((failures + 1))
		fi
	fi
done

end=$(date +%s.%N)
elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
if [ "$failures" -ne 0 ]; then
	echo "model check: $failures unexpected outcome(s) (${elapsed}s)"
	exit 1
fi
echo "model check: all ${#variants[@]} variants as expected (${elapsed}s)"
