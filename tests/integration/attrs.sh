#!/bin/bash
# SPDX-License-Identifier: MIT
# Attributes and ownership: chmod, chown, utimensat (explicit nanosecond
# times, UTIME_NOW, UTIME_OMIT), ctime/mtime updates, new files owned by the
# caller's uid/gid (as uid 65534 through -o allow_other), permission checks
# (default_permissions is always on), setgid directories passing their group
# on, and the mount refusing other users without allow_other.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M" -o allow_other

opts=$(awk -v m="$M" '$5 == m { for (i = 7; $i != "-"; i++); print $6 "," $(i + 3) }' /proc/self/mountinfo)
case ",$opts," in
*,default_permissions,*) pass "default_permissions is on although it was not asked for ($opts)" ;;
*) die "mount options lack default_permissions: $opts" ;;
esac
case ",$opts," in
*,allow_other,*) pass "allow_other is in the mount options" ;;
*) die "mount options lack allow_other: $opts" ;;
esac

say "chmod, chown, utimensat, ctime (as root)"
run_py "$M" <<'EOF'
import os, stat, sys, time
from dxcheck import *
os.chdir(sys.argv[1])
os.umask(0o022)

def tick():
    time.sleep(0.02)

write_file("f", b"0123456789")
st0 = os.stat("f")
eq((st0.st_uid, st0.st_gid), (0, 0), "file created by root is owned by 0:0")
now = time.time()
check(abs(st0.st_mtime - now) < 30 and abs(st0.st_ctime - now) < 30,
      "new file's mtime/ctime are about now", "mtime %s ctime %s now %s" % (st0.st_mtime, st0.st_ctime, now))

tick()
must("chmod 0600", os.chmod, "f", 0o600)
st1 = os.stat("f")
eq(stat.S_IMODE(st1.st_mode), 0o600, "mode is 0600")
check(st1.st_ctime_ns > st0.st_ctime_ns, "chmod changes ctime", "%d -> %d" % (st0.st_ctime_ns, st1.st_ctime_ns))
eq(st1.st_mtime_ns, st0.st_mtime_ns, "chmod leaves mtime alone")
os.chmod("f", 0o4755)
eq(stat.S_IMODE(os.stat("f").st_mode), 0o4755, "setuid bit stored")
os.chmod("f", 0o1777)
eq(stat.S_IMODE(os.stat("f").st_mode), 0o1777, "sticky bit and all permission bits stored")
os.chmod("f", 0o000)
eq(stat.S_IMODE(os.stat("f").st_mode), 0, "mode 0000 stored")
os.chmod("f", 0o644)

tick()
st1 = os.stat("f")
must("chown 1234:5678", os.chown, "f", 1234, 5678)
st2 = os.stat("f")
eq((st2.st_uid, st2.st_gid), (1234, 5678), "owner is 1234:5678")
check(st2.st_ctime_ns > st1.st_ctime_ns, "chown changes ctime")
os.chown("f", -1, 42)
eq((os.stat("f").st_uid, os.stat("f").st_gid), (1234, 42), "chown -1:42 changes only the group")
os.chown("f", 77, -1)
eq((os.stat("f").st_uid, os.stat("f").st_gid), (77, 42), "chown 77:-1 changes only the owner")
os.chown("f", 4000000000, 4000000001)
eq((os.stat("f").st_uid, os.stat("f").st_gid), (4000000000, 4000000001), "32-bit uid/gid values stored")
os.chown("f", 0, 0)
os.symlink("f", "lnk")
os.lchown("lnk", 555, 666)
eq((os.lstat("lnk").st_uid, os.lstat("lnk").st_gid), (555, 666), "lchown changes the symlink itself")
eq((os.stat("f").st_uid, os.stat("f").st_gid), (0, 0), "lchown leaves the target alone")

