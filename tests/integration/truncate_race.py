#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Truncate racing a stream of large reads, through the real mount.

Every block a writer writes carries a tag (file id, block index,
generation).  Readers read 1 MiB at a time with O_DIRECT, so every read goes
to the daemon's zero-copy path while other processes truncate, rewrite and
extend the files; freed blocks are quickly reused by the other files.  A read
may return this file's data or zeros (a hole, or a range truncated under
it), never another file's tag and never a tag for another block index.
"""
import mmap
import os
import random
import struct
import sys
import time

MNT = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
NFILES = 4
BLOCK = 4096
MAXBLOCKS = 512  # 2 MiB per file
TAG = struct.Struct("<4sIIQ")  # magic, file, block, generation: 20 bytes


def block_bytes(fid, blk, gen):
    tag = TAG.pack(b"DXTG", fid, blk, gen)
    return (tag * (BLOCK // len(tag) + 1))[:BLOCK]


def path(fid):
    return os.path.join(MNT, "race%d" % fid)


def writer(seed, deadline):
    rnd = random.Random(seed)
    gen = 0
    while time.time() < deadline:
        fid = rnd.randrange(NFILES)
        gen += 1
        fd = os.open(path(fid), os.O_RDWR)
        try:
            op = rnd.randrange(3)
            if op == 0:
                os.ftruncate(fd, rnd.randrange(MAXBLOCKS) * BLOCK + rnd.randrange(BLOCK))
            elif op == 1:
                os.ftruncate(fd, 0)
            start = rnd.randrange(MAXBLOCKS)
            n = rnd.randrange(1, 64)
            for b in range(start, min(start + n, MAXBLOCKS)):
                os.pwrite(fd, block_bytes(fid, b, gen), b * BLOCK)
        finally:
            os.close(fd)
    return 0


def check_block(fid, blk, data):
    """Each 20-byte slot of a block must be a prefix of this block's own tag
    (any generation) followed by zeros: a truncate zeroes a block in place
    from any byte on, and a read racing a rewrite may see parts of two
    generations.  Another file's or another block's tag never passes."""
    ident = TAG.pack(b"DXTG", fid, blk, 0)[:12]
    for pos in range(0, len(data), TAG.size):
        head = data[pos:pos + TAG.size].rstrip(b"\0")[:12]
        if head == ident[:len(head)]:
            continue
        magic, f, b, _ = TAG.unpack_from(data[pos:pos + TAG.size].ljust(TAG.size, b"\0"))
        return "file %d block %d shows %r file %d block %d at byte %d" % (
            fid, blk, magic, f, b, pos)
    return None


def reader(seed, deadline):
    rnd = random.Random(seed)
    buf = mmap.mmap(-1, 256 * BLOCK)
    SENTINEL = b"\xee" * len(buf)
    reads = 0
    while time.time() < deadline:
        fid = rnd.randrange(NFILES)
        fd = os.open(path(fid), os.O_RDONLY | os.O_DIRECT)
        try:
            off = rnd.randrange(MAXBLOCKS // 2) * BLOCK
            buf[:] = SENTINEL
            n = os.preadv(fd, [buf], off)
        finally:
            os.close(fd)
        reads += 1
        data = bytes(buf[:n])
        for i in range(0, n - n % BLOCK, BLOCK):
            blk = off // BLOCK + i // BLOCK
            chunk = data[i:i + BLOCK]
            err = check_block(fid, blk, chunk)
            if err:
                print("VIOLATION: " + err, flush=True)
                return 1
    print("reader %d: %d reads of up to 1 MiB" % (seed, reads), flush=True)
    return 0


def main():
    for fid in range(NFILES):
        with open(path(fid), "wb") as f:
            for b in range(MAXBLOCKS):
                f.write(block_bytes(fid, b, 0))
    deadline = time.time() + SECONDS
    kids = []
    for i, fn in enumerate([writer, writer, reader, reader]):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = fn(i + 1, deadline)
            finally:
                os._exit(code)
        kids.append(pid)
    bad = 0
    for pid in kids:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            bad += 1
    for fid in range(NFILES):
        os.unlink(path(fid))
    if bad:
        print("FAIL: %d of %d processes failed" % (bad, len(kids)))
        return 1
    print("ok: no read returned another file's block")
    return 0


sys.exit(main())
