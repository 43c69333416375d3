#!/bin/bash
# SPDX-License-Identifier: MIT
# Everyday file operations through the mount: create/read/write, pread and
# pwrite, O_APPEND, O_TRUNC, holes past EOF read as zeros, truncate up and
# down (old data never reappears), mkdir/rmdir, unlink, symlink/readlink,
# fifos, sockets and device nodes, readdir with d_type, fsync/fdatasync, and
# the whole tree unchanged after unmount and remount.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 128M
mount_fs "$T/p.pool" "$M"

say "files, holes, truncate, directories, links, special files"
run_py "$M" <<'EOF'
import os, socket, stat, sys
from dxcheck import *

m = sys.argv[1]
os.chdir(m)
os.umask(0o022)

# ---- create, write, read
data = pattern(1, 10000)
fd = must("create f1 with O_CREAT|O_EXCL", os.open, "f1", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
eq(os.write(fd, data), 10000, "write 10000 bytes")
eq(os.pread(fd, 20000, 0), data, "pread whole file back")
eq(os.fstat(fd).st_size, 10000, "fstat size after write")
os.pwrite(fd, b"X" * 100, 4090)
expect = bytearray(data)
expect[4090:4190] = b"X" * 100
eq(os.pread(fd, 20000, 0), bytes(expect), "pwrite across a block boundary, read back")
eq(os.pread(fd, 100, 9950), bytes(expect[9950:]), "read across EOF returns only the bytes before EOF")
eq(os.pread(fd, 100, 10000), b"", "read at EOF returns 0 bytes")
eq(os.pread(fd, 100, 50000), b"", "read past EOF returns 0 bytes")
os.close(fd)
st = os.stat("f1")
check(stat.S_ISREG(st.st_mode), "f1 is a regular file")
eq(stat.S_IMODE(st.st_mode), 0o640, "f1 has the mode given to open (umask 022)")
eq(st.st_nlink, 1, "new file has one link")
eq(read_file("f1"), bytes(expect), "read through a new open")

# ---- large write, several blocks
big = pattern(2, 3 * 1024 * 1024 + 123)
write_file("big", big)
eq(os.stat("big").st_size, len(big), "3 MiB file size")
eq(sha256_file("big"), __import__("hashlib").sha256(big).hexdigest(), "3 MiB file content checksum")

# ---- O_APPEND
fd = os.open("app", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b"one\n")
os.lseek(fd, 0, os.SEEK_SET)
os.write(fd, b"two\n")
os.pwrite(fd, b"", 0)
os.close(fd)
fd = os.open("app", os.O_WRONLY | os.O_APPEND)
os.lseek(fd, 0, os.SEEK_SET)
os.write(fd, b"three\n")
os.close(fd)
eq(read_file("app"), b"one\ntwo\nthree\n", "O_APPEND writes always go to the end")

# ---- O_TRUNC
write_file("tr", b"a" * 5000)
fd = os.open("tr", os.O_WRONLY | os.O_TRUNC)
eq(os.fstat(fd).st_size, 0, "O_TRUNC empties the file")
os.write(fd, b"short")
os.close(fd)
eq(read_file("tr"), b"short", "write after O_TRUNC")

# ---- holes past EOF
fd = os.open("holes", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"head")
os.pwrite(fd, b"tail", 10 * 1024 * 1024)
st = os.fstat(fd)
eq(st.st_size, 10 * 1024 * 1024 + 4, "write 10 MiB past EOF extends the size")
got = os.pread(fd, 10 * 1024 * 1024 + 100, 0)
eq(got[:4], b"head", "data before the hole intact")
check(got[4:10 * 1024 * 1024] == bytes(10 * 1024 * 1024 - 4), "the 10 MiB hole reads as zeros")
eq(got[10 * 1024 * 1024:], b"tail", "data after the hole intact")
check(st.st_blocks * 512 < 1024 * 1024, "the hole is not allocated",
      "st_blocks=%d (%d bytes) for a file with 8 bytes of data" % (st.st_blocks, st.st_blocks * 512))
# a hole in the middle of an allocated block range, written backwards
os.pwrite(fd, b"mid", 5 * 1024 * 1024 + 1)
got = os.pread(fd, 8192, 5 * 1024 * 1024 - 4096)
eq(got, bytes(4097) + b"mid" + bytes(8192 - 4100), "zeros around a write inside the hole")
os.close(fd)

# ---- truncate down and up: old data never reappears
write_file("t", b"\xaa" * 20000)
os.truncate("t", 100)
eq(os.stat("t").st_size, 100, "truncate down to 100 bytes")
eq(read_file("t"), b"\xaa" * 100, "truncated file keeps its first 100 bytes")
os.truncate("t", 20000)
eq(os.stat("t").st_size, 20000, "truncate up to 20000 bytes")
eq(read_file("t"), b"\xaa" * 100 + bytes(19900), "bytes after the old size read as zeros after truncate up")
fd = os.open("t", os.O_RDWR)
os.ftruncate(fd, 4096 + 10)
os.ftruncate(fd, 3 * 4096)
eq(os.pread(fd, 3 * 4096, 0), b"\xaa" * 100 + bytes(3 * 4096 - 100), "ftruncate down inside a block then up: tail zeroed")
os.ftruncate(fd, 50)
os.pwrite(fd, b"Z", 9000)
eq(os.pread(fd, 20000, 0), b"\xaa" * 50 + bytes(8950) + b"Z", "write past EOF after truncate down: gap reads as zeros")
os.ftruncate(fd, 0)
eq(os.fstat(fd).st_size, 0, "ftruncate to 0")
eq(os.pread(fd, 100, 0), b"", "empty after ftruncate 0")
os.close(fd)
os.truncate("t", 1 << 30)
eq(os.stat("t").st_size, 1 << 30, "truncate up to 1 GiB on a 128 MiB pool (sparse)")
eq(os.pread(os.open("t", os.O_RDONLY), 16, (1 << 30) - 16), bytes(16), "end of the 1 GiB sparse file reads zeros")
os.truncate("t", 0)

# ---- directories
must("mkdir d", os.mkdir, "d", 0o755)
check(stat.S_ISDIR(os.stat("d").st_mode), "d is a directory")
must("mkdir d/e", os.mkdir, "d/e")
write_file("d/e/f", b"deep")
eq(read_file("d/e/f"), b"deep", "file in a nested directory")
expect_errno("ENOTEMPTY", "rmdir non-empty d/e", os.rmdir, "d/e")
expect_errno("ENOTEMPTY", "rmdir non-empty d", os.rmdir, "d")
must("unlink d/e/f", os.unlink, "d/e/f")
expect_errno("ENOENT", "stat unlinked d/e/f", os.stat, "d/e/f")
must("rmdir emptied d/e", os.rmdir, "d/e")
expect_errno("ENOENT", "stat removed d/e", os.stat, "d/e")
eq(os.listdir("d"), [], "d is empty after removing d/e")
for i in range(50):
    os.mkdir("d/sub%02d" % i)
eq(sorted(os.listdir("d")), ["sub%02d" % i for i in range(50)], "50 subdirectories listed")
for i in range(50):
    os.rmdir("d/sub%02d" % i)
eq(os.listdir("d"), [], "all 50 subdirectories removed")

# ---- unlink
write_file("gone", b"x" * 100000)
must("unlink a 100 KB file", os.unlink, "gone")
expect_errno("ENOENT", "open the unlinked file", os.open, "gone", os.O_RDONLY)
check("gone" not in os.listdir("."), "unlinked name no longer listed")

# ---- symlinks
must("symlink relative", os.symlink, "f1", "sl")
must("symlink absolute", os.symlink, "/etc/hostname", "sla")
must("symlink dangling", os.symlink, "no/such/target", "sld")
longt = "L" * 200 + "/" + "x" * 3894
eq(len(longt), 4095, "long symlink target is 4095 bytes")
must("symlink with a 4095-byte target", os.symlink, longt, "sll")
eq(os.readlink("sl"), "f1", "readlink relative")
eq(os.readlink("sla"), "/etc/hostname", "readlink absolute")
eq(os.readlink("sld"), "no/such/target", "readlink dangling")
eq(os.readlink("sll"), longt, "readlink 4095-byte target")
st = os.lstat("sl")
check(stat.S_ISLNK(st.st_mode), "lstat says symlink")
eq(st.st_size, 2, "symlink size is the target length")
eq(os.lstat("sll").st_size, 4095, "long symlink size")
eq(read_file("sl"), bytes(expect), "open through a symlink reads the target")
expect_errno("ENOENT", "open through a dangling symlink", os.open, "sld", os.O_RDONLY)
expect_errno("EINVAL", "readlink of a regular file", os.readlink, "f1")

# ---- fifos, sockets, device nodes
must("mkfifo", os.mkfifo, "fifo", 0o600)
check(stat.S_ISFIFO(os.stat("fifo").st_mode), "fifo has S_IFIFO")
fd = os.open("fifo", os.O_RDWR)
os.write(fd, b"through the pipe")
eq(os.read(fd, 100), b"through the pipe", "data passes through the fifo")
os.close(fd)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
must("bind a unix socket in the filesystem", srv.bind, os.path.join(m, "sock"))
srv.listen(1)
check(stat.S_ISSOCK(os.stat("sock").st_mode), "socket node has S_IFSOCK")
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
must("connect to the socket by its path", cli.connect, os.path.join(m, "sock"))
conn, _ = srv.accept()
cli.sendall(b"ping")
eq(conn.recv(10), b"ping", "data passes through the socket")
conn.close(); cli.close(); srv.close()
must("mknod a character device 1:3", os.mknod, "chr", stat.S_IFCHR | 0o640, os.makedev(1, 3))
st = os.stat("chr")
check(stat.S_ISCHR(st.st_mode), "chr has S_IFCHR")
eq((os.major(st.st_rdev), os.minor(st.st_rdev)), (1, 3), "character device rdev 1:3")
must("mknod a block device 7:129", os.mknod, "blk", stat.S_IFBLK | 0o600, os.makedev(7, 129))
st = os.stat("blk")
check(stat.S_ISBLK(st.st_mode), "blk has S_IFBLK")
eq((os.major(st.st_rdev), os.minor(st.st_rdev)), (7, 129), "block device rdev 7:129")
must("mknod a regular file", os.mknod, "regnod", stat.S_IFREG | 0o600)
check(stat.S_ISREG(os.stat("regnod").st_mode) and os.stat("regnod").st_size == 0, "mknod S_IFREG makes an empty file")

# ---- readdir with d_type
want = {"f1": "f", "big": "f", "app": "f", "tr": "f", "holes": "f", "t": "f", "d": "d",
        "sl": "l", "sla": "l", "sld": "l", "sll": "l", "fifo": "p", "sock": "s",
        "chr": "c", "blk": "b", "regnod": "f"}
got = {}
for e in os.scandir("."):
    if e.is_symlink():
        k = "l"
    elif e.is_dir(follow_symlinks=False):
        k = "d"
    elif e.is_file(follow_symlinks=False):
        k = "f"
    else:
        mode = e.stat(follow_symlinks=False).st_mode
        k = "p" if stat.S_ISFIFO(mode) else "s" if stat.S_ISSOCK(mode) else \
            "c" if stat.S_ISCHR(mode) else "b" if stat.S_ISBLK(mode) else "?"
    got[e.name] = k
eq(got, want, "readdir lists every entry with its type")
fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
names = set()
while True:
    ents = getdents64(fd, 4096)
    if not ents:
        break
    for ino, off, typ, name in ents:
        names.add(name)
        if name not in (".", ".."):
            st = os.lstat(name)
            if ino != st.st_ino:
                fail("getdents64 d_ino %d of %s differs from stat st_ino %d" % (ino, name, st.st_ino))
os.close(fd)
eq(names, set(want) | {".", ".."}, "getdents64 returns . and .. and every entry")
ok("d_ino from getdents64 equals st_ino for every entry")

# ---- names are arbitrary bytes (all but '/' and NUL)
os.mkdir("names")
weird = [bytes([b]) for b in range(1, 256) if b not in (0x2f, 0x2e)] + [
    b"...", b".x", b"x.", b"\n\t", b"\xff\xfe\xfd" * 20, b"a\\b", bytes(range(1, 47)) + bytes(range(48, 128))]
for n in weird:
    fd = os.open(b"names/" + n, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, n)
    os.close(fd)
eq(sorted(os.listdir(b"names")), sorted(weird), "%d names made of arbitrary bytes are listed exactly" % len(weird))
check(all(read_file(b"names/" + n) == n for n in weird), "each of them opens by its name")

# ---- fsync
fd = os.open("f1", os.O_RDWR)
os.pwrite(fd, b"synced", 0)
must("fsync a file", os.fsync, fd)
must("fdatasync a file", os.fdatasync, fd)
os.close(fd)
fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
must("fsync a directory", os.fsync, fd)
os.close(fd)
must("sync (syncfs of everything)", os.sync)
EOF

say "unmount, remount, compare"
tree_manifest "$M" >"$T/before"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
tree_manifest "$M" >"$T/after"
out=$(diff "$T/before" "$T/after") || die "tree changed across unmount/remount: $out"
pass "the whole tree (contents, modes, sizes, mtimes, links, rdevs) is unchanged after remount ($(wc -l <"$T/before") entries)"
run_py "$M" <<'EOF'
import os, stat, sys
from dxcheck import *
os.chdir(sys.argv[1])
got = os.pread(os.open("holes", os.O_RDONLY), 10 * 1024 * 1024 + 4, 0)
check(got[:4] == b"head" and got[-4:] == b"tail" and got[5 * 1024 * 1024 + 1:5 * 1024 * 1024 + 4] == b"mid"
      and got.count(0) == len(got) - 11, "holes file after remount: data where written, zeros elsewhere")
eq(read_file("f1")[:6], b"synced", "fsynced data after remount")
check(stat.S_ISFIFO(os.stat("fifo").st_mode), "fifo type after remount")
check(stat.S_ISSOCK(os.stat("sock").st_mode), "socket type after remount")
EOF
umount_fs "$M"
finish
