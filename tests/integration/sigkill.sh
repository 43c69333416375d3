#!/bin/bash
# SPDX-License-Identifier: MIT
# SIGKILL of the daemon (by its PID), then remount:
#  1. a quiescent tree (cp -a of a real tree plus a deterministic mix of
#     overwrites, truncates, appends, renames, unlinks, links, symlinks,
#     mkdirs and chmods applied to both the mount and a reference copy) is
#     identical to the reference after the kill, without any sync first;
#  2. three times, the daemon is killed in the middle of a busy writer
#     (create+write+fsync, renames, unlinks): every operation that returned
#     is there after the remount, the one in flight is all-or-nothing, the
#     tree is consistent, and once it is deleted statfs is back at the
#     start values (no leaked blocks or inodes);
#  3. the pool still unmounts cleanly and mounts again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
REF=$T/ref
mkpool "$T/p.pool" -s 192M
mount_fs "$T/p.pool" "$M"
touch "$M/anchor"
read -r B0 I0 < <(statfs_line "$M")

say "reference tree"
"$PY" - "$REF" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(99)
os.makedirs(root)
for i in range(30):
    os.makedirs(os.path.join(root, "gen", "d%02d" % i, "sub"))
for i in range(600):
    d = os.path.join(root, "gen", "d%02d" % (i % 30), "sub" if i % 4 == 0 else "")
    with open(os.path.join(d, "f%04d" % i), "wb") as f:
        f.write(rng.randbytes(rng.choice((0, 10, 4096, rng.randrange(70000)))))
EOF
if [[ -d /usr/include/linux ]]; then
	cp -a /usr/include/linux "$REF/linux"
fi
pass "reference tree has $(find "$REF" | wc -l) entries"
cp -a "$REF" "$M/tree"
pass "copied into the filesystem with cp -a"

cat >"$T/py/mutate.py" <<'EOF'
import os, random, stat, sys, zlib
def mutate(root, seed, nops=300):
    rng = random.Random(seed)
    os.chdir(root)
    def listing():
        files, dirs = [], ["."]
        for dp, dn, fn in os.walk("."):
            dn.sort()
            dirs.extend(os.path.join(dp, n) for n in dn)
            files.extend(os.path.join(dp, n) for n in sorted(fn)
                         if stat.S_ISREG(os.lstat(os.path.join(dp, n)).st_mode))
        return sorted(files), sorted(dirs)
    files, dirs = listing()
    for k in range(nops):
        if k % 25 == 0:
            files, dirs = listing()
        op = rng.randrange(9)
        f = rng.choice(files)
        if not os.path.exists(f):
            continue
        size = os.stat(f).st_size
        if op == 0:
            fd = os.open(f, os.O_WRONLY)
            os.pwrite(fd, rng.randbytes(rng.randrange(1, 30000)), rng.randrange(size + 10000))
            os.close(fd)
        elif op == 1:
            os.truncate(f, rng.randrange(2 * size + 5000))
        elif op == 2:
            with open(f, "ab") as fh:
                fh.write(rng.randbytes(rng.randrange(1, 9000)))
        elif op == 3:
            os.rename(f, os.path.join(rng.choice(dirs), "mv%04d" % k))
        elif op == 4:
            os.unlink(f)
        elif op == 5:
            os.link(f, os.path.join(rng.choice(dirs), "hl%04d" % k))
        elif op == 6:
            os.symlink(f + "-target-%d" % k, os.path.join(rng.choice(dirs), "sl%04d" % k))
        elif op == 7:
            os.mkdir(os.path.join(rng.choice(dirs), "nd%04d" % k))
        else:
            os.chmod(f, rng.choice((0o600, 0o644, 0o755, 0o400, 0o4755)))
    # fixed times for everything but symlinks, deepest first, in a fixed
    # order (hard links share one mtime: the last path set wins)
    paths = []
    for dp, dn, fn in os.walk("."):
        paths.extend(os.path.join(dp, n) for n in fn + dn)
    for p in sorted(paths, key=lambda p: (-p.count("/"), p)):
        if not os.path.islink(p):
            t = 1_600_000_000 * 10**9 + zlib.crc32(p.encode()) * 1000
            os.utime(p, ns=(t, t))
if __name__ == "__main__":
    mutate(sys.argv[1], int(sys.argv[2]))
EOF
"$PY" "$T/py/mutate.py" "$REF" 5
"$PY" "$T/py/mutate.py" "$M/tree" 5
pass "the same 300 mutations applied to the reference and to the mount"
compare_trees "mount vs reference before the kill" "$REF" "$M/tree"

say "SIGKILL the daemon (no sync, no unmount) and remount"
kill_daemon "$M"
pass "daemon SIGKILLed"
mount_fs "$T/p.pool" "$M"
compare_trees "mount vs reference after SIGKILL and remount" "$REF" "$M/tree"
"$PY" "$T/py/mutate.py" "$REF" 6
"$PY" "$T/py/mutate.py" "$M/tree" 6
kill_daemon "$M"
mount_fs "$T/p.pool" "$M"
compare_trees "second round of mutations, SIGKILL, remount" "$REF" "$M/tree"
rm -rf "$REF"

cat >"$T/py/busy.py" <<'EOF'
# Busy writer: logs every operation before ("begin") and after ("done") it
# runs, to a log file outside the filesystem.
import hashlib, json, os, random, sys, time
root, logpath, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
log = open(logpath, "a")
def note(**kw):
    log.write(json.dumps(kw) + "\n")
    log.flush()
