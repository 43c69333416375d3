#!/bin/bash
# SPDX-License-Identifier: MIT
# Concurrent writers from several processes: each process rewrites its own
# file, owns interleaved stripes of one shared file, appends fixed-size
# records to one shared O_APPEND log, and creates/deletes files in one shared
# directory.  Afterwards every file, stripe and record is checked, the same
# after unmount/remount, and statfs shows no leaked blocks or inodes.  Then
# four processes race to create, link, rename, exchange and remove the same
# eight names; the names left must be consistent (nlink = number of names).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 128M
mount_fs "$T/p.pool" "$M"

run_py "$M" "$T/sums" <<'EOF'
import hashlib, os, random, struct, sys, time
from dxcheck import *
m, sumsfile = sys.argv[1], sys.argv[2]
os.chdir(m)
# the root directory keeps an entry so that its own blocks do not change
write_file("anchor", b"")
with open(sumsfile + ".base", "w") as f:
    f.write("%d %d" % free_counts("."))
os.mkdir("work")
os.chdir("work")
NPROC = 4
STRIPE = 64 * 1024
NSTRIPES = 64             # shared file: 4 MiB
RECORD = 512
NRECORDS = 1500           # per process
ROUNDS = 4                # generations written into the stripes

os.mkdir("shared-dir")
fd = os.open("shared", os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, STRIPE * NSTRIPES)
os.close(fd)
os.close(os.open("log", os.O_WRONLY | os.O_CREAT, 0o644))

def stripe_data(stripe, gen):
    return pattern(stripe * 1000 + gen, STRIPE)

def record(p, seq):
    head = struct.pack("<IIQ", 0xD4A5F5, p, seq)
    body = hashlib.sha256(head).digest() * ((RECORD - len(head)) // 32)
    return (head + body)[:RECORD].ljust(RECORD, b"\xee")

def child(p):
    rng = random.Random(100 + p)
    own = "own%d" % p
    model = bytearray()
    ofd = os.open(own, os.O_RDWR | os.O_CREAT, 0o644)
    sfd = os.open("shared", os.O_RDWR)
    lfd = os.open("log", os.O_WRONLY | os.O_APPEND)
    my_stripes = [s for s in range(NSTRIPES) if s % NPROC == p]
    seq = 0
    created = 0
    for gen in range(ROUNDS):
        for s in my_stripes:
            os.pwrite(sfd, stripe_data(s, gen), s * STRIPE)
            # own file: random writes
            off = rng.randrange(0, 4 << 20)
            data = rng.randbytes(rng.randrange(1, 60000))
            os.pwrite(ofd, data, off)
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off:off + len(data)] = data
            # records
            for _ in range(NRECORDS // (ROUNDS * len(my_stripes)) + 1):
                if seq < NRECORDS:
                    if os.write(lfd, record(p, seq)) != RECORD:
                        raise SystemExit("short append")
                    seq += 1
            # shared directory churn
            name = "shared-dir/p%d-%05d" % (p, created)
            with open(name, "wb") as f:
                f.write(b"%d" % created)
            if created >= 5:
                os.unlink("shared-dir/p%d-%05d" % (p, created - 5))
            created += 1
    while seq < NRECORDS:
        os.write(lfd, record(p, seq))
        seq += 1
    os.close(lfd)
    os.close(sfd)
    got = os.pread(ofd, len(model) + 10, 0)
    os.close(ofd)
    if got != bytes(model):
        raise SystemExit("process %d: its own file differs from its model" % p)
    with open("own%d.sha" % p, "w") as f:
        f.write(hashlib.sha256(model).hexdigest())
    return created

t0 = time.monotonic()
pids = []
for p in range(NPROC):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            child(p)
        except BaseException as e:
            print("FAIL: writer %d: %r" % (p, e), file=sys.stderr, flush=True)
            code = 1
        os._exit(code)
    pids.append(pid)
bad = []
for pid in pids:
    _, status = os.waitpid(pid, 0)
    if status != 0:
        bad.append(pid)
eq(bad, [], "%d concurrent writer processes finished without errors (%.1f s)" % (NPROC, time.monotonic() - t0))

for p in range(NPROC):
    eq(sha256_file("own%d" % p), open("own%d.sha" % p).read(), "process %d's own file checksum" % p)
shared = read_file("shared")
eq(len(shared), STRIPE * NSTRIPES, "shared file size")
badstripes = [s for s in range(NSTRIPES) if shared[s * STRIPE:(s + 1) * STRIPE] != stripe_data(s, ROUNDS - 1)]
eq(badstripes[:10], [], "every stripe of the shared file holds its owner's last generation")
log = read_file("log")
eq(len(log), NPROC * NRECORDS * RECORD, "the O_APPEND log has every record (no lost or overlapping appends)")
seen = {p: [] for p in range(NPROC)}
for i in range(0, len(log), RECORD):
    rec = log[i:i + RECORD]
    magic, p, seq = struct.unpack_from("<IIQ", rec)
    if magic != 0xD4A5F5 or p >= NPROC or rec != record(p, seq):
        fail("log record at offset %d is torn or garbage" % i)
    seen[p].append(seq)
check(all(seen[p] == list(range(NRECORDS)) for p in range(NPROC)),
      "each process's records appear exactly once and in order")
names = sorted(os.listdir("shared-dir"))
eq(len(names), NPROC * 5, "the shared directory holds the last 5 files of each process")
check(all(read_file("shared-dir/" + n) == str(int(n.split("-")[1])).encode() for n in names),
      "files in the shared directory have their contents")
with open(sumsfile, "w") as f:
    for n in ["own%d" % p for p in range(NPROC)] + ["shared", "log"]:
        f.write("%s  %s\n" % (sha256_file(n), n))
EOF

say "contended names: 4 processes create, link, rename and remove the same 8 names"
run_py "$M" <<'EOF'
import errno, json, os, random, stat, sys, time
from dxcheck import *
os.chdir(sys.argv[1])
base = tuple(map(int, open(os.path.join(os.environ["T"], "sums.base")).read().split()))
os.mkdir("race")
os.chdir("race")
NAMES = ["n%d" % i for i in range(8)]
EXPECTED = {errno.EEXIST, errno.ENOENT, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR}

def worker(p):
    rng = random.Random(p)
    end = time.monotonic() + 5
    done = 0
    while time.monotonic() < end:
        a, b = rng.choice(NAMES), rng.choice(NAMES)
        op = rng.randrange(7)
        try:
            if op == 0:
                fd = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, b"x" * rng.randrange(1, 20000))
                os.close(fd)
            elif op == 1:
                os.unlink(a)
            elif op == 2:
                os.mkdir(a)
            elif op == 3:
                os.rmdir(a)
            elif op == 4:
                os.link(a, b)
            elif op == 5:
                os.rename(a, b)
            else:
                renameat2(a, b, RENAME_EXCHANGE)
            done += 1
        except OSError as e:
            if e.errno == errno.EPERM and op == 4:
                continue        # link to a directory
            if e.errno == errno.EINVAL and op in (5, 6):
                continue        # a directory into itself
            if e.errno not in EXPECTED:
                raise
    return done

