#!/bin/bash
# SPDX-License-Identifier: MIT
# copy_file_range through the mount:
#  1. a copy into a hole whose source offset is not block-aligned with its
#     destination, from source blocks that are not adjacent in the pool,
#     copies every byte, takes one block, and is the same after a remount;
#  2. copies between files and within one file at unaligned offsets and
#     lengths, past the source's EOF (short or empty) and past the
#     destination's EOF (extending, with a hole in between) match a model;
#     overlapping ranges within one file are refused with EINVAL and change
#     nothing;
#  3. fsck.daxfs -n -f finds every pool clean after each unmount (no block
#     leaked, block counts right).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init
[[ -n "${FSCK_DAXFS:-}" ]] || die "FSCK_DAXFS is not set: this test checks the pool with fsck.daxfs"

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M"

say "copy into a hole from blocks not adjacent in the pool"
run_py "$M" <<'EOF'
import os, sys
from dxcheck import *
os.chdir(sys.argv[1])
src = pattern(1, 8192)
fd = os.open("src", os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, src[4096:], 4096)   # block 1 first, then block 0
os.pwrite(fd, src[:4096], 0)
os.close(fd)
fi = os.open("src", os.O_RDONLY)
fo = os.open("dst", os.O_WRONLY | os.O_CREAT, 0o644)
eq(os.copy_file_range(fi, fo, 4096, 2048, 0), 4096, "copy_file_range(src, 2048, dst, 0, 4096) copies 4096 bytes")
os.close(fi)
os.close(fo)
eq(read_file("dst"), src[2048:6144], "dst holds bytes 2048..6143 of src")
eq(os.stat("dst").st_blocks, 8, "dst takes one 4 KiB block")
EOF
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
run_py "$M" <<'EOF'
import os, sys
from dxcheck import *
os.chdir(sys.argv[1])
eq(read_file("dst"), pattern(1, 8192)[2048:6144], "after a remount dst still holds bytes 2048..6143 of src")
eq(os.stat("dst").st_blocks, 8, "after a remount dst still takes one block")
EOF

say "copies against a model: unaligned, past EOF, within one file"
run_py "$M" <<'EOF'
import errno, os, random, sys
from dxcheck import *
os.chdir(sys.argv[1])
rng = random.Random(12)
names = ["a", "b", "c"]
model = {}
fds = {}
for n in names:
    fds[n] = os.open(n, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    model[n] = bytearray()

def pwrite(n, data, off):
    os.pwrite(fds[n], data, off)
    m = model[n]
    if off > len(m):
        m.extend(bytes(off - len(m)))
    m[off:off + len(data)] = data

def copy(s, d, off_in, off_out, length):
    sm, dm = model[s], model[d]
    n = max(0, min(length, len(sm) - off_in))
    if s == d and off_out + n > off_in and off_out < off_in + n:
        expect_errno("EINVAL", "an overlapping copy within %s (%d -> %d, %d bytes) is refused" % (s, off_in, off_out, length),
                     os.copy_file_range, fds[s], fds[d], length, off_in, off_out)
        return
    got = os.copy_file_range(fds[s], fds[d], length, off_in, off_out)
    if got != n:
        fail("copy %s:%d -> %s:%d of %d bytes returned %d, model %d" % (s, off_in, d, off_out, length, got, n))
    data = bytes(sm[off_in:off_in + n])
    if n:
        if off_out > len(dm):
            dm.extend(bytes(off_out - len(dm)))
        dm[off_out:off_out + n] = data

def verify(when):
    for n in names:
        back = os.pread(fds[n], len(model[n]) + 4096, 0)
        if back != bytes(model[n]):
            diff = next((i for i in range(min(len(back), len(model[n]))) if back[i] != model[n][i]), min(len(back), len(model[n])))
            fail("%s: file %s (size %d, model %d) differs first at byte %d" % (when, n, len(back), len(model[n]), diff))

# scattered blocks: every file written in reverse block order
for i, n in enumerate(names):
    for blk in reversed(range(24)):
        pwrite(n, rng.randbytes(4096), blk * 4096)
verify("after the setup writes")
ok("three files of 24 blocks written in reverse block order")

# the fixed cases first
copy("a", "b", 2048, 0, 4096)            # into existing blocks, unaligned
copy("a", "c", 100, 200 * 4096 + 5, 9000)  # past the destination's EOF: a hole, then data
copy("b", "a", len(model["b"]) - 10, 4096 * 3 + 1, 5000)  # short at the source's EOF
copy("c", "a", len(model["c"]) + 7, 0, 100)   # starting past the source's EOF: nothing
copy("a", "a", 0, 100, 8192)             # overlapping within a file
copy("a", "a", 5000, 0, 8192)            # overlapping the other way
copy("a", "a", 0, 8192, 8192)            # adjacent within a file
copy("b", "b", 10, len(model["b"]), 3 * 4096 + 11)  # extending a file from itself
verify("after the fixed cases")
ok("fixed cases: unaligned, past either EOF, overlapping and adjacent within a file")

for k in range(400):
    s, d = rng.choice(names), rng.choice(names)
    size = len(model[s])
    off_in = rng.randrange(size + 4096)
    off_out = rng.randrange(len(model[d]) + 8192)
    length = rng.choice((rng.randrange(1, 4 * 4096), 4096 * rng.randrange(1, 5), rng.randrange(1, 300)))
    copy(s, d, off_in, off_out, length)
    if rng.random() < 0.2:
        pwrite(s, rng.randbytes(rng.randrange(1, 6000)), rng.randrange(size + 1))
    if k % 20 == 0:
        verify("after random copy %d" % k)
verify("after 400 random copies")
ok("400 random copies between and within files match the model")
for n in names:
    os.close(fds[n])
import json
with open(os.path.join(os.environ["T"], "model.json"), "w") as f:
    json.dump({n: bytes(model[n]).hex() for n in names}, f)
EOF
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
run_py "$M" <<'EOF'
import json, os, sys
from dxcheck import *
os.chdir(sys.argv[1])
model = json.load(open(os.path.join(os.environ["T"], "model.json")))
for n, h in sorted(model.items()):
    eq(read_file(n), bytes.fromhex(h), "after a remount %s matches the model" % n)
EOF
umount_fs "$M"
finish
