# SPDX-License-Identifier: MIT
# bench/run.sh's disk configuration, sourced by run.sh (it uses run.sh's
# say, die, note, measure, wait_mount, wait_idle, check_alive, MNT, PID and
# LOG; run.sh's cleanup unmounts what is in PID and removes DISK_DIR).
#
# What a user without pmem gets: daxfs on a pool file on the disk that
# holds /var/lib, as tools/quickstart.sh makes it (persistence by msync, no
# PMEM_IS_PMEM_FORCE), against fuse2fs on an ext4 image file on the same
# disk and the host filesystem itself, with bench/disk_workloads.py (every
# workload durable through fsync, fdatasync or SQLite's synchronous=FULL).

DISK_FSLIST="ddaxfs dfuse2fs dhost"
DISK_DIR=""

disk_mount_ddaxfs() {
	local pool=$DISK_DIR/pool.daxfs
	say "disk: mkfs.daxfs -s ${DISK_FS_MB}M $pool"
	"$MKFS" -f -s "${DISK_FS_MB}M" "$pool" >"$T/mkfs.ddaxfs.log" 2>&1 ||
		die "mkfs.daxfs failed: $(tail -n 5 "$T/mkfs.ddaxfs.log")"
	grep -q "pmem: *no" "$T/mkfs.ddaxfs.log" ||
		die "the pool on $DISK_DIR is not an msync pool: $(grep pmem "$T/mkfs.ddaxfs.log")"
	LOG[ddaxfs]=$T/ddaxfs.log
	env -u PMEM_IS_PMEM_FORCE "$DAXFS" "$pool" "${MNT[ddaxfs]}" -f >"${LOG[ddaxfs]}" 2>&1 &
	PID[ddaxfs]=$!
	wait_mount ddaxfs fuse.daxfs
}

disk_mount_dfuse2fs() {
	local img=$DISK_DIR/ext4.img opts=()
	say "disk: mkfs.ext4 on a ${DISK_FS_MB} MiB image in $DISK_DIR"
	fallocate -l "${DISK_FS_MB}M" "$img" || die "cannot create $img"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img" >"$T/mkfs.dext4.log" 2>&1 ||
		die "mkfs.ext4 failed: $(tail -n 5 "$T/mkfs.dext4.log")"
	[[ $IS_ROOT -eq 1 ]] || opts=(-o fakeroot)
	LOG[dfuse2fs]=$T/dfuse2fs.log
	fuse2fs "$img" "${MNT[dfuse2fs]}" -f "${opts[@]}" >"${LOG[dfuse2fs]}" 2>&1 &
	PID[dfuse2fs]=$!
	wait_mount dfuse2fs fuse.ext4
}

disk_mount_dhost() {
	MNT[dhost]=$DISK_DIR/host
	mkdir -p "${MNT[dhost]}/fio"
}

# A filesystem's work directory: wait_mount made fio/ on the mounts.
disk_workdir() {
	echo "${MNT[$1]}/fio"
}

disk_unmount_all() {
	local fs
	for fs in ddaxfs dfuse2fs; do
		[[ -n "${PID[$fs]:-}" ]] || continue
		fuse_unmount "${MNT[$fs]}"
		wait_pid_exit "${PID[$fs]}" 60 || die "the $fs daemon did not exit after its unmount"
		wait "${PID[$fs]}" 2>/dev/null || true
		unset "PID[$fs]"
	done
}

