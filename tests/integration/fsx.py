#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fsx-class random-operation checker for daxfs through a real mount.

It keeps an exact in-memory model of a few files and checks every read
against it: pwrite/pread at random offsets and lengths, O_DIRECT reads and
writes (page-aligned buffers), truncate up and down, every fallocate mode
daxfs supports (0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE,
ZERO_RANGE|KEEP_SIZE), copy_file_range within a file and between files
(overlapping: EINVAL; unaligned; past either EOF), mmap reads and writes
with msync, SEEK_DATA/SEEK_HOLE (holes only where the model has zeros),
close and reopen, and, when it runs the daemon itself, a clean
remount (fsck.daxfs -n -f after the unmount) and a SIGKILL of the daemon
followed by a remount.  Everything follows from --seed: a run is replayed
exactly by the same command line.  On a mismatch it prints the last
operations and the replay command, and exits 1.

  fsx.py --dir MNT [--seed S] [--ops N] ...         on a mounted daxfs
  fsx.py --pool POOL --dir MNT --daxfs BIN --fsck BIN ...
                                                    mounts POOL itself
  ... --helper                                      mounts with
                                                    mount -t fuse.daxfs

With --pool it starts the daemon (daxfs POOL MNT -f, or through the mount
helper with --helper, where the daemon forks), finds the daemon's PID as
the process of the --daxfs binary that has the pool open (never by name),
and always unmounts before it exits.
"""
import argparse
import collections
import ctypes
import errno
import mmap
import os
import random
import shlex
import signal
import subprocess
import sys
import time

BS = 4096
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_MODES = [
    (0, "0"),
    (FALLOC_FL_KEEP_SIZE, "KEEP_SIZE"),
    (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "PUNCH_HOLE|KEEP_SIZE"),
    (FALLOC_FL_ZERO_RANGE, "ZERO_RANGE"),
    (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, "ZERO_RANGE|KEEP_SIZE"),
]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


class Mismatch(Exception):
    pass


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %d s waiting until %s" % (timeout, what))
        time.sleep(0.02)


def is_mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mnt for line in f)


def pid_alive(pid):
    """True until every thread of process pid has exited: a killed
    multithreaded process's leader is a zombie while its other threads still
    exit, and they may hold the pool (and its lock) a moment longer."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                return True
        return len(os.listdir("/proc/%d/task" % pid)) > 1
    except FileNotFoundError:
        return False