tick()
st2 = os.stat("f")
must("utimensat explicit atime and mtime", utimensat, "f", (1000000000, 123456789), (1200000000, 987654321))
st3 = os.stat("f")
eq((st3.st_atime_ns, st3.st_mtime_ns), (1000000000123456789, 1200000000987654321), "explicit times stored to the nanosecond")
check(st3.st_ctime_ns > st2.st_ctime_ns, "utimensat changes ctime")
tick()
must("utimensat UTIME_OMIT atime, explicit mtime", utimensat, "f", UTIME_OMIT, (1300000000, 5))
st4 = os.stat("f")
eq(st4.st_atime_ns, 1000000000123456789, "UTIME_OMIT keeps atime")
eq(st4.st_mtime_ns, 1300000000000000005, "mtime set")
before = time.time_ns()
tick()
must("utimensat UTIME_NOW mtime, UTIME_OMIT atime", utimensat, "f", UTIME_OMIT, UTIME_NOW)
st5 = os.stat("f")
eq(st5.st_atime_ns, 1000000000123456789, "atime still the explicit value")
check(before - 2_000_000_000 <= st5.st_mtime_ns <= time.time_ns() + 2_000_000_000,
      "UTIME_NOW sets mtime to now", "mtime %d, now %d" % (st5.st_mtime_ns, time.time_ns()))
check(st5.st_ctime_ns >= st5.st_mtime_ns - 1_000_000, "ctime is not older than the UTIME_NOW mtime")
must("utimensat UTIME_NOW both", utimensat, "f", UTIME_NOW, UTIME_NOW)
st6 = os.stat("f")
check(abs(st6.st_atime_ns - time.time_ns()) < 5_000_000_000, "UTIME_NOW sets atime to now")
must("utimensat both UTIME_OMIT", utimensat, "f", UTIME_OMIT, UTIME_OMIT)
st7 = os.stat("f")
eq((st7.st_atime_ns, st7.st_mtime_ns), (st6.st_atime_ns, st6.st_mtime_ns), "both UTIME_OMIT changes nothing")
must("utimensat a time in 2100", utimensat, "f", (4102444800, 1), (4102444800, 2))
eq(os.stat("f").st_mtime_ns, 4102444800000000002, "a time in 2100 stored")
must("utimensat a time before 1970", utimensat, "f", (-86400, 0), (-86400 * 365, 500))
eq(os.stat("f").st_mtime_ns, -86400 * 365 * 10**9 + 500, "a time before 1970 stored")
must("utimensat on a symlink with AT_SYMLINK_NOFOLLOW", utimensat, "lnk", (1111, 0), (2222, 0), 0x100)
eq(os.lstat("lnk").st_mtime_ns, 2222 * 10**9, "symlink's own mtime set")

# data changes move mtime and ctime
os.utime("f", ns=(10**18, 10**18))
tick()
st0 = os.stat("f")
fd = os.open("f", os.O_WRONLY)
os.write(fd, b"x")
os.close(fd)
st1 = os.stat("f")
check(st1.st_mtime_ns > 10**9 * 1500000000 and st1.st_mtime_ns != st0.st_mtime_ns, "write updates mtime")
check(st1.st_ctime_ns > st0.st_ctime_ns, "write updates ctime")
tick()
os.truncate("f", 3)
st2 = os.stat("f")
check(st2.st_mtime_ns > st1.st_mtime_ns and st2.st_ctime_ns > st1.st_ctime_ns, "truncate updates mtime and ctime")
tick()
os.link("f", "f2")
st3 = os.stat("f")
check(st3.st_ctime_ns > st2.st_ctime_ns, "link changes the inode's ctime")
eq(st3.st_mtime_ns, st2.st_mtime_ns, "link leaves mtime alone")
tick()
os.mkdir("dd")
d0 = os.stat("dd")
tick()
write_file("dd/new", b"")
d1 = os.stat("dd")
check(d1.st_mtime_ns > d0.st_mtime_ns and d1.st_ctime_ns > d0.st_ctime_ns, "creating an entry updates the directory's mtime and ctime")
tick()
os.unlink("dd/new")
d2 = os.stat("dd")
check(d2.st_mtime_ns > d1.st_mtime_ns and d2.st_ctime_ns > d1.st_ctime_ns, "removing an entry updates the directory's mtime and ctime")

# things for the unprivileged part
os.mkdir("pub", 0o777)
os.chmod("pub", 0o777)
write_file("rootfile", b"root's", 0o644)
os.chmod("rootfile", 0o644)
os.mkdir("sg")
os.chown("sg", 0, 4242)
os.chmod("sg", 0o2777)
eq(stat.S_IMODE(os.stat("sg").st_mode), 0o2777, "setgid directory mode 2777")
os.mkdir("private", 0o700)
EOF

say "as uid 65534 (setpriv --reuid=65534 --regid=65534 --clear-groups)"
run_py_nobody "$M" <<'EOF'
import os, stat, sys
from dxcheck import *
os.chdir(sys.argv[1])
os.umask(0o022)
eq((os.getuid(), os.getgid(), os.getgroups()), (65534, 65534, []), "running as 65534:65534 without groups")