disk_run() {
	local round fs w unit val rotation out raw=$T/disk.raw.tsv qarg=() workloads
	local base
	base=$(df -P /var/lib | awk 'NR == 2 { print $6 }')
	DISK_FS_MB=$((QUICK ? 768 : 1024))
	local free_mb
	free_mb=$(df -Pm /var/lib | awk 'NR == 2 { print $4 }')
	[[ $free_mb -ge $((2 * DISK_FS_MB + 512)) ]] ||
		die "/var/lib has $free_mb MiB free, the disk configuration needs $((2 * DISK_FS_MB + 512)) MiB"
	DISK_DIR=$(mktemp -d /var/lib/daxfs-bench.XXXXXX) || die "cannot make a directory in /var/lib"
	say "disk configuration: $DISK_DIR (on $(df -P /var/lib | awk 'NR == 2 { print $1 }'), mounted on $base)"
	[[ $QUICK -eq 1 ]] && qarg=(--quick)
	workloads=$("$PY" "$REPO/bench/disk_workloads.py" list) || die "bench/disk_workloads.py list failed"
	for fs in $DISK_FSLIST; do
		MNT[$fs]=$T/mnt/$fs
		mkdir -p "${MNT[$fs]}"
		"disk_mount_$fs"
	done
	: >"$raw"
	local start_date start_load start_s end_load
	start_date=$(date -u '+%Y-%m-%d %H:%M UTC')
	start_load=$(cut -d' ' -f1-3 /proc/loadavg)
	start_s=$(date +%s)
	for ((round = 1; round <= ROUNDS; round++)); do
		say "disk: round $round of $ROUNDS"
		rotation=$(disk_order "$round")
		while read -r w unit; do
			wait_idle
			for fs in $rotation; do
				check_alive "$fs"
				out=$T/disk.out
				measure "$fs" "$PY" "$REPO/bench/disk_workloads.py" run "$w" \
					"$(disk_workdir "$fs")" "${qarg[@]}" >"$out" 2>"$T/disk.err" || {
					check_alive "$fs"
					die "$w on $fs failed: $(tail -n 5 "$T/disk.err")"
				}
				val=$(cat "$out")
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$w" "$unit" "$fs" "$val" \
					"$OTHER_CPU" "$STEAL" >>"$raw"
				printf '  %-20s %-9s %12s %-9s other CPU %5s%%, steal %5s%%\n' "$w" "$fs" \
					"$val" "$unit" "$OTHER_CPU" "$STEAL" >&2
			done
		done <<<"$workloads"
	done
	end_load=$(cut -d' ' -f1-3 /proc/loadavg)
	disk_unmount_all
	local mode=full
	[[ $QUICK -eq 1 ]] && mode=quick
	{
		echo "### $start_date, disk configuration, $mode, $ROUNDS round(s)"
		echo
		echo "- kernel $(uname -r), $(nproc) CPUs; $(df -P /var/lib | awk 'NR == 2 { print $1 }') mounted on $base ($(findmnt -n -o FSTYPE --target /var/lib)), holding /var/lib"
		echo "- daxfs $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') on a ${DISK_FS_MB} MiB pool file there (msync persistence, no PMEM_IS_PMEM_FORCE); fuse2fs $(dpkg-query -W -f '${Version}' fuse2fs 2>/dev/null) on a ${DISK_FS_MB} MiB ext4 image there; the host filesystem in a directory there"
		echo "- load average before ${start_load}, after ${end_load}; $(($(date +%s) - start_s)) s"
		echo
		"$PY" "$REPO/bench/disk_workloads.py" report "$raw" $DISK_FSLIST
		echo
	} >"$T/disk.report.md"
	cat "$T/disk.report.md"
	[[ -z "${RAW_OUT:-}" ]] || cp "$raw" "$RAW_OUT.disk"
	if [[ $RECORD -eq 1 ]]; then
		cat "$T/disk.report.md" >>"$RESULTS"
		say "appended the disk configuration to $RESULTS"
	fi
}

# The filesystems of the disk configuration in a rotated order per round.
disk_order() {
	local r=$1 arr n i order=()
	read -r -a arr <<<"$DISK_FSLIST"
	n=${#arr[@]}
	for ((i = 0; i < n; i++)); do
		order+=("${arr[$(((i + r) % n))]}")
	done
	echo "${order[@]}"
}