class Daemon:
    """The daxfs daemon of one pool: started, stopped and killed by PID."""

    def __init__(self, args):
        self.a = args
        self.pool = os.path.realpath(args.pool)
        self.mnt = os.path.realpath(args.dir)
        self.exe = os.path.realpath(args.daxfs)
        self.proc = None  # our child, without --helper
        self.pid = None
        self.log = open(args.daemon_log or os.devnull, "ab")

    def find_pid(self):
        """The process of our daxfs binary with the pool open."""
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if os.path.realpath("/proc/%s/exe" % d) != self.exe:
                    continue
                for fd in os.listdir("/proc/%s/fd" % d):
                    if os.path.realpath("/proc/%s/fd/%s" % (d, fd)) == self.pool:
                        found.append(int(d))
                        break
            except OSError:
                continue
        return found

    def mount(self):
        os.makedirs(self.mnt, exist_ok=True)
        if self.a.helper:
            r = subprocess.run(["mount", "-t", "fuse.daxfs", self.pool, self.mnt],
                               stdout=self.log, stderr=subprocess.PIPE)
            if r.returncode != 0:
                raise RuntimeError("mount -t fuse.daxfs %s %s failed: %s"
                                   % (self.pool, self.mnt, r.stderr.decode().strip()))
            pids = self.find_pid()
            if len(pids) != 1:
                raise RuntimeError("expected one daxfs daemon with %s open, found %s"
                                   % (self.pool, pids))
            self.pid = pids[0]
        else:
            self.proc = subprocess.Popen([self.exe, self.pool, self.mnt, "-f"],
                                         stdout=self.log, stderr=self.log)
            self.pid = self.proc.pid
            deadline = time.monotonic() + 20
            while not is_mounted(self.mnt):
                if self.proc.poll() is not None:
                    raise RuntimeError("daxfs %s %s -f exited with %d before mounting"
                                       % (self.pool, self.mnt, self.proc.returncode))
                if time.monotonic() > deadline:
                    raise RuntimeError("daxfs did not mount %s within 20 s" % self.mnt)
                time.sleep(0.02)

    def wait_exit(self, timeout):
        if self.proc:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise RuntimeError("daemon PID %d still running %d s after unmount"
                                   % (self.pid, timeout))
            rc = self.proc.returncode
            self.proc = None
        else:
            wait_for(lambda: not pid_alive(self.pid), timeout, "daemon PID %d exits" % self.pid)
            rc = None
        self.pid = None
        return rc

    def unmount(self):
        deadline = time.monotonic() + 30
        while True:
            cmd = ["umount", self.mnt] if self.a.helper else ["fusermount3", "-u", self.mnt]
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode == 0 or not is_mounted(self.mnt):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%s kept failing: %s" % (" ".join(cmd), r.stderr.decode().strip()))
            time.sleep(0.1)
        # The pool is free (and fsck may look at it) once the daemon is gone.
        rc = self.wait_exit(60)
        if rc not in (0, None):
            raise RuntimeError("the daemon exited with status %d after a clean unmount" % rc)
        self.fsck()

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait(20)
            self.proc = None
        else:
            wait_for(lambda: not pid_alive(self.pid), 20, "daemon PID %d dies" % self.pid)
        self.pid = None

    def detach(self):
        """Unmounts the mount of a dead daemon."""
        for _ in range(100):
            if not is_mounted(self.mnt):
                return
            r = subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return
            time.sleep(0.05)
        subprocess.run(["fusermount3", "-u", "-z", self.mnt], stderr=subprocess.DEVNULL)
        if is_mounted(self.mnt):
            raise RuntimeError("could not detach %s after killing its daemon" % self.mnt)

    def fsck(self):
        if not self.a.fsck:
            return
        r = subprocess.run([self.a.fsck, "-n", "-f", self.pool], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise Mismatch("fsck.daxfs -n -f %s exited %d after a clean unmount:\n%s"
                           % (self.pool, r.returncode, r.stdout.decode(errors="replace")[-3000:]))

    def cleanup(self):
        """Best effort at exit: leave nothing mounted and no daemon of ours."""
        if self.pid is None:
            return
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL)
        try:
            self.wait_exit(30)
        except RuntimeError:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            if self.proc:
                self.proc.wait(10)
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], stderr=subprocess.DEVNULL)


