#!/bin/bash
# SPDX-License-Identifier: MIT
# Rename storms: several processes rename concurrently (files to fresh names
# in other directories, RENAME_EXCHANGE of random pairs, directories moved
# between directories and RENAME_EXCHANGE of directories, including attempts
# to move a directory below itself),
# then consistency checks: every file exists exactly once with its content
# and nlink 1, every directory is reachable once with a correct "..", no
# inode was leaked; the same after unmount and remount, and after a SIGKILL
# of the daemon in the middle of another storm.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M"

cat >"$T/py/stormcheck.py" <<'EOF'
import os, stat, sys
from dxcheck import *
def check_tree(root, nfiles, ndirs, label):
    """Walk root; every file id 0..nfiles-1 exactly once, ndirs dirs."""
    ids = {}
    dirs = 0
    stack = [root]
    visited = set()
    while stack:
        d = stack.pop()
        st = os.lstat(d)
        if st.st_ino in visited:
            fail("%s: directory inode %d reached twice (%s): a loop or a doubly linked directory" % (label, st.st_ino, d))
        visited.add(st.st_ino)
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        ents = []
        while True:
            e = getdents64(fd, 32768)
            if not e:
                break
            ents.extend(e)
        os.close(fd)
        for ino, off, typ, name in ents:
            if name == "..":
                if d != root and ino != os.lstat(os.path.dirname(d)).st_ino:
                    fail("%s: '..' of %s is inode %d, its parent is %d" % (label, d, ino, os.lstat(os.path.dirname(d)).st_ino))
                continue
            if name == ".":
                continue
            p = os.path.join(d, name)
            st = os.lstat(p)
            if st.st_ino != ino:
                fail("%s: readdir d_ino %d of %s differs from lstat %d" % (label, ino, p, st.st_ino))
            if stat.S_ISDIR(st.st_mode):
                dirs += 1
                stack.append(p)
            else:
                if st.st_nlink != 1:
                    fail("%s: %s has nlink %d" % (label, p, st.st_nlink))
                content = read_file(p)
                if not content.startswith(b"id="):
                    fail("%s: %s has unexpected content %r" % (label, p, content[:40]))
                fid = int(content[3:].split(b";")[0])
                if fid in ids:
                    fail("%s: file id %d found twice: %s and %s" % (label, fid, ids[fid], p))
                ids[fid] = p
    missing = sorted(set(range(nfiles)) - set(ids))
    eq(missing[:10], [], "%s: every one of the %d files exists exactly once with its content and nlink 1" % (label, nfiles))
    eq(dirs, ndirs, "%s: all %d directories are reachable exactly once, each with a correct '..'" % (label, ndirs))

import errno, random, signal, time

def all_dirs():
    out = []
    for dp, dn, fn in os.walk("."):
        out.extend(os.path.join(dp, n) for n in dn)
    return out

def worker(p, duration):
    rng = random.Random(p)
    stats = dict(moved=0, exchanged=0, dirmoves=0, einval=0, enoent=0)
    end = time.monotonic() + duration
    k = 0
    while time.monotonic() < end:
        dirs = all_dirs() or ["."]
        d = rng.choice(dirs)
        try:
            names = [n for n in os.listdir(d)]
        except FileNotFoundError:
            stats["enoent"] += 1
            continue
        files = [n for n in names if not n.startswith("d")]
        r = rng.random()
        try:
            if r < 0.55 and files:
                k += 1
                src = os.path.join(d, rng.choice(files))
                dst = os.path.join(rng.choice(dirs), "p%d-%06d" % (p, k))
                os.rename(src, dst)
                stats["moved"] += 1
            elif r < 0.66:
                # exchange two directories (EINVAL if one holds the other)
                real = [x for x in dirs if x != "."]
                if len(real) >= 2:
                    a, b = rng.sample(real, 2)
                    renameat2(a, b, RENAME_EXCHANGE)
                    stats["direxchanged"] = stats.get("direxchanged", 0) + 1
            elif r < 0.85 and files:
                d2 = rng.choice(dirs)
                f2 = [n for n in os.listdir(d2) if not n.startswith("d")]
                if f2:
                    renameat2(os.path.join(d, rng.choice(files)), os.path.join(d2, rng.choice(f2)), RENAME_EXCHANGE)
                    stats["exchanged"] += 1
            else:
                src = rng.choice(dirs)
                if src == ".":
                    continue
                target_parent = rng.choice(dirs + ["."])
                k += 1
                os.rename(src, os.path.join(target_parent, "d-%d-%06d" % (p, k)))
                stats["dirmoves"] += 1
        except FileNotFoundError:
            stats["enoent"] += 1
        except OSError as e:
            if e.errno == errno.EINVAL:
                stats["einval"] += 1   # a directory below itself
            elif e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                stats["enoent"] += 1   # raced: the name changed meaning
            else:
                raise
    return stats