os.makedirs(os.path.join(root, "a"), exist_ok=True)
os.makedirs(os.path.join(root, "b"), exist_ok=True)
live = []
# The files kept stay within 48 MiB of the 192 MiB pool however fast the
# writer runs before the kill: beyond, it removes instead of creating.
size = {}
BUDGET = 48 << 20
n = 0
while True:
    n += 1
    r = rng.random()
    if (r < 0.6 or len(live) < 5) and sum(size.values()) < BUDGET:
        name = "%s/f%05d" % (rng.choice("ab"), n)
        data = rng.randbytes(rng.choice((1, 4096, rng.randrange(1, 200000))))
        sha = hashlib.sha256(data).hexdigest()
        note(op="create", name=name, sha=sha, state="begin")
        fd = os.open(os.path.join(root, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        note(op="create", name=name, sha=sha, state="done")
        live.append(name)
        size[name] = len(data)
    elif r < 0.85:
        src = live.pop(rng.randrange(len(live)))
        dst = "%s/r%05d" % (rng.choice("ab"), n)
        note(op="rename", name=src, dst=dst, state="begin")
        os.rename(os.path.join(root, src), os.path.join(root, dst))
        note(op="rename", name=src, dst=dst, state="done")
        live.append(dst)
        size[dst] = size.pop(src)
    else:
        victim = live.pop(rng.randrange(len(live)))
        note(op="unlink", name=victim, state="begin")
        os.unlink(os.path.join(root, victim))
        note(op="unlink", name=victim, state="done")
        size.pop(victim)
EOF

cat >"$T/py/busycheck.py" <<'EOF'
import hashlib, json, os, sys
from dxcheck import *
root, logpath, cycle = sys.argv[1], sys.argv[2], sys.argv[3]
files = {}      # name -> sha of completed state
inflight = None
shas = {}
for line in open(logpath):
    e = json.loads(line)
    if e["state"] == "begin":
        inflight = e
        continue
    inflight = None
    if e["op"] == "create":
        files[e["name"]] = e["sha"]
    elif e["op"] == "rename":
        files[e["dst"]] = files.pop(e["name"])
    else:
        files.pop(e["name"])
done = sum(1 for _ in open(logpath)) // 2
present = {}
for d in ("a", "b"):
    for n in os.listdir(os.path.join(root, d)):
        p = os.path.join(root, d, n)
        present[d + "/" + n] = hashlib.sha256(read_file(p)).hexdigest()
expected = dict(files)
amb = ""
if inflight:
    amb = "%s %s" % (inflight["op"], inflight["name"])
    if inflight["op"] == "create":
        # may be absent, or present (its content may be partial: no fsync yet)
        present.pop(inflight["name"], None)
    elif inflight["op"] == "rename":
        s, d = inflight["name"], inflight["dst"]
        if (s in present) == (d in present):
            fail("cycle %s: the rename %s -> %s in flight at the kill is neither done nor undone (source %s, target %s)"
                 % (cycle, s, d, s in present, d in present))
        if d in present:
            expected[d] = expected.pop(s)
    else:
        if inflight["name"] not in present:
            expected.pop(inflight["name"])
missing = sorted(set(expected) - set(present))
extra = sorted(set(present) - set(expected))
wrong = sorted(n for n in expected if n in present and present[n] != expected[n])
eq(missing[:10], [], "cycle %s: every completed operation (%d) is there after the kill (in flight: %s)" % (cycle, done, amb or "none"))
eq(extra[:10], [], "cycle %s: no files that should not exist" % cycle)
eq(wrong[:10], [], "cycle %s: all %d surviving files have the contents written" % (cycle, len(expected)))
EOF

say "SIGKILL in the middle of a busy writer, three times"
rm -rf "$M/tree"
check_eq "after two SIGKILLs, removing the tree brings statfs back to the start values" \
	"$B0 $I0" "$(wait_statfs "$M" "$B0 $I0")"
for cycle in 1 2 3; do
	: >"$T/busy.log"
	"$PY" "$T/py/busy.py" "$M/live" "$T/busy.log" "$cycle" 2>"$T/busy.err" &
	W=$!
	bg_track "$W"
	sleep $((cycle)).$((cycle * 3))
	pid_alive "$W" || die "the busy writer died before the kill: $(cat "$T/busy.err")"
	kill_daemon "$M" --no-detach
	stop_bg "$W"
	detach_mount "$M"
	pass "cycle $cycle: daemon SIGKILLed during $(($(wc -l <"$T/busy.log") / 2)) writer operations"
	mount_fs "$T/p.pool" "$M"
	run_py "$M/live" "$T/busy.log" "$cycle" <"$T/py/busycheck.py"
	rm -rf "$M/live"
	check_eq "cycle $cycle: after deleting the writer's files statfs is back at the start values" \
		"$B0 $I0" "$(wait_statfs "$M" "$B0 $I0")"
done

say "clean unmount and mount after all the kills"
umount_fs "$M"
pass "clean unmount after recovery: daemon exited 0"
mount_fs "$T/p.pool" "$M"
check_eq "statfs after the clean remount" "$B0 $I0" "$(statfs_line "$M")"
check_eq "only the anchor is left" anchor "$(ls -A "$M")"
umount_fs "$M"
finish
