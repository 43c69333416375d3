#!/bin/bash
# SPDX-License-Identifier: MIT
# Shared writable mmap: stores through the mapping (into written blocks and
# into holes) are seen by read(2), msync makes them durable across an
# unmount/remount and across SIGKILL of the daemon; write(2) is seen through
# an existing mapping; MAP_PRIVATE stores never reach the file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M"

say "write through a shared mapping, msync, unmount, remount"
run_py "$M" <<'EOF'
import mmap, os, sys
from dxcheck import *
os.chdir(sys.argv[1])
MB = 1 << 20
write_file("m1", pattern(1, MB))
fd = os.open("m1", os.O_RDWR)
mm = must("mmap 1 MiB MAP_SHARED read-write", mmap.mmap, fd, MB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
expect = bytearray(pattern(1, MB))
for off, n in ((0, 100), (4090, 20), (65536, 65536), (MB - 7, 7)):
    chunk = pattern(off + 1000, n)
    mm[off:off + n] = chunk
    expect[off:off + n] = chunk
must("msync", mm.flush)
eq(os.pread(fd, MB, 0), bytes(expect), "read(2) sees the stores made through the mapping")
os.pwrite(fd, b"written by pwrite", 300000)
expect[300000:300017] = b"written by pwrite"
eq(mm[300000:300017], b"written by pwrite", "the mapping sees a later pwrite")
mm.close()
os.close(fd)

# a sparse file: stores through the mapping fill holes
fd = os.open("m2", os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 8 * MB)
mm = mmap.mmap(fd, 8 * MB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
eq(mm[5 * MB:5 * MB + 4096], bytes(4096), "a hole reads as zeros through the mapping")
for page in range(0, 8 * MB, 256 * 1024):
    mm[page:page + 8] = b"%08d" % page
mm.flush()
mm.close()
os.close(fd)
got = read_file("m2")
check(all(got[p:p + 8] == b"%08d" % p for p in range(0, 8 * MB, 256 * 1024)), "stores into holes read back with read(2)")
check(got.count(0) == 8 * MB - 32 * 8, "the rest of the sparse file is still zeros")

# MAP_PRIVATE
fd = os.open("m1", os.O_RDWR)
mp = mmap.mmap(fd, MB, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
mp[0:10] = b"PRIVATE!!!"
mp.close()
os.close(fd)
eq(read_file("m1"), bytes(expect), "MAP_PRIVATE stores do not reach the file")
with open(os.path.join(os.environ["T"], "m1.sha"), "w") as f:
    f.write(__import__("hashlib").sha256(bytes(expect)).hexdigest())
EOF
m2sum=$(sha256sum <"$M/m2")
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
check_eq "m1 after remount has the mmap stores" "$(cat "$T/m1.sha")" "$(sha256sum <"$M/m1" | cut -d' ' -f1)"
check_eq "m2 (mmap into holes) after remount" "$m2sum" "$(sha256sum <"$M/m2")"

say "msync, then SIGKILL the daemon, remount"
run_py "$M" <<'EOF'
import mmap, os, sys, hashlib
from dxcheck import *
os.chdir(sys.argv[1])
MB = 1 << 20
fd = os.open("m3", os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 2 * MB)
mm = mmap.mmap(fd, 2 * MB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
data = pattern(33, 2 * MB)
mm[:] = data
must("msync of 2 MiB of stores", mm.flush)
mm.close()
os.close(fd)
with open(os.path.join(os.environ["T"], "m3.sha"), "w") as f:
    f.write(hashlib.sha256(data).hexdigest())
EOF
kill_daemon "$M"
pass "daemon killed with SIGKILL after msync"
mount_fs "$T/p.pool" "$M"
check_eq "msynced mmap stores survive SIGKILL of the daemon" "$(cat "$T/m3.sha")" "$(sha256sum <"$M/m3" | cut -d' ' -f1)"
check_eq "m1 still intact after the crash" "$(cat "$T/m1.sha")" "$(sha256sum <"$M/m1" | cut -d' ' -f1)"
umount_fs "$M"
finish