write_file("pub/mine", b"nobody's")
st = os.stat("pub/mine")
eq((st.st_uid, st.st_gid), (65534, 65534), "new file owned by the caller's uid and gid")
os.mkdir("pub/mydir")
st = os.stat("pub/mydir")
eq((st.st_uid, st.st_gid), (65534, 65534), "new directory owned by the caller")
os.symlink("mine", "pub/mylink")
st = os.lstat("pub/mylink")
eq((st.st_uid, st.st_gid), (65534, 65534), "new symlink owned by the caller")
os.mkfifo("pub/myfifo")
st = os.stat("pub/myfifo")
eq((st.st_uid, st.st_gid), (65534, 65534), "new fifo owned by the caller")
eq(stat.S_IMODE(os.stat("pub/mine").st_mode), 0o644, "umask 022 applied to the new file")

expect_errno("EACCES", "open a root-owned 0644 file for writing", os.open, "rootfile", os.O_WRONLY)
eq(read_file("rootfile"), b"root's", "reading a root-owned 0644 file works")
expect_errno("EACCES", "create a file in the root-owned 0755 root directory", os.open, "newfile", os.O_WRONLY | os.O_CREAT, 0o644)
expect_errno("EACCES", "mkdir in the root-owned 0755 root directory", os.mkdir, "newdir")
expect_errno("EACCES", "unlink in the root-owned 0755 root directory", os.unlink, "rootfile")
expect_errno("EACCES", "list a root-owned 0700 directory", os.listdir, "private")
expect_errno("EPERM", "chmod someone else's file", os.chmod, "rootfile", 0o666)
expect_errno("EPERM", "chown own file to root", os.chown, "pub/mine", 0, -1)
expect_errno("EPERM", "chgrp own file to a group the caller is not in", os.chown, "pub/mine", -1, 4242)
expect_errno("EPERM", "set explicit times on someone else's file", utimensat, "rootfile", (1, 0), (1, 0))
expect_errno("EACCES", "UTIME_NOW on someone else's read-only file", utimensat, "rootfile", UTIME_NOW, UTIME_NOW)
must("chmod own file", os.chmod, "pub/mine", 0o600)
eq(stat.S_IMODE(os.stat("pub/mine").st_mode), 0o600, "own file's mode changed")
must("set explicit times on own file", utimensat, "pub/mine", (5, 0), (6, 0))
eq(os.stat("pub/mine").st_mtime_ns, 6 * 10**9, "own file's mtime changed")

write_file("sg/f", b"in setgid dir")
st = os.stat("sg/f")
eq((st.st_uid, st.st_gid), (65534, 4242), "file in a setgid directory gets the directory's group")
os.mkdir("sg/sub")
st = os.stat("sg/sub")
eq((st.st_uid, st.st_gid), (65534, 4242), "directory in a setgid directory gets the directory's group")
check(st.st_mode & stat.S_ISGID, "directory in a setgid directory inherits the setgid bit", "mode %o" % st.st_mode)
write_file("sg/sub/g", b"")
eq(os.stat("sg/sub/g").st_gid, 4242, "the group passes on one more level")
os.mkfifo("sg/fifo")
eq(os.stat("sg/fifo").st_gid, 4242, "fifo in a setgid directory gets the directory's group")
os.symlink("f", "sg/link")
eq(os.lstat("sg/link").st_gid, 4242, "symlink in a setgid directory gets the directory's group")
os.mkdir("pub/plain")
eq(os.stat("pub/plain").st_mode & stat.S_ISGID, 0, "directory in a plain directory has no setgid bit")
EOF

say "ownership after remount"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
check_eq "owner of nobody's file after remount" "65534:65534" "$(stat -c %u:%g "$M/pub/mine")"
check_eq "setgid inheritance after remount" "65534:4242 2755" "$(stat -c '%u:%g %a' "$M/sg/sub")"
check_eq "explicit mtime after remount" "6" "$(stat -c %Y "$M/pub/mine")"

say "without allow_other other users are refused"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups stat "$M/pub" >/dev/null 2>&1 || rc=$?
[[ $rc -ne 0 ]] || die "uid 65534 could stat $M/pub on a mount without allow_other"
pass "uid 65534 cannot access a mount without allow_other"
umount_fs "$M"
finish
