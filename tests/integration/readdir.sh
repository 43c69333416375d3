#!/bin/bash
# SPDX-License-Identifier: MIT
# readdir stays correct while the directory changes: a directory of 3000
# entries is read with small getdents64 buffers while entries are created and
# deleted between the calls (in this process and in a concurrent one).
# Every entry that exists for the whole scan is returned exactly once, no
# name is returned twice, nothing that never existed is returned; a fresh
# listing afterwards is exact; telldir/seekdir cookies stay valid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M -N 16384
mount_fs "$T/p.pool" "$M"

run_py "$M" <<'EOF'
import os, random, sys
from dxcheck import *
os.chdir(sys.argv[1])
rng = random.Random(42)
os.mkdir("d")
N = 3000
initial = ["f%05d-%s" % (i, "x" * (i % 40)) for i in range(N)]
for n in initial:
    os.close(os.open("d/" + n, os.O_WRONLY | os.O_CREAT, 0o644))
eq(len(os.listdir("d")), N, "3000 entries created")

def scan(mutate, bufsize):
    """getdents64 loop; calls mutate() after every call.  Returns the list of
    names seen (without . and ..)."""
    fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
    seen = []
    calls = 0
    while True:
        ents = getdents64(fd, bufsize)
        if not ents:
            break
        calls += 1
        for ino, off, typ, name in ents:
            if name not in (".", ".."):
                seen.append(name)
        mutate()
        if calls > 100000:
            fail("getdents64 never reached the end of the directory")
    os.close(fd)
    return seen, calls

for rnd, bufsize in enumerate((600, 2048, 32768)):
    present = set(os.listdir("d"))
    start = set(present)
    removed, added = set(), set()
    counter = [0]

    def mutate():
        # delete 3 random entries, create 3 new ones
        for _ in range(3):
            if present:
                victim = rng.choice(sorted(present)) if len(present) < 50 else rng.sample(sorted(present), 1)[0]
                os.unlink("d/" + victim)
                present.discard(victim)
                removed.add(victim)
        for _ in range(3):
            counter[0] += 1
            n = "n%d-%05d-%s" % (rnd, counter[0], "y" * rng.randrange(60))
            os.close(os.open("d/" + n, os.O_WRONLY | os.O_CREAT, 0o644))
            present.add(n)
            added.add(n)

    seen, calls = scan(mutate, bufsize)
    dups = {n for n in seen if seen.count(n) > 1} if len(seen) < 20000 else set()
    eq(sorted(dups), [], "round %d (%d-byte buffer, %d calls): no name returned twice" % (rnd, bufsize, calls))
    stable = start - removed
    missing = stable - set(seen)
    eq(sorted(missing)[:10], [], "round %d: every entry that existed throughout the scan was returned (%d of them)" % (rnd, len(stable)))
    bogus = set(seen) - start - added
    eq(sorted(bogus)[:10], [], "round %d: nothing that never existed was returned" % rnd)
    eq(set(os.listdir("d")), present, "round %d: a fresh listing afterwards is exact (%d entries)" % (rnd, len(present)))

# telldir/seekdir: cookies from the middle of a scan stay valid after the
# directory changes (entries before and after the cookie are removed and
# added).
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.c_void_p
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.closedir.argtypes = [ctypes.c_void_p]

def dname(p):
    return ctypes.string_at(p + 19).decode()

dp = libc.opendir(os.fsencode(os.path.join(sys.argv[1], "d")))
names_before = []
for _ in range(1000):
    names_before.append(dname(libc.readdir(dp)))
cookie = libc.telldir(dp)
rest1 = []
while True:
    p = libc.readdir(dp)
    if not p:
        break
    rest1.append(dname(p))
# change the directory: remove some entries already read, add some new ones
for n in [x for x in names_before if x not in (".", "..")][:100]:
    os.unlink("d/" + n)
for i in range(100):
    os.close(os.open("d/late%03d" % i, os.O_WRONLY | os.O_CREAT, 0o644))
libc.seekdir(dp, cookie)
rest2 = []
while True:
    p = libc.readdir(dp)
    if not p:
        break
    rest2.append(dname(p))
libc.closedir(dp)
missing = [n for n in rest1 if n not in set(rest2)]
eq(missing[:10], [], "after seekdir to a saved cookie every later entry is returned again (%d)" % len(rest1))
eq(len(rest2), len(set(rest2)), "no duplicates after seekdir")
check(not (set(rest2) & set(names_before[:1000]) - {".", ".."}),
      "entries before the cookie are not returned again after seekdir")
EOF

say "concurrent: one process scans while another creates and deletes"
run_py "$M" <<'EOF'
import os, signal, sys, time
from dxcheck import *
os.chdir(sys.argv[1])
os.mkdir("c")
stable = ["stable%04d" % i for i in range(1500)]
for n in stable:
    os.close(os.open("c/" + n, os.O_WRONLY | os.O_CREAT, 0o644))
pid = os.fork()
if pid == 0:
    i = 0
    end = time.monotonic() + 30
    try:
        while time.monotonic() < end:
            n = "c/churn%06d" % i
            os.close(os.open(n, os.O_WRONLY | os.O_CREAT, 0o644))
            if i >= 20:
                os.unlink("c/churn%06d" % (i - 20))
            i += 1
    finally:
        os._exit(0)
scans = 0
try:
    t_end = time.monotonic() + 8
    while time.monotonic() < t_end:
        fd = os.open("c", os.O_RDONLY | os.O_DIRECTORY)
        seen = []
        while True:
            ents = getdents64(fd, 1024)
            if not ents:
                break
            seen.extend(n for _, _, _, n in ents)
        os.close(fd)
        scans += 1
        names = [n for n in seen if n.startswith("stable")]
        if sorted(names) != stable:
            miss = sorted(set(stable) - set(names))[:5]
            dup = len(names) - len(set(names))
            fail("scan %d under concurrent churn: %d stable entries returned (missing %s, %d duplicates)"
                 % (scans, len(names), miss, dup))
        if len(seen) != len(set(seen)):
            fail("scan %d under concurrent churn returned a name twice" % scans)
finally:
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
check(scans > 0, "%d full scans under concurrent create/delete each returned all 1500 stable entries exactly once" % scans)
EOF

say "255-byte names"
run_py "$M" <<'EOF'
import os, sys
from dxcheck import *
os.chdir(sys.argv[1])
os.mkdir("long")
names = ["%04d" % i + chr(ord("a") + i % 26) * 251 for i in range(300)]
for n in names:
    os.close(os.open("long/" + n, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
eq(sorted(os.listdir("long")), names, "300 entries with 255-byte names are listed exactly")
for n in names[::3]:
    os.unlink("long/" + n)
eq(sorted(os.listdir("long")), [n for i, n in enumerate(names) if i % 3], "after removing every third one the rest are listed")
for n in names[::3]:
    os.close(os.open("long/" + n, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
eq(sorted(os.listdir("long")), names, "re-created names fill the gaps and are listed")
EOF

say "remount and list"
ls -A "$M/long" >"$T/long.before"
n_before=$(ls -A "$M/d" | wc -l)
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
check_eq "entry count of the churned directory after remount" "$n_before" "$(ls -A "$M/d" | wc -l)"
check_eq "the 255-byte names after remount" "$(cat "$T/long.before")" "$(ls -A "$M/long")"
umount_fs "$M"
finish
