#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (README.md here).

    make-seeds.py TEMPLATE_POOL OUTDIR...

TEMPLATE_POOL is the crashed template as a fuzz target dumps it:
    FUZZ_DUMP=/tmp/t1.pool build/tests/fuzz/fuzz-replay-mount tests/fuzz/corpus/mount/crashed
It is read only to find where things are (inode numbers, map roots, entries);
each seed is a flags byte and patches in the input format of harness.h, one
kind of damage each, so that the fuzzer starts next to every structure.
"""
import os
import struct
import sys

B = 4096
T0, T1, SB, BK, OPT = 0x00, 0x01, 0x02, 0x04, 0x08

img = open(sys.argv[1], 'rb').read()
outdirs = sys.argv[2:]
(magic, version, bsize, fc, fi, fro, log_slots) = struct.unpack_from('<QIIIIII', img, 0)
(total, icount, log_start, slot_blocks, itable, itable_blocks, bitmap, bitmap_blocks,
 data_start, data_blocks) = struct.unpack_from('<10Q', img, 112)


def ino_off(k):
    return itable * B + k * 256


def dinode(k):
    o = ino_off(k)
    mode, nlink, uid, gid, size, mp, blocks = struct.unpack_from('<IIIIQQQ', img, o)
    return dict(mode=mode, nlink=nlink, size=size, map=mp, root=mp >> 2, height=mp & 3)


def entries(k):
    """(pool offset, ino, name) of the live entries of directory k (height 0 or 1)."""
    d = dinode(k)
    blks = [d['root']]
    if d['height']:
        blks = [b for b in struct.unpack_from('<512Q', img, d['root'] * B) if b]
    out = []
    for blk in blks:
        for s in range(B // 272):
            o = blk * B + s * 272
            ino, nlen = struct.unpack_from('<QH', img, o)
            if ino:
                out.append((o, ino, img[o + 16:o + 16 + nlen].decode()))
    return out


def patch(off, data):
    return struct.pack('<HHB', off // B, off % B, len(data) - 1) + data


def fill(off, byte, n8):
    return struct.pack('<HHBB', off // B, off % B, 0x80 | (n8 - 1), byte)


def u64(v):
    return struct.pack('<Q', v & (2**64 - 1))


def u32(v):
    return struct.pack('<I', v & (2**32 - 1))


root_entries = {name: (o, ino) for o, ino, name in entries(1)}
d_ino = root_entries['d'][1]
small = root_entries['small'][1]
multi = root_entries['multi'][1]
sparse = root_entries['sparse'][1]
sym = root_entries['sym'][1]
fifo = root_entries['fifo'][1]
d_entries = entries(d_ino)
sub = [ino for o, ino, n in d_entries if n == 'sub'][0]
orphan = [k for k in range(1, icount) if dinode(k)['mode'] and dinode(k)['nlink'] == 0][0]
state = 2 * B
slot5 = (log_start + 5 * slot_blocks) * B
S_IFREG, S_IFDIR = 0o100000, 0o40000

seeds = {
    'clean': bytes([T0]),
    'crashed': bytes([T1]),
    'crashed-ro': bytes([T1 | OPT]),
    'state-dirty': bytes([T0]) + patch(state + 8, u64(2)),
    'state-garbage': bytes([T0]) + patch(state, u64(0x1234)),
    'orphan-head-linked': bytes([T0]) + patch(state + 16, u64(small)),
    'orphan-head-range': bytes([T1]) + patch(state + 16, u64(icount + 5)),
    'orphan-loop': bytes([T1]) + patch(ino_off(orphan) + 120, u64(orphan)),
    'orphan-next-linked': bytes([T1]) + patch(ino_off(orphan) + 120, u64(small)),
    'log-nentries-huge': bytes([T1]) + patch(slot5 + 8, u64(2**40)),
    'log-entry-past-end': bytes([T1]) + patch(slot5 + 32, u64(total * B - 8)),
    'log-entry-len': bytes([T1]) + patch(slot5 + 40, u32(0xfffffff0)),
    'log-garbage-slot': bytes([T1]) + patch((log_start + 9 * slot_blocks) * B, u64(7) + u64(3)),
    'sb-inode-count': bytes([T0 | SB | BK]) + patch(120, u64(icount * 64)),
    'sb-data-blocks': bytes([T0 | SB]) + patch(176, u64(data_blocks + 100)),
    'sb-checksum': bytes([T0]) + patch(200, b'\x01'),
    'sb-backup-only': bytes([T1 | OPT]) + fill(0, 0, 8),
    'sb-both-bad': bytes([T0]) + fill(0, 0, 8) + fill(B, 0, 8),
    'root-not-dir': bytes([T0]) + patch(ino_off(1), u32(S_IFREG | 0o644)),
    'root-free': bytes([T0]) + fill(ino_off(1), 0, 32),
    'root-map-meta': bytes([T0]) + patch(ino_off(1) + 24, u64(5 << 2)),
    'dir-map-height3': bytes([T0]) + patch(ino_off(d_ino) + 24, u64(dinode(d_ino)['root'] << 2 | 3)),
    'dir-index-dup': bytes([T0]) + patch(dinode(d_ino)['root'] * B + 8, u64(dinode(multi)['root'])),
    'multi-index-meta': bytes([T1]) + patch(dinode(multi)['root'] * B + 8, u64(4)),
    'multi-index-range': bytes([T0]) + patch(dinode(multi)['root'] * B, u64(total + 3)),
    'sparse-index-garbage': bytes([T1]) + fill(dinode(sparse)['root'] * B, 0xff, 16),
    'sparse-size-small': bytes([T1]) + patch(ino_off(sparse) + 16, u64(5)),
    'small-size-huge': bytes([T0]) + patch(ino_off(small) + 16, u64(2**62)),
    'small-blocks': bytes([T0]) + patch(ino_off(small) + 32, u64(77)),
    'small-nlink': bytes([T0]) + patch(ino_off(small) + 4, u32(9)),
    'small-orphan-flag': bytes([T1]) + patch(ino_off(small) + 52, u32(1)),
    'fifo-with-map': bytes([T0]) + patch(ino_off(fifo) + 16, u64(100) + u64(dinode(small)['root'] << 2)),
    'symlink-size': bytes([T0]) + patch(ino_off(sym) + 16, u64(9000)),
    'symlink-empty': bytes([T0]) + patch(ino_off(sym) + 16, u64(0)),
    'type-garbage': bytes([T0]) + patch(ino_off(multi), u32(0o170644)),
    'dir-parent': bytes([T0]) + patch(ino_off(sub) + 128, u64(icount + 9)),
    'dir-parent-self': bytes([T1]) + patch(ino_off(d_ino) + 128, u64(d_ino)),
    'dirent-ino-range': bytes([T0]) + patch(root_entries['small'][0], u64(icount + 1)),
    'dirent-ino-free': bytes([T0]) + patch(root_entries['multi'][0], u64(icount - 2)),
    'dirent-ino-root': bytes([T0]) + patch(d_entries[0][0], u64(1)),
    'dirent-dir-twice': bytes([T1]) + patch(root_entries['fifo'][0], u64(sub)),
    'dirent-name-len': bytes([T0]) + patch(root_entries['sym'][0] + 8, struct.pack('<H', 300)),
    'dirent-name-zero': bytes([T0]) + patch(root_entries['chr'][0] + 8, struct.pack('<H', 0)),
    'dirent-name-slash': bytes([T0]) + patch(root_entries['small'][0] + 16, b'a/b\0'),
    'dirent-dup-name': bytes([T0]) + patch(root_entries['multi'][0] + 8,
                                           struct.pack('<H', 5)) + patch(root_entries['multi'][0] + 16, b'small'),
    'dirent-type': bytes([T0]) + patch(root_entries['multi'][0] + 10, b'\x04'),
    'lost-found-taken': bytes([T0 | OPT]) + patch(root_entries['multi'][0] + 8, struct.pack('<H', 10)) +
    patch(root_entries['multi'][0] + 16, b'lost+found') + patch(ino_off(sub) + 128, u64(icount + 1)),
    'bitmap-zero': bytes([T0]) + fill(bitmap * B, 0, 16),
    'bitmap-zero-dirty': bytes([T1]) + fill(bitmap * B, 0, 16),
    'bitmap-ones': bytes([T0 | OPT]) + fill(bitmap * B, 0xff, 16),
    'inode0': bytes([T0]) + patch(ino_off(0), u32(S_IFDIR | 0o755)),
    'itable-wiped': bytes([T1 | OPT]) + fill(ino_off(16), 0, 128),
    'dir-unlinked': bytes([T0 | OPT]) + patch(d_entries[-1][0], u64(0)),
}

for out in outdirs:
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
print(f'{len(seeds)} seeds written to {" ".join(outdirs)}')
