#!/bin/bash
# SPDX-License-Identifier: MIT
# Extended attributes and POSIX ACLs through the real mount: setfattr and
# getfattr round trips, XATTR_CREATE / XATTR_REPLACE errors, a 64 KiB value,
# the size probe and ERANGE, name and namespace rules (trusted.* for root
# only, user.* only on files and directories, unknown namespaces refused),
# the per-inode limit, removal, persistence across a clean remount and a
# SIGKILL of the daemon, cp -a onto daxfs and back, setfacl/getfacl, an ACL
# granting uid 65534 read access to a 0600 file (and the denial without
# it), chmod rewriting the ACL mask, default ACLs inherited by new files and
# directories, and the umask applied only where there is no default ACL.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

for tool in setfattr getfattr setfacl getfacl; do
	command -v "$tool" >/dev/null || die "$tool is not installed (tools/install-deps.sh)"
done

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M" -o allow_other

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

say "round trips, flags and errors (python, through the syscalls)"
run_py "$M" <<'EOF'
import errno, os, sys
from dxcheck import *
os.chdir(sys.argv[1])

def err(fn, code, what):
    try:
        fn()
    except OSError as e:
        eq(e.errno, code, what)
        return
    raise AssertionError(what + ": succeeded")

write_file("f", b"data")
os.mkdir("d")
os.setxattr("f", "user.one", b"1")
eq(os.getxattr("f", "user.one"), b"1", "user.one reads back")
os.setxattr("f", "user.empty", b"")
eq(os.getxattr("f", "user.empty"), b"", "an empty value reads back")
err(lambda: os.setxattr("f", "user.one", b"x", os.XATTR_CREATE), errno.EEXIST,
    "XATTR_CREATE of an existing name: EEXIST")
err(lambda: os.setxattr("f", "user.none", b"x", os.XATTR_REPLACE), errno.ENODATA,
    "XATTR_REPLACE of a missing name: ENODATA")
os.setxattr("f", "user.one", b"11", os.XATTR_REPLACE)
eq(os.getxattr("f", "user.one"), b"11", "XATTR_REPLACE replaced the value")
os.setxattr("f", "user.two", b"2", os.XATTR_CREATE)
err(lambda: os.getxattr("f", "user.missing"), errno.ENODATA, "a missing name: ENODATA")
eq(sorted(os.listxattr("f")), ["user.empty", "user.one", "user.two"], "listxattr")
os.setxattr("d", "user.dir", b"on a directory")
eq(os.getxattr("d", "user.dir"), b"on a directory", "user.* on a directory")

big = bytes((i * 7 + 3) % 256 for i in range(65536))
os.setxattr("f", "user.big", big)
eq(os.getxattr("f", "user.big"), big, "a 64 KiB value reads back")
err(lambda: os.setxattr("f", "user.toobig", big + b"x"), errno.E2BIG, "65537 bytes: E2BIG")

# The size probe and a buffer too small go through the raw syscalls.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.getxattr.restype = ctypes.c_ssize_t
libc.listxattr.restype = ctypes.c_ssize_t
eq(libc.getxattr(b"f", b"user.big", None, ctypes.c_size_t(0)), 65536, "size probe of user.big")
buf = ctypes.create_string_buffer(100)
eq(libc.getxattr(b"f", b"user.big", buf, ctypes.c_size_t(100)), -1, "a 100-byte buffer fails")
eq(ctypes.get_errno(), errno.ERANGE, "... with ERANGE")
n = libc.listxattr(b"f", None, ctypes.c_size_t(0))
eq(n, len(b"user.empty\0user.one\0user.two\0user.big\0"), "listxattr size probe")
eq(libc.listxattr(b"f", buf, ctypes.c_size_t(5)), -1, "listxattr into 5 bytes fails")
eq(ctypes.get_errno(), errno.ERANGE, "... with ERANGE")

name255 = "user." + "n" * 250
os.setxattr("f", name255, b"long name")
eq(os.getxattr("f", name255), b"long name", "a 255-byte name")
err(lambda: os.setxattr("f", name255 + "x", b"v"), errno.ERANGE, "a 256-byte name: ERANGE")
err(lambda: os.setxattr("f", "bogus.x", b"v"), errno.EOPNOTSUPP, "unknown namespace: EOPNOTSUPP")
os.removexattr("f", name255)

os.setxattr("f", "trusted.t", b"root only")
eq(os.getxattr("f", "trusted.t"), b"root only", "trusted.* as root")
os.setxattr("f", "security.s", b"sec")
eq(os.getxattr("f", "security.s"), b"sec", "security.*")

os.symlink("f", "link")
err(lambda: os.setxattr("link", "user.x", b"v", follow_symlinks=False), errno.EPERM,
    "user.* on a symlink: EPERM")
