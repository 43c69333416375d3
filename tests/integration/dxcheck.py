# SPDX-License-Identifier: MIT
"""Check helpers for the python blocks of the daxfs integration tests.

lib.sh copies this module into the test's temp dir and puts it on
PYTHONPATH.  Every passing check prints one "ok" line; the first failing one
prints "FAIL: ..." and exits 1.  The number of passing checks is written to
$DXCHECK_COUNT_FILE at exit so that the shell script can count them.
"""

import atexit
import ctypes
import errno
import hashlib
import os
import platform
import struct
import sys
import time

_count = 0


def _write_count():
    path = os.environ.get("DXCHECK_COUNT_FILE")
    if path:
        try:
            with open(path, "w") as f:
                f.write(str(_count))
        except OSError:
            pass


atexit.register(_write_count)


def ok(desc):
    global _count
    _count += 1
    print("  ok py - %s" % desc, flush=True)


def fail(msg):
    sys.stdout.flush()
    print("FAIL: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, desc, detail=""):
    if not cond:
        fail("%s%s" % (desc, (": " + detail) if detail else ""))
    ok(desc)


def eq(actual, expected, desc):
    if actual != expected:
        a, e = repr(actual), repr(expected)
        if len(a) > 300:
            a = a[:300] + "..."
        if len(e) > 300:
            e = e[:300] + "..."
        fail("%s: expected %s, got %s" % (desc, e, a))
    ok(desc)


def errname(e):
    return errno.errorcode.get(e, str(e))


def expect_errno(expected, desc, fn, *args, **kw):
    """fn(*args) must raise OSError with errno expected (a name such as
    "ENOENT", or a tuple of acceptable names)."""
    names = (expected,) if isinstance(expected, str) else tuple(expected)
    codes = [getattr(errno, n) for n in names]
    try:
        r = fn(*args, **kw)
    except OSError as e:
        if e.errno in codes:
            ok("%s -> %s" % (desc, errname(e.errno)))
            return e
        fail("%s: expected %s, got %s (%s)" % (desc, "/".join(names), errname(e.errno), e))
    # A successful call may have returned a file descriptor: close it.
    if isinstance(r, int) and fn in (os.open,) and r >= 0:
        os.close(r)
    fail("%s: expected %s, but the call succeeded (returned %r)" % (desc, "/".join(names), r))


def must(desc, fn, *args, **kw):
    """fn(*args) must succeed; returns its result (counts as a check)."""
    try:
        r = fn(*args, **kw)
    except OSError as e:
        fail("%s: failed with %s (%s)" % (desc, errname(e.errno), e))
    ok(desc)
    return r


def do(desc, fn, *args, **kw):
    """Like must() but not counted: a step that is not itself a check."""
    try:
        return fn(*args, **kw)
    except OSError as e:
        fail("%s: failed with %s (%s)" % (desc, errname(e.errno), e))


# --------------------------------------------------------------- syscalls

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def _raise(path):
    e = ctypes.get_errno()
    raise OSError(e, os.strerror(e), path)


libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]


def renameat2(old, new, flags):
    if libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        _raise(old)


class _timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _ts(v):
    if v in (UTIME_NOW, UTIME_OMIT):
        return _timespec(0, v)
    sec, nsec = v
    return _timespec(sec, nsec)


def utimensat(path, atime, mtime, flags=0):
    """atime/mtime: (sec, nsec), UTIME_NOW or UTIME_OMIT."""
    arr = (_timespec * 2)(_ts(atime), _ts(mtime))
    if libc.utimensat(AT_FDCWD, os.fsencode(path), arr, flags) != 0:
        _raise(path)


_SYS_getdents64 = {"x86_64": 217, "aarch64": 61, "riscv64": 61, "ppc64le": 202,
                   "s390x": 220}.get(platform.machine(), 217)


def getdents64(fd, bufsize):
    """One getdents64 call; returns [(ino, off, type, name), ...] ([] at end)."""
    buf = ctypes.create_string_buffer(bufsize)
    n = libc.syscall(_SYS_getdents64, fd, buf, bufsize)
    if n < 0:
        _raise("getdents64")
    out = []
    raw = buf.raw[:n]
    pos = 0
    while pos < n:
        ino, off, reclen, typ = struct.unpack_from("<QqHB", raw, pos)
        name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
        out.append((ino, off, typ, os.fsdecode(name)))
        pos += reclen
    return out


# --------------------------------------------------------------- helpers

def statfs(path):
    s = os.statvfs(path)
    return {"bsize": s.f_bsize, "frsize": s.f_frsize, "blocks": s.f_blocks,
            "bfree": s.f_bfree, "bavail": s.f_bavail, "files": s.f_files,
            "ffree": s.f_ffree, "namemax": s.f_namemax, "flag": s.f_flag}


def free_counts(path):
    s = os.statvfs(path)
    return (s.f_bfree, s.f_ffree)


def wait_until(pred, timeout=5.0, interval=0.05):
    """Poll pred() until it is true; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def wait_free_counts(path, expected, timeout=10.0):
    """Wait until (free blocks, free inodes) of path equal expected (the
    kernel sends RELEASE/FORGET asynchronously); returns the last value."""
    last = [None]

    def pred():
        last[0] = free_counts(path)
        return last[0] == expected

    wait_until(pred, timeout)
    return last[0]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def pattern(seed, n):
    """n deterministic pseudo-random bytes for seed."""
    import random
    return random.Random(seed).randbytes(n)
