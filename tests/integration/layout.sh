#!/bin/bash
# SPDX-License-Identifier: MIT
# Block reuse under concurrent reads, with -o layout_wait=sync (the default)
# and -o layout_wait=deferred: reader processes keep reading files with
# O_DIRECT (every read goes to the daemon, none is served from the page
# cache) while another process truncates, unlinks, recreates and rewrites them and fills
# a noise file that reuses the freed blocks.  Every 512-byte sector a reader
# gets must be zeros or a sector of that very file at that very offset;
# a sector of another file (a freed block handed out again while a read was
# still using it) fails the test.  Afterwards no blocks or inodes leak, and
# the pool unmounts cleanly and remounts with the same free counts.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M

cat >"$T/py/layoutstorm.py" <<'EOF'
import os, random, signal, struct, sys, time
from dxcheck import *

MAGIC = 0x5EC7DA7A
NFILES = 4
NOISE = 99
SECT = 512

def make(idx, gen, off, length):
    """Contents for bytes [off, off+length) of file idx, generation gen."""
    out = bytearray()
    first = off // SECT
    for s in range(first, (off + length + SECT - 1) // SECT):
        hdr = struct.pack("<IIQ", MAGIC, idx, s * SECT)
        fill = struct.pack("<Q", gen * 1000003 + s) * ((SECT - len(hdr)) // 8)
        out += hdr + fill
    start = off - first * SECT
    return bytes(out[start:start + length])

def check_buf(idx, off, buf, who):
    """off is sector aligned."""
    for i in range(0, len(buf), SECT):
        sec = buf[i:i + SECT]
        if not any(sec):
            continue
        want = struct.pack("<IIQ", MAGIC, idx, off + i)
        hdr = sec[:16]
        # a sector being written concurrently may be torn: accept a
        # correct prefix followed by zeros
        n = len(hdr.rstrip(b"\0"))
        if hdr[:n] != want[:n]:
            got = struct.unpack("<IIQ", hdr)
            fail("%s read f%d at offset %d: sector holds (magic %#x, file %d, offset %d), expected file %d offset %d"
                 % (who, idx, off + i, got[0], got[1], got[2], idx, off + i))

def mutator(duration, seed):
    rng = random.Random(seed)
    gen = 0
    end = time.monotonic() + duration
    ops = 0
    while time.monotonic() < end:
        gen += 1
        idx = rng.randrange(NFILES)
        name = "f%d" % idx
        size = rng.choice((4096, 65536, 1 << 20, rng.randrange(1, 2 << 20)))
        r = rng.random()
        if r < 0.35:
            os.unlink(name)
            write_file(name, make(idx, gen, 0, size))
        elif r < 0.7:
            fd = os.open(name, os.O_WRONLY | os.O_TRUNC)
            os.write(fd, make(idx, gen, 0, size))
            os.close(fd)
        else:
            fd = os.open(name, os.O_WRONLY)
            cut = rng.randrange(0, 1 << 20) // SECT * SECT
            os.ftruncate(fd, cut)
            os.ftruncate(fd, cut + rng.randrange(0, 1 << 20))
            os.close(fd)
        # the noise file grabs whatever blocks were just freed
        write_file("noise", make(NOISE, gen, 0, rng.randrange(1, 2 << 20)))
        ops += 1
    return ops

def reader(duration, seed, who):
    rng = random.Random(seed)
    end = time.monotonic() + duration
    reads = 0
    while time.monotonic() < end:
        idx = rng.randrange(NFILES)
        try:
            # O_DIRECT: every read goes to the daemon (no page cache), so
            # reads of the pool race with the mutator's block frees
            fd = os.open("f%d" % idx, os.O_RDONLY | os.O_DIRECT)
        except FileNotFoundError:
            continue
        try:
            for _ in range(8):
                off = rng.randrange(0, 2 << 20) // SECT * SECT
                buf = os.pread(fd, rng.choice((4096, 65536, 262144)), off)
                check_buf(idx, off, buf, who)
                reads += 1
        finally:
            os.close(fd)
    return reads

def main(root, duration):
    os.chdir(root)
    for i in range(NFILES):
        write_file("f%d" % i, make(i, 0, 0, 1 << 20))
    procs = []
    for k in range(3):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                if k == 0:
                    n = mutator(duration, 7)
                else:
                    n = reader(duration, 100 + k, "reader %d" % k)
                print("  # process %d: %d operations" % (k, n), flush=True)
            except SystemExit as e:
                code = 1
            except BaseException as e:
                print("FAIL: process %d: %r" % (k, e), file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        procs.append(pid)
    bad = 0
    for pid in procs:
        _, st = os.waitpid(pid, 0)
        bad += st != 0
    eq(bad, 0, "a mutator and two readers ran %d s: every sector read belonged to the file and offset it was read from" % duration)
    for i in range(NFILES):
        os.unlink("f%d" % i)
    os.unlink("noise")

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
EOF

for mode in sync deferred; do
	say "layout_wait=$mode"
	mount_fs "$T/p.pool" "$M" -o layout_wait=$mode
	mkdir -p "$M/w"
	touch "$M/w/anchor" # the directory keeps its block: only file blocks are counted
	read -r B0 I0 < <(statfs_line "$M")
	run_py "$M/w" 8 <<<'import sys, layoutstorm; layoutstorm.main(sys.argv[1], int(sys.argv[2]))'
	check_eq "layout_wait=$mode: after deleting the files free blocks and inodes are back at the start values" \
		"$B0 $I0" "$(wait_statfs "$M" "$B0 $I0")"
	umount_fs "$M"
	pass "layout_wait=$mode: clean unmount"
	mount_fs "$T/p.pool" "$M"
	check_eq "layout_wait=$mode: free counts unchanged by the remount" "$B0 $I0" "$(statfs_line "$M")"
	umount_fs "$M"
done
finish