def run_until_killed(root, nproc):
    """Renamers that run until the daemon dies under them."""
    os.chdir(root)
    pids = []
    def stop(sig, frame):
        # Stopped by the test: the renamers go too, not only this parent.
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        os._exit(1)
    signal.signal(signal.SIGTERM, stop)
    for p in range(nproc):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                worker(100 + p, 3600)
            except BaseException:
                pass
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
EOF

NFILES=400
NDIRS=24
say "storm"
run_py "$M" "$NFILES" "$NDIRS" "$T/counts" <<'EOF'
import os, sys
from dxcheck import *
from stormcheck import check_tree, worker
import random, signal, time
m, NFILES, NDIRS, countsfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.chdir(m)
write_file("anchor", b"")
base = free_counts(".")
os.mkdir("s")
os.chdir("s")
for i in range(NDIRS):
    os.mkdir("d%02d" % i)
for i in range(NFILES):
    write_file("d%02d/init%04d" % (i % NDIRS, i), b"id=%d;" % i + b"x" * (i % 3000))

NPROC, DURATION = 4, 12.0

import errno, json
t0 = time.monotonic()
pids = []
for p in range(NPROC):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            st = worker(p, DURATION)
            os.write(w, json.dumps(st).encode())
        except BaseException as e:
            print("FAIL: renamer %d: %r" % (p, e), file=sys.stderr, flush=True)
            code = 1
        os._exit(code)
    os.close(w)
    pids.append((pid, r))
totals = {}
bad = 0
for pid, r in pids:
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        bad += 1
        continue
    for k, v in json.loads(data).items():
        totals[k] = totals.get(k, 0) + v
eq(bad, 0, "%d renamer processes ran %.0f s without unexpected errors (%s)" % (NPROC, time.monotonic() - t0, totals))
check(totals.get("moved", 0) > 50 and totals.get("exchanged", 0) > 10 and totals.get("dirmoves", 0) > 5,
      "the storm did a fair number of renames of each kind")
check_tree(".", NFILES, NDIRS, "after the storm")
os.chdir(m)
eq(free_counts(".")[1], base[1] - NFILES - NDIRS - 1, "free inodes account for exactly the files and directories")
with open(countsfile, "w") as f:
    f.write("%d %d" % base)
EOF

say "unmount, remount, check again"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
run_py "$M/s" "$NFILES" "$NDIRS" <<'EOF'
import sys
from stormcheck import check_tree
check_tree(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "after remount")
EOF
say "SIGKILL the daemon in the middle of a storm, remount, check"
"$PY" -c 'import sys, stormcheck; stormcheck.run_until_killed(sys.argv[1], 4)' "$M/s" 2>"$T/storm2.err" &
STORM=$!
bg_track "$STORM"
# Killed once these renamers have moved 100 files (to names starting
# with p100- to p103-), not after a time.
for ((i = 0; i < 2400; i++)); do
	# (find fails when a directory moves under it: a partial count is fine)
	moved=$({ find "$M/s" -name 'p10[0-3]-*' 2>/dev/null || true; } | wc -l)
	((moved >= 100)) && break
	pid_alive "$STORM" || break
	sleep 0.05
done
pid_alive "$STORM" || die "the renamers stopped before the kill: $(tail -n 5 "$T/storm2.err")"
((moved >= 100)) || die "the renamers moved only $moved files in 120 s"
kill_daemon "$M" --no-detach
stop_bg "$STORM"
detach_mount "$M"
pass "daemon SIGKILLed while 4 processes were renaming"
mount_fs "$T/p.pool" "$M"
run_py "$M/s" "$NFILES" "$NDIRS" <<'EOF'
import sys
from stormcheck import check_tree
check_tree(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "after SIGKILL mid-storm")
EOF
rm -rf "$M/s"
base=$(cat "$T/counts")
check_eq "after removing the tree statfs is back at the start values" "$base" "$(wait_statfs "$M" "$base")"
umount_fs "$M"
finish