os.mkfifo("fifo")
err(lambda: os.setxattr("fifo", "user.x", b"v"), errno.EPERM, "user.* on a FIFO: EPERM")

# 128 KiB of names and values per inode.
write_file("full", b"")
os.setxattr("full", "user.a", big)
err(lambda: os.setxattr("full", "user.b", big), errno.ENOSPC,
    "a second 64 KiB value: ENOSPC (per-inode limit)")
os.setxattr("full", "user.b", big[:60000])
eq(os.getxattr("full", "user.a"), big, "the first value survived the refusal")

os.removexattr("f", "user.two")
err(lambda: os.getxattr("f", "user.two"), errno.ENODATA, "removed: ENODATA")
err(lambda: os.removexattr("f", "user.two"), errno.ENODATA, "removing again: ENODATA")
EOF

say "trusted.* as an unprivileged user"
chmod 0666 "$M/f"
check_fails "uid 65534 cannot set trusted.*" nobody setfattr -n trusted.x -v 1 "$M/f"
check_fails "uid 65534 cannot read trusted.t" nobody getfattr -n trusted.t "$M/f"
out=$(nobody getfattr -d -m - "$M/f" 2>/dev/null)
[[ "$out" != *trusted.* ]] || die "uid 65534 sees trusted.* in the list: $out"
pass "uid 65534 does not see trusted.* in the list"
check "uid 65534 may set user.* on a file it may write" nobody setfattr -n user.byuid -v 1 "$M/f"
chmod 0644 "$M/f"
check_fails "uid 65534 may not set user.* on a 0644 file of root's" \
	nobody setfattr -n user.byuid2 -v 1 "$M/f"

say "persistence: clean remount, then SIGKILL of the daemon"
big_sum=$(getfattr --only-values -n user.big "$M/f" | sha256sum)
umount_fs "$M"
mount_fs "$T/p.pool" "$M" -o allow_other
check_eq "user.one after a remount" 11 "$(getfattr --only-values -n user.one "$M/f")"
check_eq "user.big after a remount" "$big_sum" "$(getfattr --only-values -n user.big "$M/f" | sha256sum)"
setfattr -n user.late -v before-kill "$M/f"
setfattr -x user.one "$M/f"
kill_daemon "$M"
mount_fs "$T/p.pool" "$M" -o allow_other
check_eq "user.late after SIGKILL" before-kill "$(getfattr --only-values -n user.late "$M/f")"
check_fails "user.one stays removed after SIGKILL" getfattr -n user.one "$M/f"
check_eq "user.big after SIGKILL" "$big_sum" "$(getfattr --only-values -n user.big "$M/f" | sha256sum)"

say "cp -a onto daxfs and back"
extra_tmpdir "$T"
SRC=$XDIR/src
mkdir -p "$SRC/sub"
echo content >"$SRC/sub/file"
setfattr -n user.origin -v outside "$SRC/sub/file" 2>/dev/null ||
	echo "# the temp dir does not take user.* xattrs: the copy-in part checks ACLs only"
setfacl -m u:65534:r "$SRC/sub/file"
cp -a "$SRC" "$M/copied"
check_eq "ACL copied in" "user:nobody:r--" \
	"$(getfacl -p "$M/copied/sub/file" 2>/dev/null | grep '^user:nobody')"
if getfattr -n user.origin "$SRC/sub/file" >/dev/null 2>&1; then
	check_eq "user.origin copied in" outside \
		"$(getfattr --only-values -n user.origin "$M/copied/sub/file")"
fi
cp -a "$M/f" "$M/f.copy"
check_eq "cp -a within daxfs keeps user.big" "$big_sum" \
	"$(getfattr --only-values -n user.big "$M/f.copy" | sha256sum)"
cp -a "$M/copied" "$XDIR/back"
check_eq "ACL copied back out" "user:nobody:r--" \
	"$(getfacl -p "$XDIR/back/sub/file" 2>/dev/null | grep '^user:nobody')"
command -v rsync >/dev/null || die "rsync is not installed (tools/install-deps.sh)"
check "rsync -aAX within daxfs" rsync -aAX "$M/copied/" "$M/rsynced/"
check_eq "rsync -X kept the ACL" "user:nobody:r--" \
	"$(getfacl -p "$M/rsynced/sub/file" 2>/dev/null | grep '^user:nobody')"
check "rsync -aAX of f" rsync -aAX "$M/f" "$M/f.rsync"
check_eq "rsync -X kept user.big" "$big_sum" \
	"$(getfattr --only-values -n user.big "$M/f.rsync" | sha256sum)"