pids = []
for p in range(4):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            worker(p)
        except BaseException as e:
            print("FAIL: racer %d: %r" % (p, e), file=sys.stderr, flush=True)
            code = 1
        os._exit(code)
    pids.append(pid)
bad = sum(os.waitpid(pid, 0)[1] != 0 for pid in pids)
eq(bad, 0, "4 processes raced for 5 s on 8 names with only the expected errors")

# consistency: every name is a file or an empty directory; a file's nlink
# equals the number of names that lead to it
links = {}
for n in sorted(os.listdir(".")):
    st = os.lstat(n)
    if stat.S_ISDIR(st.st_mode):
        if os.listdir(n):
            fail("directory %s is not empty: %s" % (n, os.listdir(n)))
    else:
        links.setdefault(st.st_ino, []).append((n, st.st_nlink))
for ino, lst in links.items():
    if any(nl != len(lst) for _, nl in lst):
        fail("inode %d has names %s but nlink %s" % (ino, [n for n, _ in lst], [nl for _, nl in lst]))
ok("after the race: %d names, every file's nlink matches its names" % len(os.listdir(".")))
for n in os.listdir("."):
    if os.path.isdir(n):
        os.rmdir(n)
    else:
        os.unlink(n)
os.chdir("..")
os.rmdir("race")
EOF

say "unmount, remount, verify"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
out=$(cd "$M/work" && sha256sum -c "$T/sums" 2>&1) || die "checksums after remount differ: $out"
pass "all files have their checksums after remount"

say "delete everything: no leaked blocks or inodes"
rm -rf "$M/work"
base=$(cat "$T/sums.base")
check_eq "after deleting everything statfs is back at the start values" "$base" "$(wait_statfs "$M" "$base")"
umount_fs "$M"
finish
