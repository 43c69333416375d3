#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Truncate racing a stream of large reads, through the real mount.

Every block a writer writes carries a tag (file id, block index,
generation).  Readers read 1 MiB at a time with O_DIRECT, so every read goes
to the daemon's zero-copy path while other processes truncate, rewrite and
extend the files; freed blocks are quickly reused by the other files.  A read
may return this file's data or zeros (a hole, or a range truncated under
it), never another file's tag and never a tag for another block index.

Reads are not atomic against a concurrent in-place overwrite or tail zeroing
of the same block (as on ext4): glibc's memcpy and memset, and the kernel's
copy of the reply, may make their stores visible in any order, so a read can
see any byte-wise mix of the block's versions.  Every version of a block is
its own tag or zeros, so the oracle is byte-wise; the tag's identity bytes
are all non-zero and distinct between files and blocks, so that a mix with
zeros never passes off another block's tag as this one's.
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
TAG = struct.Struct("<12sQ")  # identity, generation: 20 bytes per slot


def identity(fid, blk):
    """Magic, file and block index, in 12 bytes none of which is zero."""
    return b"DXTG" + bytes([0x41 + fid] * 4) + bytes([1 + blk % 250, 1 + blk // 250, 0x5A, 0x5A])


def block_bytes(fid, blk, gen):
    tag = TAG.pack(identity(fid, blk), gen)
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
    """Each identity byte of each 20-byte slot must be this block's own or
    zero; the generation bytes may be anything (any version is fine)."""
    ident = identity(fid, blk)
    zero = bytes(len(ident))
    for pos in range(0, len(data), TAG.size):
        head = data[pos:pos + len(ident)]
        if head == ident or head == zero:
            continue
        if all(c in (0, e) for c, e in zip(head, ident)):
            continue
        return "file %d block %d shows %r at byte %d (expected %r or zeros)" % (
            fid, blk, head, pos, ident)
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