say "ACLs enforced by the kernel"
echo secret >"$M/secret"
chmod 0600 "$M/secret"
check_fails "uid 65534 cannot read a 0600 file of root's" nobody cat "$M/secret"
check "setfacl u:65534:r" setfacl -m u:65534:r "$M/secret"
check_eq "uid 65534 reads it through the ACL" secret "$(nobody cat "$M/secret")"
check_eq "the mask is the group bits" "-rw-r-----" "$(stat -c %A "$M/secret")"
getfacl -p "$M/secret" | grep -q '^mask::r--$' || die "no mask::r-- in $(getfacl -p "$M/secret")"
pass "getfacl shows mask::r--"
chmod 0600 "$M/secret"
getfacl -p "$M/secret" | grep -q '^mask::---$' || die "chmod did not clear the mask"
pass "chmod 0600 cleared the ACL mask"
check_fails "uid 65534 is refused once the mask is empty" nobody cat "$M/secret"
setfacl -m m::r "$M/secret"
check_eq "uid 65534 reads again after setfacl -m m::r" secret "$(nobody cat "$M/secret")"
setfacl -b "$M/secret"
check_fails "setfacl -b removed the grant" nobody cat "$M/secret"
check_fails "and the ACL xattr" getfattr -n system.posix_acl_access "$M/secret"
setfacl -m u::rwx,g::r,o::- "$M/secret"
check_eq "a minimal ACL is the mode" "-rwxr-----" "$(stat -c %A "$M/secret")"
check_fails "... and stores no ACL" getfattr -n system.posix_acl_access "$M/secret"

say "default ACLs inherited, umask applied only without them"
mkdir "$M/inh"
setfacl -d -m u:65534:rwx,g::r-x,o::- "$M/inh"
(umask 022 && touch "$M/inh/file" && mkdir "$M/inh/dir")
getfacl -p "$M/inh/file" | grep -q '^user:nobody:rwx' || die "file did not inherit: $(getfacl -p "$M/inh/file")"
check_eq "new file's mode: the default ACL masked by 0666, no umask" "-rw-rw----" \
	"$(stat -c %A "$M/inh/file")"
getfacl -p "$M/inh/dir" | grep -q '^default:user:nobody:rwx' ||
	die "dir did not inherit the default ACL: $(getfacl -p "$M/inh/dir")"
getfacl -p "$M/inh/dir" | grep -q '^user:nobody:rwx' ||
	die "dir did not get the access ACL: $(getfacl -p "$M/inh/dir")"
check_eq "new directory's mode" "drwxrwx---" "$(stat -c %A "$M/inh/dir")"
(umask 027 && touch "$M/inh/dir/deeper")
getfacl -p "$M/inh/dir/deeper" | grep -q '^user:nobody:rwx' || die "inheritance is not recursive"
pass "the default ACL passes down a level"
echo hi >"$M/inh/file"
check_eq "uid 65534 reads the inherited file" hi "$(nobody cat "$M/inh/file")"
(umask 027 && touch "$M/plain" && mkdir "$M/plaindir")
check_eq "umask 027 without a default ACL (file)" "-rw-r-----" "$(stat -c %A "$M/plain")"
check_eq "umask 027 without a default ACL (dir)" "drwxr-x---" "$(stat -c %A "$M/plaindir")"
check_fails "a default ACL on a file is refused" setfacl -d -m u:65534:r "$M/plain"

say "ACLs survive a SIGKILL"
kill_daemon "$M"
mount_fs "$T/p.pool" "$M" -o allow_other
getfacl -p "$M/inh/file" | grep -q '^user:nobody:rwx' || die "ACL lost after SIGKILL"
check_eq "uid 65534 still reads the inherited file" hi "$(nobody cat "$M/inh/file")"

say "removing files with xattrs frees their blocks"
rm -rf "$M"/*
# A file's blocks go at its last RELEASE or FORGET, which the kernel sends
# after close() and unlink() have returned: a remount waits for them all.
umount_fs "$M"
mount_fs "$T/p.pool" "$M" -o allow_other
before=$(stat -f -c %f "$M")
write_big() { setfattr -n user.big -v "0x$(head -c 60000 /dev/zero | od -An -tx1 -v | tr -d ' \n')" "$1"; }
for i in 1 2 3; do
	touch "$M/x$i"
	write_big "$M/x$i"
done
mid=$(stat -f -c %f "$M")
((mid < before)) || die "xattr blocks did not show in statfs ($before -> $mid)"
rm "$M"/x*
umount_fs "$M"
mount_fs "$T/p.pool" "$M" -o allow_other
check_eq "free blocks are back after the unlinks" "$before" "$(stat -f -c %f "$M")"
umount_fs "$M"
finish
