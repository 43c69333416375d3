#!/bin/bash
# SPDX-License-Identifier: MIT
# Checksum-verified random write/read workload: several files get thousands
# of random pwrites (inside, across and far past EOF), appends, truncates up
# and down and random reads, all checked against an in-memory model; full
# checksums are verified along the way, after an unmount/remount, and after
# a second round of the workload on the remounted filesystem.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 128M
mount_fs "$T/p.pool" "$M"

WORKLOAD=$(
	cat <<'EOF'
import hashlib, json, os, random, sys, time
from dxcheck import *
m, seed, statefile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.chdir(m)
rng = random.Random(seed)
NFILES, OPS, MAXSIZE = 5, 2500, 8 << 20
names = ["rw%d" % i for i in range(NFILES)]
model = {}
if os.path.exists(statefile):
    # continue from the files as they are (checked by the caller)
    for n in names:
        model[n] = bytearray(read_file(n))
else:
    for n in names:
        write_file(n, b"")
        model[n] = bytearray()
fds = {n: os.open(n, os.O_RDWR) for n in names}
counts = {"write": 0, "append": 0, "truncate": 0, "read": 0, "verify": 0}
mismatch = None
t0 = time.monotonic()
for op in range(OPS):
    n = rng.choice(names)
    fd, mod = fds[n], model[n]
    r = rng.random()
    if r < 0.45:
        size = rng.choice((1, 7, 512, 4096, 4097, 8191, rng.randrange(1, 100000)))
        where = rng.random()
        if where < 0.6 or not mod:
            off = rng.randrange(0, max(1, len(mod) + 1))
        elif where < 0.85:
            off = max(0, len(mod) - rng.randrange(0, 5000))
        else:
            off = len(mod) + rng.randrange(0, 4 << 20)
        off = min(off, MAXSIZE - size)
        data = rng.randbytes(size)
        if os.pwrite(fd, data, off) != size:
            fail("short pwrite of %d bytes at %d in %s" % (size, off, n))
        if off > len(mod):
            mod.extend(bytes(off - len(mod)))
        mod[off:off + size] = data
        counts["write"] += 1
    elif r < 0.55:
        data = rng.randbytes(rng.randrange(1, 20000))
        afd = os.open(n, os.O_WRONLY | os.O_APPEND)
        os.write(afd, data)
        os.close(afd)
        mod.extend(data)
        counts["append"] += 1
    elif r < 0.62:
        if rng.random() < 0.5:
            new = rng.randrange(0, len(mod) + 1)
        else:
            new = min(MAXSIZE, len(mod) + rng.randrange(0, 2 << 20))
        os.ftruncate(fd, new)
        if new < len(mod):
            del mod[new:]
        else:
            mod.extend(bytes(new - len(mod)))
        counts["truncate"] += 1
    else:
        off = rng.randrange(0, len(mod) + 4096)
        size = rng.randrange(1, 200000)
        got = os.pread(fd, size, off)
        if got != bytes(mod[off:off + size]):
            # locate the first differing byte for the report
            exp = bytes(mod[off:off + size])
            i = next((k for k in range(min(len(got), len(exp))) if got[k] != exp[k]), min(len(got), len(exp)))
            fail("op %d: pread(%s, %d, %d) differs from the model at byte %d (got %d bytes, expected %d)"
                 % (op, n, size, off, off + i, len(got), len(exp)))
        counts["read"] += 1
    if os.fstat(fd).st_size != len(mod):
        fail("op %d: size of %s is %d, model says %d" % (op, n, os.fstat(fd).st_size, len(mod)))
    if op % 500 == 499:
        for k in names:
            if hashlib.sha256(read_file(k)).digest() != hashlib.sha256(model[k]).digest():
                fail("op %d: full checksum of %s differs from the model" % (op, k))
        counts["verify"] += 1
for fd in fds.values():
    os.close(fd)
for k in names:
    eq(sha256_file(k), hashlib.sha256(model[k]).hexdigest(), "%s (%d bytes) matches the model" % (k, len(model[k])))
ok("%d random operations checked against the model (%s) in %.1f s"
   % (OPS, ", ".join("%d %s" % (v, k) for k, v in counts.items()), time.monotonic() - t0))
with open(statefile, "w") as f:
    json.dump({k: hashlib.sha256(model[k]).hexdigest() for k in names}, f)
EOF
)

say "round 1"
run_py "$M" 1 "$T/state.json" <<<"$WORKLOAD"

say "unmount, remount, verify checksums"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
VERIFY='
import json, os, sys
from dxcheck import *
os.chdir(sys.argv[1])
for name, digest in sorted(json.load(open(sys.argv[2])).items()):
    eq(sha256_file(name), digest, "%s checksum after remount" % name)
'
run_py "$M" "$T/state.json" <<<"$VERIFY"

say "round 2 on the remounted filesystem"
run_py "$M" 2 "$T/state.json" <<<"$WORKLOAD"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
run_py "$M" "$T/state.json" <<<"$VERIFY"
umount_fs "$M"
finish