class Checker:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.names = ["fsx%d" % i for i in range(args.files)]
        self.model = {n: bytearray() for n in self.names}
        self.fds = {}
        self.dfds = {}
        self.log = collections.deque(maxlen=args.log)
        self.opno = 0
        self.counts = collections.Counter()
        self.daemon = Daemon(args) if args.pool else None
        self.dbuf = mmap.mmap(-1, args.maxlen + 2 * BS)  # page-aligned for O_DIRECT

    # ------------------------------------------------------------ plumbing

    def path(self, n):
        return os.path.join(self.a.dir, n)

    def note(self, text):
        self.log.append("%6d %s" % (self.opno, text))

    def fail(self, msg):
        raise Mismatch(msg)

    def open_all(self, create=False):
        for n in self.names:
            flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
            self.fds[n] = os.open(self.path(n), flags, 0o644)

    def close_all(self):
        for d in (self.fds, self.dfds):
            for fd in d.values():
                os.close(fd)
            d.clear()

    def dfd(self, n):
        if n not in self.dfds:
            self.dfds[n] = os.open(self.path(n), os.O_RDWR | os.O_DIRECT)
        return self.dfds[n]

    def data(self, length):
        return self.rng.randbytes(length)

    def set_bytes(self, n, off, data):
        m = self.model[n]
        if off > len(m):
            m.extend(bytes(off - len(m)))
        m[off:off + len(data)] = data

    def resize(self, n, size):
        m = self.model[n]
        if size < len(m):
            del m[size:]
        else:
            m.extend(bytes(size - len(m)))

    def expect(self, n, off, length, got, what):
        """A read of length bytes at off must return the model's bytes there,
        as many as there are before EOF."""
        want = bytes(self.model[n][off:off + length])
        if got != want:
            i = first_diff(got, want)
            self.fail("%s of %s at %d: %d bytes read, %d expected; first difference at file "
                      "offset %d: read %s, expected %s"
                      % (what, n, off, len(got), len(want), off + i,
                         got[i:i + 16].hex() or "EOF", want[i:i + 16].hex() or "EOF"))

    def check_size(self, n, what):
        st = os.fstat(self.fds[n])
        if st.st_size != len(self.model[n]):
            self.fail("%s: size of %s is %d, model %d" % (what, n, st.st_size, len(self.model[n])))

    def verify_all(self, what):
        for n in self.names:
            self.check_size(n, what)
            m = self.model[n]
            got = b""
            while len(got) < len(m) + 1:
                chunk = os.pread(self.fds[n], len(m) + BS - len(got), len(got))
                if not chunk:
                    break
                got += chunk
            if got != bytes(m):
                i = first_diff(got, m)
                self.fail("%s: %s (%d bytes read, model %d) differs first at byte %d: read %s, "
                          "expected %s" % (what, n, len(got), len(m), i, got[i:i + 16].hex(),
                                           bytes(m[i:i + 16]).hex()))

    # ------------------------------------------------------------ operations

    def rand_off(self, n, slack=BS):
        return self.rng.randrange(min(len(self.model[n]) + slack, self.a.maxsize))

    def rand_len(self):
        r = self.rng.random()
        if r < 0.3:
            return self.rng.randrange(1, 64)
        if r < 0.5:
            return BS * self.rng.randrange(1, 5)
        return self.rng.randrange(1, self.a.maxlen + 1)

    def op_write(self, n):
        off = self.rand_off(n)
        length = min(self.rand_len(), self.a.maxsize - off)
        data = self.data(length)
        self.note("write %s off %d len %d" % (n, off, length))
        w = os.pwrite(self.fds[n], data, off)
        if w != length:
            self.fail("pwrite of %d bytes to %s at %d returned %d" % (length, n, off, w))
        self.set_bytes(n, off, data)

    def op_read(self, n):
        off = self.rand_off(n)
        length = self.rand_len()
        self.note("read %s off %d len %d" % (n, off, length))
        self.expect(n, off, length, os.pread(self.fds[n], length, off), "pread")

    def aligned(self, n):
        """A block-aligned range that ends within --maxsize."""
        top = min(len(self.model[n]) + BS, self.a.maxsize - BS) // BS
        off = self.rng.randrange(top + 1) * BS
        length = BS * self.rng.randrange(1, max(2, self.a.maxlen // BS + 1))
        return off, min(length, self.a.maxsize - off)

    def op_dwrite(self, n):
        off, length = self.aligned(n)
        data = self.data(length)
        self.note("O_DIRECT write %s off %d len %d" % (n, off, length))
        self.dbuf[:length] = data
        w = os.pwritev(self.dfd(n), [memoryview(self.dbuf)[:length]], off)
        if w != length:
            self.fail("O_DIRECT write of %d bytes to %s at %d returned %d" % (length, n, off, w))
        self.set_bytes(n, off, data)

    def op_dread(self, n):
        off, length = self.aligned(n)
        self.note("O_DIRECT read %s off %d len %d" % (n, off, length))
        got = os.preadv(self.dfd(n), [memoryview(self.dbuf)[:length]], off)
        self.expect(n, off, length, bytes(self.dbuf[:got]), "O_DIRECT read")

    def op_truncate(self, n):
        size = self.rng.randrange(self.a.maxsize + 1)
        if self.rng.random() < 0.3:
            size = size // BS * BS
        self.note("truncate %s from %d to %d" % (n, len(self.model[n]), size))
        os.ftruncate(self.fds[n], size)
        self.resize(n, size)

    def op_fallocate(self, n):
        mode, name = self.rng.choice(FALLOC_MODES)
        off = self.rand_off(n)
        length = min(self.rand_len(), self.a.maxsize - off)
        if length <= 0:
            return
        self.note("fallocate %s %s off %d len %d (size %d)" % (n, name, off, length,
                                                                len(self.model[n])))
        fallocate(self.fds[n], mode, off, length)
        m, end = self.model[n], off + length
        keep = mode & FALLOC_FL_KEEP_SIZE
        if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
            zend = min(end, len(m)) if keep else end
            if zend > off:
                self.set_bytes(n, off, bytes(zend - off))
        elif not keep and end > len(m):
            self.resize(n, end)

    def op_copy(self, s):
        d = s if self.rng.random() < 0.35 else self.rng.choice(self.names)
        sm, dm = self.model[s], self.model[d]
        off_in = self.rng.randrange(len(sm) + BS)
        off_out = self.rng.randrange(min(len(dm) + 2 * BS, self.a.maxsize))
        if s == d and sm and self.rng.random() < 0.4:
            # near the source: adjacent or overlapping on purpose
            off_out = max(0, min(self.a.maxsize - 1, off_in + self.rng.randrange(-2 * BS, 2 * BS)))
        length = min(self.rand_len(), self.a.maxsize - off_out)
        count = max(0, min(length, len(sm) - off_in))
        overlap = s == d and off_out + count > off_in and off_out < off_in + count
        self.note("copy_file_range %s off %d -> %s off %d len %d (sizes %d, %d)%s"
                  % (s, off_in, d, off_out, length, len(sm), len(dm),
                     " overlapping" if overlap else ""))
        try:
            got = os.copy_file_range(self.fds[s], self.fds[d], length, off_in, off_out)
        except OSError as e:
            if overlap and e.errno == errno.EINVAL:
                self.counts["copy refused (overlap)"] += 1
                return
            raise
        if overlap:
            self.fail("an overlapping copy_file_range within %s returned %d, not EINVAL" % (s, got))
        if got != count:
            self.fail("copy_file_range returned %d, the model says %d" % (got, count))
        if count:
            self.set_bytes(d, off_out, bytes(sm[off_in:off_in + count]))

    def op_mapread(self, n):
        size = len(self.model[n])
        if size == 0:
            return self.op_read(n)
        off = self.rng.randrange(size)
        length = min(self.rand_len(), size - off)
        self.note("mmap read %s off %d len %d" % (n, off, length))
        with mmap.mmap(self.fds[n], size, mmap.MAP_SHARED, mmap.PROT_READ) as mm:
            got = mm[off:off + length]
        self.expect(n, off, length, got, "mmap read")

    def op_mapwrite(self, n):
        size = len(self.model[n])
        if size == 0:
            return self.op_write(n)
        off = self.rng.randrange(size)
        length = min(self.rand_len(), size - off)
        data = self.data(length)
        self.note("mmap write %s off %d len %d + msync" % (n, off, length))
        with mmap.mmap(self.fds[n], size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as mm:
            mm[off:off + length] = data
            mm.flush()
        self.set_bytes(n, off, data)

    def op_seek(self, n):
        """SEEK_DATA and SEEK_HOLE may place holes only where the model has
        zeros, and at block edges (or at the start offset, or EOF)."""
        m = self.model[n]
        size = len(m)
        off = self.rng.randrange(size + BS)
        self.note("SEEK_DATA and SEEK_HOLE %s from %d (size %d)" % (n, off, size))
        try:
            d = os.lseek(self.fds[n], off, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            d = size
            if off < size and any(m[off:]):
                self.fail("SEEK_DATA from %d in %s: ENXIO, but the model has data after it" % (off, n))
        if off >= size:
            return
        if not off <= d <= size or any(m[off:d]):
            self.fail("SEEK_DATA from %d in %s returned %d over data of the model" % (off, n, d))
        h = os.lseek(self.fds[n], off, os.SEEK_HOLE)
        if not off <= h <= size:
            self.fail("SEEK_HOLE from %d in %s returned %d, size %d" % (off, n, h, size))
        if h < size:
            if h != off and h % BS:
                self.fail("SEEK_HOLE from %d in %s returned %d, not a block edge" % (off, n, h))
            end = min(size, (h // BS + 1) * BS)
            if any(m[h:end]):
                self.fail("SEEK_HOLE from %d in %s returned %d, where the model has data" % (off, n, h))

    def op_reopen(self, n):
        self.note("close and reopen every file")
        self.close_all()
        self.open_all()
        self.check_size(n, "after reopen")

    def op_remount(self, n):
        kill = self.rng.random() < 0.5
        self.note("%s and remount" % ("SIGKILL the daemon" if kill else "clean unmount"))
        if kill:
            # Files stay open across the kill, as a crashing daemon finds them.
            self.daemon.kill()
            self.close_all()
            self.daemon.detach()
        else:
            self.close_all()
            self.daemon.unmount()
        self.daemon.mount()
        self.open_all()
        self.verify_all("after %s and remount" % ("SIGKILL" if kill else "a clean unmount"))

    # ------------------------------------------------------------ driver

    def ops(self):
        table = [
            (20, self.op_write), (14, self.op_read), (5, self.op_dwrite), (5, self.op_dread),
            (5, self.op_truncate), (10, self.op_fallocate), (12, self.op_copy),
            (2, self.op_reopen), (3, self.op_seek),
        ]
        if self.a.mmap:
            table += [(7, self.op_mapread), (7, self.op_mapwrite)]
        if not self.a.direct:
            table = [t for t in table if t[1] not in (self.op_dwrite, self.op_dread)]
        return table

    def run(self):
        table = self.ops()
        weights = [w for w, _ in table]
        funcs = [f for _, f in table]
        if self.daemon:
            self.daemon.mount()
        self.open_all(create=True)
        every = self.a.remount_every
        for self.opno in range(1, self.a.ops + 1):
            n = self.rng.choice(self.names)
            if self.daemon and every and self.rng.randrange(every) == 0:
                f = self.op_remount
            else:
                f = self.rng.choices(funcs, weights)[0]
            self.counts[f.__name__[3:]] += 1
            f(n)
            if self.opno % 64 == 0:
                self.check_size(n, "size check")
        self.note("final check")
        self.verify_all("at the end")
        self.close_all()
        if self.daemon:
            self.daemon.unmount()
            self.daemon.mount()
            self.open_all()
            self.verify_all("after the final remount")
            self.close_all()
            self.daemon.unmount()

    def replay(self):
        a = self.a
        parts = [sys.argv[0], "--dir", a.dir, "--seed", str(a.seed), "--ops", str(self.opno),
                 "--files", str(a.files), "--maxsize", str(a.maxsize), "--maxlen", str(a.maxlen)]
        if not a.mmap:
            parts.append("--no-mmap")
        if not a.direct:
            parts.append("--no-direct")
        if a.pool:
            parts += ["--pool", a.pool, "--daxfs", a.daxfs, "--remount-every", str(a.remount_every)]
            if a.fsck:
                parts += ["--fsck", a.fsck]
            if a.helper:
                parts.append("--helper")
        return " ".join(shlex.quote(p) for p in parts)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, help="the mount point (files are made in it)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ops", type=int, default=10000)
    p.add_argument("--files", type=int, default=2)
    p.add_argument("--maxsize", type=int, default=256 << 10, help="largest file size")
    p.add_argument("--maxlen", type=int, default=64 << 10, help="longest single operation")
    p.add_argument("--no-mmap", dest="mmap", action="store_false")
    p.add_argument("--no-direct", dest="direct", action="store_false")
    p.add_argument("--log", type=int, default=40, help="operations printed on a mismatch")
    p.add_argument("--pool", help="mount this pool on --dir (and remount it) ourselves")
    p.add_argument("--daxfs", help="the daemon binary (with --pool)")
    p.add_argument("--fsck", help="fsck.daxfs, run with -n -f after every clean unmount")
    p.add_argument("--helper", action="store_true",
                   help="mount with mount -t fuse.daxfs (the daemon forks); needs the --daxfs "
                        "binary to be the daxfs on mount's PATH")
    p.add_argument("--remount-every", type=int, default=1000,
                   help="a remount (clean or SIGKILL) once in about this many operations; 0: never")
    p.add_argument("--daemon-log", help="append the daemon's output here")
    a = p.parse_args()
    if a.pool and not a.daxfs:
        p.error("--pool needs --daxfs")
    if a.maxsize < 4 * BS or a.maxsize % BS:
        p.error("--maxsize must be a multiple of %d, at least %d" % (BS, 4 * BS))
    if a.maxlen > a.maxsize:
        a.maxlen = a.maxsize
    a.dir = os.path.realpath(a.dir)
    c = Checker(a)
    t0 = time.monotonic()
    try:
        c.run()
    except (Mismatch, OSError, RuntimeError) as e:
        print("FAIL: seed %d, operation %d: %s" % (a.seed, c.opno, e), file=sys.stderr)
        print("last operations:", file=sys.stderr)
        for line in c.log:
            print("  " + line, file=sys.stderr)
        print("replay: " + c.replay(), file=sys.stderr)
        sys.stderr.flush()
        try:
            c.close_all()
        except OSError:
            pass
        if c.daemon:
            c.daemon.cleanup()
        return 1
    except BaseException:
        if c.daemon:
            c.daemon.cleanup()
        raise
    print("fsx: seed %d, %d operations%s in %.1f s: %s" % (
        a.seed, a.ops, "" if a.mmap else " (no mmap)", time.monotonic() - t0,
        ", ".join("%s %d" % kv for kv in sorted(c.counts.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
