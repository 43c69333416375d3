/* SPDX-License-Identifier: MIT */
/*
 * daxfs-pin-helper: the direct-access side of the stress suite's mount
 * tests.  Each command prints "ok - ..." for every check that holds and
 * "FAIL: ..." for one that does not, and exits 1 if any failed.
 *
 *   errors FILE        bad payloads of every pin ioctl: refused, nothing held
 *   limit FILE         DAXFS_PINS_PER_HANDLE pins, then EMFILE; other handles
 *                      are not limited by it; close drops them all
 *   access FILE        direct loads and stores through libdaxfs-client
 *   rdonly FILE        (8 blocks of data, then a hole) a file opened read-only
 *                      cannot get WRITE pins
 *   wronly FILE        a file opened write-only gets WRITE pins only: READ
 *                      and STABLE pins hand out its data (EBADF)
 *   nomap FILE         (as a user who may not map the pool) open and pins
 *                      work, only daxfs_client_map fails with EACCES; the
 *                      same with DAXFS_CLIENT_NOMAP
 *   hold FILE OFF LEN read|write|stable
 *                      pins and holds until SIGTERM; prints "pinned ID" and
 *                      "recalled ID" when the pin is recalled; closes the
 *                      file on SIGTERM and prints "closed"
 *   yield FILE OFF LEN read|write|stable
 *                      pins, prints "pinned ID"; on the recall unpins and
 *                      prints "unpinned"; closes the file on SIGTERM
 *   stable FILE        a write into a STABLE-pinned range goes copy-on-write
 *   stable-wait FILE   with -o stable_writes=wait, it waits for the unpin
 *   stable-mmap FILE   a store through a shared mapping of the file into a
 *                      STABLE-pinned range goes copy-on-write at writeback
 *   stable-truncate FILE SECS
 *                      a truncate into a STABLE-pinned range recalls the pin
 *                      (POLLPRI, RECALLS) and completes within SECS; the
 *                      pinned blocks do not change
 *   stable-storm DIR N SECS
 *                      N writers into N STABLE-pinned files (stable_writes=
 *                      wait): the holders can still unpin, and every write
 *                      completes within SECS, recalled pins intact
 *   trunc-storm DIR N SECS
 *                      N truncates waiting on pinned blocks leave room for
 *                      another file's PIN and UNPIN within SECS
 *   dma-cache FILE     stores through a WRITE pin's mapping show to a reader
 *                      whose page cache held the old bytes, after the
 *                      unpin and after a close that drops the pin
 *   max-pinned FILE CAP  (-o max_pinned=CAP, CAP even) pins hold CAP blocks
 *                      at most over the mount: ENFILE beyond, on any open
 *                      file, and room again after an unpin
 *   cow-pairs FILE     WRITE and STABLE pins never share a block (the second
 *                      is refused with EBUSY, a pin cannot be both), WRITE
 *                      pins do; a write() into each block keeps the WRITE
 *                      pins' holders' later stores in the file
 *   cow-bounce FILE write|mmap|zero
 *                      a change of a WRITE-pinned block (write(), mmap store
 *                      and msync, fallocate ZERO_RANGE) while a reader asks
 *                      for a STABLE pin on it: the device's later stores
 *                      are the file's data
 *   uid-flood SHARED OWN N  (as root) N users, uids 65534 down, each pin
 *                      SHARED (2 blocks, world-readable) through 16 open
 *                      files x 256 pins: each gets its per-uid share at
 *                      most, together they leave root its reserve, and
 *                      root still pins OWN
 *   stats PATH FIELD...  counters of DAXFS_IOC_STATS by name
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daxfs_client.h"
#include "daxfs_ioctl.h"

#define BS 4096u

static unsigned failures;

static void ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ok(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("ok - ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

/* Setup steps that must work for the checks to mean anything. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf(": %s\n", strerror(errno));
	va_end(ap);
	exit(1);
}

static int xopen(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);

	if (fd < 0)
		die("open %s", path);
	return fd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The errno of one raw ioctl (0 when it succeeds). */
static int ioctl_errno(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? errno : 0;
}

static void expect_errno(const char *what, int got, int want)
{
	if (got == want)
		ok("%s: %s", what, want ? strerror(want) : "succeeds");
	else
		fail("%s: expected %s, got %s", what, want ? strerror(want) : "success",
		     got ? strerror(got) : "success");
}

static int pin_errno(int fd, uint64_t off, uint64_t len, uint32_t flags, uint64_t *id)
{
	struct daxfs_ioc_pin p;

	memset(&p, 0, sizeof(p));
	p.offset = off;
	p.length = len;
	p.flags = flags;
	int e = ioctl_errno(fd, DAXFS_IOC_PIN, &p);
	if (!e && id)
		*id = p.pin_id;
	if (!e && !id) { /* a pin the test did not expect to get: do not keep it */
		struct daxfs_ioc_unpin u = {p.pin_id};
		ioctl(fd, DAXFS_IOC_UNPIN, &u);
	}
	return e;
}

static int unpin_errno(int fd, uint64_t id)
{
	struct daxfs_ioc_unpin u = {id};

	return ioctl_errno(fd, DAXFS_IOC_UNPIN, &u);
}

static void get_stats(int fd, struct daxfs_ioc_stats *st)
{
	if (ioctl(fd, DAXFS_IOC_STATS, st) < 0)
		die("DAXFS_IOC_STATS");
}

static void fill(int fd, uint64_t off, uint64_t len, int byte)
{
	char *buf = malloc(len);

	if (!buf)
		die("malloc");
	memset(buf, byte, len);
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		die("pwrite");
	free(buf);
}

/* The file: 8 blocks of data, then 8 blocks of hole. */
static int data_then_hole(const char *path)
{
	int fd = xopen(path, O_RDWR | O_CREAT | O_TRUNC);

	fill(fd, 0, 8 * BS, 'd');
	if (ftruncate(fd, 16 * BS) < 0)
		die("ftruncate");
	return fd;
}

/* ---- errors -------------------------------------------------------------------- */

/* An ioctl number for DAXFS_IOC_PIN's slot with a payload of another size,
 * as a client built against another header would send. */
struct short_pin {
	uint64_t offset, length;
	uint32_t flags, nextents;
	uint64_t pin_id;
};
#define BAD_SIZE_PIN _IOWR(DAXFS_IOC_MAGIC, 3, struct short_pin)

static void bad_pins(int fd)
{
	const uint32_t R = DAXFS_PIN_READ, W = DAXFS_PIN_WRITE;

	expect_errno("PIN of length 0", pin_errno(fd, 0, 0, R, NULL), EINVAL);
	expect_errno("PIN longer than DAXFS_PIN_MAX_LENGTH",
		     pin_errno(fd, 0, DAXFS_PIN_MAX_LENGTH + BS, W, NULL), EINVAL);
	expect_errno("PIN whose end overflows 64 bits",
		     pin_errno(fd, UINT64_MAX - BS + 1, 2 * BS, R, NULL), EFBIG);
	expect_errno("PIN of an unaligned offset", pin_errno(fd, 100, BS, R, NULL), EINVAL);
	expect_errno("PIN of an unaligned length", pin_errno(fd, 0, 100, R, NULL), EINVAL);
	expect_errno("PIN at the maximum file size", pin_errno(fd, 256ull << 30, BS, W, NULL),
		     EFBIG);
	expect_errno("PIN crossing the maximum file size",
		     pin_errno(fd, (256ull << 30) - BS, 2 * BS, W, NULL), EFBIG);
	expect_errno("READ pin of a hole", pin_errno(fd, 8 * BS, 2 * BS, R, NULL), ENXIO);
	expect_errno("READ pin half data, half hole", pin_errno(fd, 6 * BS, 4 * BS, R, NULL),
		     ENXIO);
	expect_errno("READ pin past EOF", pin_errno(fd, 16 * BS, BS, R, NULL), ENXIO);
	expect_errno("WRITE pin past EOF", pin_errno(fd, 15 * BS, 2 * BS, W, NULL), ENXIO);
	expect_errno("PIN with an unknown flag", pin_errno(fd, 0, BS, R | 0x100, NULL), EINVAL);
	expect_errno("PIN with neither READ nor WRITE",
		     pin_errno(fd, 0, BS, DAXFS_PIN_LONGTERM | DAXFS_PIN_STABLE, NULL), EINVAL);
	struct short_pin sp = {0, BS, R, 0, 0};
	expect_errno("PIN with a payload of the wrong size", ioctl_errno(fd, BAD_SIZE_PIN, &sp),
		     ENOTTY);
}

static void bad_unpins(int fd, int other)
{
	uint64_t id = 0;

	expect_errno("UNPIN of id 0", unpin_errno(fd, 0), EINVAL);
	expect_errno("UNPIN of an unknown id", unpin_errno(fd, 0x7fffffffffffull), EINVAL);
	expect_errno("READ pin of data", pin_errno(fd, 0, 2 * BS, DAXFS_PIN_READ, &id), 0);
	expect_errno("UNPIN through another open file", unpin_errno(other, id), EINVAL);
	expect_errno("UNPIN of the pin", unpin_errno(fd, id), 0);
	expect_errno("UNPIN of the same pin again", unpin_errno(fd, id), EINVAL);
}

static void bad_layouts(int fd, int dirfd)
{
	struct daxfs_ioc_layout l;

	memset(&l, 0, sizeof(l));
	expect_errno("LAYOUT of length 0", ioctl_errno(fd, DAXFS_IOC_LAYOUT, &l), EINVAL);
	l.offset = 256ull << 30;
	l.length = BS;
	expect_errno("LAYOUT past the maximum file size", ioctl_errno(fd, DAXFS_IOC_LAYOUT, &l),
		     EINVAL);
	memset(&l, 0, sizeof(l));
	l.length = 16 * BS;
	expect_errno("LAYOUT of data and hole", ioctl_errno(fd, DAXFS_IOC_LAYOUT, &l), 0);
	if (l.nextents >= 1 &&
	    l.extents[l.nextents - 1].file_offset + l.extents[l.nextents - 1].length == 8 * BS)
		ok("LAYOUT leaves the hole out (%u extents up to 8 blocks)", l.nextents);
	else
		fail("LAYOUT of 8 blocks of data and a hole gave %u extents", l.nextents);
	expect_errno("PIN on a directory", pin_errno(dirfd, 0, BS, DAXFS_PIN_READ, NULL), EINVAL);
}

static int cmd_errors(const char *path)
{
	struct daxfs_ioc_stats before, after;
	int fd = data_then_hole(path), other = xopen(path, O_RDWR);
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int dirfd = xopen(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
	get_stats(fd, &before);
	bad_pins(fd);
	bad_unpins(fd, other);
	bad_layouts(fd, dirfd);
	get_stats(fd, &after);
	if (after.pins_active == 0 && after.pins == 0)
		ok("no pin is left by the refused requests");
	else
		fail("%llu pins (%llu pin counts) left by refused requests",
		     (unsigned long long)after.pins_active, (unsigned long long)after.pins);
	if (after.free_blocks == before.free_blocks)
		ok("no block allocated by the refused requests");
	else
		fail("free blocks went from %llu to %llu", (unsigned long long)before.free_blocks,
		     (unsigned long long)after.free_blocks);
	close(dirfd);
	close(other);
	close(fd);
	return failures ? 1 : 0;
}

/* ---- limit ---------------------------------------------------------------------- */

static int cmd_limit(const char *path)
{
	int fd = data_then_hole(path), other = xopen(path, O_RDWR);
	struct daxfs_ioc_stats st;
	unsigned pinned = 0;
	uint64_t id;

	for (unsigned i = 0; i < DAXFS_PINS_PER_HANDLE; i++)
		pinned += pin_errno(fd, (i % 8) * BS, BS, DAXFS_PIN_READ, &id) == 0;
	if (pinned == DAXFS_PINS_PER_HANDLE)
		ok("%u pins on one open file", pinned);
	else
		fail("only %u of %u pins on one open file", pinned, DAXFS_PINS_PER_HANDLE);
	expect_errno("one more pin on that file", pin_errno(fd, 0, BS, DAXFS_PIN_READ, NULL),
		     EMFILE);
	expect_errno("a pin on another open file of the same file",
		     pin_errno(other, 0, BS, DAXFS_PIN_READ, &id), 0);
	get_stats(other, &st);
	expect_errno("its unpin", unpin_errno(other, id), 0);
	if (st.pins_active == DAXFS_PINS_PER_HANDLE + 1)
		ok("DAXFS_IOC_STATS counts %llu active pins", (unsigned long long)st.pins_active);
	else
		fail("DAXFS_IOC_STATS counts %llu active pins, not %u",
		     (unsigned long long)st.pins_active, DAXFS_PINS_PER_HANDLE + 1);
	close(fd);
	/* The release reaches the daemon asynchronously, and it drops the
	 * registry entries before the per-pfn pin counts: wait for both. */
	for (int i = 0; i < 100; i++) {
		get_stats(other, &st);
		if (!st.pins_active && !st.pins)
			break;
		usleep(50000);
	}
	if (st.pins_active == 0 && st.pins == 0)
		ok("closing the file dropped its %u pins", pinned);
	else
		fail("%llu pins left after closing the file", (unsigned long long)st.pins_active);
	close(other);
	return failures ? 1 : 0;
}

/* ---- access ---------------------------------------------------------------------- */

static bool all_bytes(const void *p, size_t len, int byte)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i] != (unsigned char)byte)
			return false;
	return true;
}

/* Reads the file through the filesystem, not the page cache: the
 * mapping's stores reach the pool behind the kernel's back. */
static bool file_shows(const char *path, uint64_t off, uint64_t len, int byte)
{
	int fd = xopen(path, O_RDONLY | O_DIRECT);
	void *buf;

	if (posix_memalign(&buf, BS, len))
		die("posix_memalign");
	bool same = pread(fd, buf, len, (off_t)off) == (ssize_t)len && all_bytes(buf, len, byte);
	free(buf);
	close(fd);
	return same;
}

static void access_read(struct daxfs_client *c)
{
	struct daxfs_client_pin pin;
	int rc = daxfs_client_pin(c, 0, 8 * BS, DAXFS_PIN_READ, &pin);

	if (rc) {
		fail("READ pin of 8 blocks of data: %s", strerror(-rc));
		return;
	}
	bool same = pin.nextents >= 1;
	uint64_t covered = 0;
	for (unsigned i = 0; i < pin.nextents; i++) {
		same &= pin.extents[i].addr &&
			all_bytes(pin.extents[i].addr, pin.extents[i].length, 'd');
		covered += pin.extents[i].length;
	}
	if (same && covered == 8 * BS)
		ok("a READ pin's extents cover the range and show the file's data (%u extents)",
		   pin.nextents);
	else
		fail("READ pin: %u extents covering %llu bytes, data %s", pin.nextents,
		     (unsigned long long)covered, same ? "right" : "wrong");
	expect_errno("unpin through the client", -daxfs_client_unpin(c, pin.id), 0);
}

static void access_write(struct daxfs_client *c, const char *path)
{
	struct daxfs_client_pin pin;
	int rc = daxfs_client_pin(c, 8 * BS, 4 * BS, DAXFS_PIN_WRITE | DAXFS_PIN_LONGTERM, &pin);

	if (rc) {
		fail("WRITE pin of a hole: %s", strerror(-rc));
		return;
	}
	bool zero = true;
	for (unsigned i = 0; i < pin.nextents; i++)
		zero &= all_bytes(pin.extents[i].addr, pin.extents[i].length, 0);
	if (zero)
		ok("a WRITE pin of a hole gives zeroed blocks");
	else
		fail("a WRITE pin of a hole gives blocks that are not zero");
	for (unsigned i = 0; i < pin.nextents; i++) {
		memset(pin.extents[i].addr, 'w', pin.extents[i].length);
		daxfs_client_persist(c, pin.extents[i].addr, pin.extents[i].length);
	}
	if (file_shows(path, 8 * BS, 4 * BS, 'w'))
		ok("stores through the mapping are the file's data");
	else
		fail("the file does not show the stores made through the mapping");
	expect_errno("unpin", -daxfs_client_unpin(c, pin.id), 0);
}

/* After access_write: blocks 0-11 exist, 12-15 are a hole. */
static void access_layout(struct daxfs_client *c)
{
	struct daxfs_ioc_layout l;
	uint64_t covered = 0;

	memset(&l, 0, sizeof(l));
	l.length = 16 * BS;
	int rc = daxfs_client_layout(c, &l);
	for (unsigned i = 0; !rc && i < l.nextents; i++)
		covered += l.extents[i].length;
	if (!rc && covered == 12 * BS)
		ok("the layout shows the 12 blocks that exist, in %u extents", l.nextents);
	else
		fail("layout: %s, %llu bytes in extents", rc ? strerror(-rc) : "ok",
		     (unsigned long long)covered);
}

/* A second client shares the mapping; a read-only one maps its own,
 * read-only, and gets no WRITE pin. */
static void access_read_only(const char *path, const struct daxfs_client_info *rw)
{
	struct daxfs_client *c2, *ro;
	struct daxfs_client_info i2, iro;
	struct daxfs_client_pin pin;

	if (daxfs_client_open(path, 0, &c2) || daxfs_client_open(path, DAXFS_CLIENT_RDONLY, &ro)) {
		fail("opening more clients of %s", path);
		return;
	}
	daxfs_client_info(c2, &i2);
	daxfs_client_info(ro, &iro);
	if (i2.pool_base == rw->pool_base && iro.mapped && iro.pool_base != rw->pool_base)
		ok("clients share one read-write mapping; a read-only client has its own");
	else
		fail("mappings: first %p, second %p, read-only %p", rw->pool_base, i2.pool_base,
		     iro.pool_base);
	expect_errno("WRITE pin through a read-only client",
		     -daxfs_client_pin(ro, 0, BS, DAXFS_PIN_WRITE, &pin), EBADF);
	int rc = daxfs_client_pin(ro, 0, BS, DAXFS_PIN_READ, &pin);
	if (!rc && all_bytes(pin.extents[0].addr, BS, 'd'))
		ok("a read-only client reads the file's data through its mapping");
	else
		fail("READ pin through a read-only client: %s", rc ? strerror(-rc) : "wrong data");
	daxfs_client_close(ro); /* drops the pin with the file */
	daxfs_client_close(c2);
}

static int cmd_access(const char *path)
{
	struct daxfs_client *c;
	struct daxfs_client_info info;

	close(data_then_hole(path));
	int rc = daxfs_client_open(path, 0, &c);
	if (rc) {
		fail("daxfs_client_open %s: %s", path, strerror(-rc));
		return 1;
	}
	void *base = NULL;
	expect_errno("daxfs_client_map", -daxfs_client_map(c, &base), 0);
	daxfs_client_info(c, &info);
	if (info.mapped && info.pool_base && info.block_size == BS && info.pool_size)
		ok("the pool %s is mapped (%llu bytes, %s)", info.pool_path,
		   (unsigned long long)info.pool_size, info.is_pmem ? "pmem" : "msync");
	else
		fail("the pool is not mapped");
	access_read(c);
	access_write(c, path);
	access_layout(c);
	access_read_only(path, &info);
	expect_errno("no recall pending", daxfs_client_wait_recall(c, 0), 0);
	daxfs_client_close(c);
	return failures ? 1 : 0;
}

/* ---- rdonly, nomap -------------------------------------------------------------- */

static int cmd_rdonly(const char *path)
{
	struct daxfs_ioc_stats before, after;
	int fd = xopen(path, O_RDONLY);

	get_stats(fd, &before);
	int e = pin_errno(fd, 8 * BS, 2 * BS, DAXFS_PIN_WRITE, NULL);
	get_stats(fd, &after);
	if (e == EBADF || e == EACCES || e == EPERM)
		ok("WRITE pin through a read-only open file: %s", strerror(e));
	else
		fail("WRITE pin through a read-only open file: %s (expected EBADF), and %lld "
		     "blocks were allocated in a file opened read-only",
		     e ? strerror(e) : "granted",
		     (long long)before.free_blocks - (long long)after.free_blocks);
	expect_errno("READ pin through a read-only open file",
		     pin_errno(fd, 0, BS, DAXFS_PIN_READ, NULL), 0);
	close(fd);
	return failures ? 1 : 0;
}

static int cmd_wronly(const char *path)
{
	int fd = xopen(path, O_WRONLY);
	uint64_t id;

	expect_errno("READ pin through a write-only open file",
		     pin_errno(fd, 0, BS, DAXFS_PIN_READ, NULL), EBADF);
	expect_errno("STABLE pin through a write-only open file",
		     pin_errno(fd, 0, BS, DAXFS_PIN_READ | DAXFS_PIN_STABLE, NULL), EBADF);
	expect_errno("READ|WRITE pin through a write-only open file",
		     pin_errno(fd, 0, BS, DAXFS_PIN_READ | DAXFS_PIN_WRITE, NULL), EBADF);
	expect_errno("WRITE pin through a write-only open file",
		     pin_errno(fd, 0, BS, DAXFS_PIN_WRITE, &id), 0);
	close(fd);
	return failures ? 1 : 0;
}

static void nomap_client(const char *path, unsigned flags, int map_err)
{
	const char *how = flags ? "with DAXFS_CLIENT_NOMAP" : "without the right to map the pool";
	struct daxfs_client_info info;
	struct daxfs_client_pin pin;
	struct daxfs_client *c;
	void *base = NULL;

	int rc = daxfs_client_open(path, flags, &c);
	if (rc) {
		fail("daxfs_client_open %s: %s", how, strerror(-rc));
		return;
	}
	ok("daxfs_client_open %s succeeds", how);
	expect_errno("daxfs_client_map", -daxfs_client_map(c, &base), map_err);
	daxfs_client_info(c, &info);
	if (!info.mapped && !info.pool_base && info.pool_size)
		ok("the info says the pool (%llu bytes) is not mapped",
		   (unsigned long long)info.pool_size);
	else
		fail("info: mapped %d, base %p", info.mapped, info.pool_base);
	rc = daxfs_client_pin(c, 0, 2 * BS, DAXFS_PIN_READ, &pin);
	if (!rc && pin.nextents && !pin.extents[0].addr && pin.extents[0].pool_offset)
		ok("the pin works, with pool offsets and no addresses");
	else
		fail("pin %s: %s", how, rc ? strerror(-rc) : "addresses given");
	if (!rc)
		expect_errno("unpin", -daxfs_client_unpin(c, pin.id), 0);
	daxfs_client_close(c);
}

static int cmd_nomap(const char *path)
{
	nomap_client(path, 0, EACCES);
	nomap_client(path, DAXFS_CLIENT_NOMAP, ENOTSUP);
	return failures ? 1 : 0;
}

/* ---- hold -------------------------------------------------------------------------- */

static volatile sig_atomic_t terminated;

static void on_term(int sig)
{
	(void)sig;
	terminated = 1;
}

static unsigned parse_flags(const char *s)
{
	if (!strcmp(s, "read"))
		return DAXFS_PIN_READ | DAXFS_PIN_LONGTERM;
	if (!strcmp(s, "write"))
		return DAXFS_PIN_WRITE | DAXFS_PIN_LONGTERM;
	if (!strcmp(s, "stable"))
		return DAXFS_PIN_READ | DAXFS_PIN_LONGTERM | DAXFS_PIN_STABLE;
	fprintf(stderr, "daxfs-pin-helper: flags must be read, write or stable\n");
	exit(2);
}

/* A client that never unpins: it reports recalls and lets go only when
 * told to (SIGTERM) or killed. */
static int cmd_hold(const char *path, const char *off, const char *len, const char *flags)
{
	struct sigaction sa = {.sa_handler = on_term};
	struct daxfs_client_pin pin;
	struct daxfs_client *c;
	uint64_t ids[DAXFS_RECALLS_MAX];
	bool recalled = false;

	sigaction(SIGTERM, &sa, NULL);
	int rc = daxfs_client_open(path, 0, &c);
	if (!rc)
		rc = daxfs_client_pin(c, strtoull(off, NULL, 0), strtoull(len, NULL, 0),
				      parse_flags(flags), &pin);
	if (rc) {
		printf("FAIL: pin %s: %s\n", path, strerror(-rc));
		return 1;
	}
	printf("pinned %llu\n", (unsigned long long)pin.id);
	fflush(stdout);
	while (!terminated) {
		/* POLLPRI stays up while the recalled pin is held: poll again
		 * only for a recall not yet reported. */
		if (recalled) {
			usleep(100000);
			continue;
		}
		if (daxfs_client_wait_recall(c, 100) <= 0)
			continue;
		int n = daxfs_client_recalls(c, ids, DAXFS_RECALLS_MAX);
		for (int i = 0; i < n; i++)
			printf("recalled %llu\n", (unsigned long long)ids[i]);
		fflush(stdout);
		recalled = n > 0;
	}
	daxfs_client_close(c);
	printf("closed\n");
	fflush(stdout);
	return 0;
}

/* A client that gives its pin back when asked: on the recall it unpins
 * (DAXFS_IOC_UNPIN), and keeps the file open until SIGTERM. */
static int cmd_yield(const char *path, const char *off, const char *len, const char *flags)
{
	struct sigaction sa = {.sa_handler = on_term};
	struct daxfs_client_pin pin;
	struct daxfs_client *c;

	sigaction(SIGTERM, &sa, NULL);
	int rc = daxfs_client_open(path, 0, &c);
	if (!rc)
		rc = daxfs_client_pin(c, strtoull(off, NULL, 0), strtoull(len, NULL, 0),
				      parse_flags(flags), &pin);
	if (rc) {
		printf("FAIL: pin %s: %s\n", path, strerror(-rc));
		return 1;
	}
	printf("pinned %llu\n", (unsigned long long)pin.id);
	fflush(stdout);
	while (!terminated && daxfs_client_wait_recall(c, 100) <= 0)
		;
	if (!terminated) {
		rc = daxfs_client_unpin(c, pin.id);
		printf(rc ? "FAIL: unpin: %s\n" : "unpinned%s\n", rc ? strerror(-rc) : "");
		fflush(stdout);
	}
	while (!terminated)
		usleep(10000);
	daxfs_client_close(c);
	printf("closed\n");
	fflush(stdout);
	return 0;
}

/* ---- stable ------------------------------------------------------------------------- */

static uint64_t range_sum(const struct daxfs_client_pin *pin)
{
	uint64_t h = 0xCBF29CE484222325ull;

	for (unsigned i = 0; i < pin->nextents; i++) {
		const volatile unsigned char *p = pin->extents[i].addr;
		for (uint64_t k = 0; k < pin->extents[i].length; k++)
			h = (h ^ p[k]) * 0x100000001B3ull;
	}
	return h;
}

struct stable_ctx {
	struct daxfs_client *c;
	struct daxfs_client_pin pin;
	uint64_t sum;
	struct daxfs_ioc_stats before;
	int fd;
};

/* 4 blocks of 'a', pinned READ|STABLE and checksummed as a device would. */
static void stable_setup(struct stable_ctx *s, const char *path)
{
	s->fd = xopen(path, O_RDWR | O_CREAT | O_TRUNC);
	fill(s->fd, 0, 4 * BS, 'a');
	int rc = daxfs_client_open(path, 0, &s->c);
	if (!rc)
		rc = daxfs_client_pin(s->c, 0, 4 * BS,
				      DAXFS_PIN_READ | DAXFS_PIN_LONGTERM | DAXFS_PIN_STABLE,
				      &s->pin);
	if (rc) {
		errno = -rc;
		die("STABLE pin of %s", path);
	}
	s->sum = range_sum(&s->pin);
	get_stats(s->fd, &s->before);
}

static void stable_check_sum(struct stable_ctx *s, const char *when)
{
	if (range_sum(&s->pin) == s->sum)
		ok("the device's checksum of the pinned blocks holds %s", when);
	else
		fail("the pinned blocks changed under the STABLE pin %s", when);
}

static int cmd_stable(const char *path)
{
	struct stable_ctx s;
	struct daxfs_ioc_stats after;

	stable_setup(&s, path);
	fill(s.fd, BS, 2 * BS, 'b');
	ok("a write into the STABLE-pinned range returned while pinned");
	stable_check_sum(&s, "after the write");
	if (file_shows(path, BS, 2 * BS, 'b') && file_shows(path, 0, BS, 'a'))
		ok("the file shows the new data");
	else
		fail("the file does not show the write");
	get_stats(s.fd, &after);
	if (after.bounces >= s.before.bounces + 1)
		ok("the write bounced (bounces %llu -> %llu)", (unsigned long long)s.before.bounces,
		   (unsigned long long)after.bounces);
	else
		fail("bounces stayed at %llu", (unsigned long long)after.bounces);
	expect_errno("unpin", -daxfs_client_unpin(s.c, s.pin.id), 0);
	daxfs_client_close(s.c);
	close(s.fd);
	return failures ? 1 : 0;
}

struct writer {
	int fd;
	atomic_bool done;
	double t_done;
};

static void *write_b(void *arg)
{
	struct writer *w = arg;

	fill(w->fd, 0, BS, 'b');
	w->t_done = now_s();
	atomic_store(&w->done, true);
	return NULL;
}

static int cmd_stable_wait(const char *path)
{
	struct stable_ctx s;
	struct writer w = {0};
	struct daxfs_ioc_stats after;
	pthread_t th;

	stable_setup(&s, path);
	w.fd = xopen(path, O_RDWR);
	if (pthread_create(&th, NULL, write_b, &w))
		die("pthread_create");
	usleep(1000000);
	if (!atomic_load(&w.done))
		ok("a write into the STABLE-pinned range is still waiting after 1 s");
	else
		fail("the write returned while the STABLE pin was held");
	stable_check_sum(&s, "while the write waits");
	double t_unpin = now_s();
	expect_errno("unpin", -daxfs_client_unpin(s.c, s.pin.id), 0);
	pthread_join(th, NULL);
	if (w.t_done >= t_unpin)
		ok("the write completed %.3f s after the unpin", w.t_done - t_unpin);
	else
		fail("the write completed %.3f s before the unpin", t_unpin - w.t_done);
	if (file_shows(path, 0, BS, 'b'))
		ok("the file shows the new data");
	else
		fail("the file does not show the write");
	get_stats(s.fd, &after);
	if (after.bounces == s.before.bounces)
		ok("nothing bounced");
	else
		fail("bounces went from %llu to %llu", (unsigned long long)s.before.bounces,
		     (unsigned long long)after.bounces);
	daxfs_client_close(s.c);
	close(w.fd);
	close(s.fd);
	return failures ? 1 : 0;
}

/* ---- stable-mmap, stable-truncate ------------------------------------------------ */

static void stable_done(struct stable_ctx *s, const char *why)
{
	struct daxfs_ioc_stats after;

	get_stats(s->fd, &after);
	if (after.bounces > s->before.bounces)
		ok("%s bounced (bounces %llu -> %llu)", why, (unsigned long long)s->before.bounces,
		   (unsigned long long)after.bounces);
	else
		fail("%s: bounces stayed at %llu", why, (unsigned long long)after.bounces);
	expect_errno("unpin", -daxfs_client_unpin(s->c, s->pin.id), 0);
	daxfs_client_close(s->c);
	close(s->fd);
}

static int cmd_stable_mmap(const char *path)
{
	struct stable_ctx s;

	stable_setup(&s, path);
	char *m = mmap(NULL, 4 * BS, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
	if (m == MAP_FAILED)
		die("mmap %s", path);
	memset(m + BS, 'c', BS);
	if (msync(m, 4 * BS, MS_SYNC))
		die("msync");
	ok("a store through mmap into the STABLE-pinned range was written back");
	stable_check_sum(&s, "after the mmap store");
	if (file_shows(path, BS, BS, 'c') && file_shows(path, 0, BS, 'a') &&
	    file_shows(path, 2 * BS, 2 * BS, 'a'))
		ok("the file shows the stored bytes");
	else
		fail("the file does not show the mmap store");
	munmap(m, 4 * BS);
	stable_done(&s, "the mmap store");
	return failures ? 1 : 0;
}

struct truncater {
	int fd;
	off_t size;
	atomic_bool done;
	int err;
	double t;
};

static void *truncate_thread(void *arg)
{
	struct truncater *t = arg;
	double t0 = now_s();

	t->err = ftruncate(t->fd, t->size) ? errno : 0;
	t->t = now_s() - t0;
	atomic_store(&t->done, true);
	return NULL;
}

/* Waits up to secs for *flag; false on timeout. */
static bool wait_flag(atomic_bool *flag, double secs)
{
	double end = now_s() + secs;

	while (!atomic_load(flag) && now_s() < end)
		usleep(10000);
	return atomic_load(flag);
}

static int cmd_stable_truncate(const char *path, double secs)
{
	struct stable_ctx s;
	struct truncater t = {.size = BS + BS / 2};
	uint64_t ids[DAXFS_RECALLS_MAX];
	pthread_t th;

	stable_setup(&s, path);
	t.fd = xopen(path, O_RDWR);
	if (pthread_create(&th, NULL, truncate_thread, &t))
		die("pthread_create");
	if (daxfs_client_wait_recall(s.c, (int)(secs * 1000)) == 1)
		ok("the holder sees POLLPRI");
	else
		fail("no POLLPRI within %.0f s of the truncate", secs);
	int n = daxfs_client_recalls(s.c, ids, DAXFS_RECALLS_MAX);
	if (n == 1 && ids[0] == s.pin.id)
		ok("RECALLS lists the STABLE pin");
	else
		fail("RECALLS gives %d pins", n);
	if (!wait_flag(&t.done, secs)) {
		fail("the truncate did not complete within %.0f s", secs);
		exit(1); /* its request may never come back: do not join */
	}
	pthread_join(th, NULL);
	expect_errno("the truncate", t.err, 0);
	ok("the truncate completed in %.3f s while the pin was held", t.t);
	stable_check_sum(&s, "after the truncate");
	struct stat st;
	if (fstat(t.fd, &st) == 0 && st.st_size == t.size && file_shows(path, 0, BS, 'a'))
		ok("the file is %lld bytes and keeps its first block", (long long)st.st_size);
	else
		fail("the file after the truncate is wrong");
	close(t.fd);
	stable_done(&s, "the zeroing of the partial block");
	return failures ? 1 : 0;
}

/* ---- stable-storm, trunc-storm ------------------------------------------------------ */

struct storm_file {
	char path[4096];
	struct daxfs_client *c;
	struct daxfs_client_pin pin;
	uint64_t sum;
	struct writer w;
	struct truncater t;
	pthread_t th;
};

static struct storm_file *storm_setup(const char *dir, int n, unsigned flags)
{
	struct storm_file *f = calloc((size_t)n, sizeof(*f));

	if (!f)
		die("calloc");
	for (int i = 0; i < n; i++) {
		snprintf(f[i].path, sizeof(f[i].path), "%s/storm%d", dir, i);
		int fd = xopen(f[i].path, O_RDWR | O_CREAT | O_TRUNC);
		fill(fd, 0, 4 * BS, 'a');
		close(fd);
		int rc = daxfs_client_open(f[i].path, 0, &f[i].c);
		if (!rc)
			rc = daxfs_client_pin(f[i].c, 0, 4 * BS, flags, &f[i].pin);
		if (rc) {
			errno = -rc;
			die("pin %s", f[i].path);
		}
		f[i].sum = range_sum(&f[i].pin);
	}
	return f;
}

struct unpinner {
	struct storm_file *f;
	int n;
	atomic_bool done;
	int err;
};

static void *unpin_half(void *arg)
{
	struct unpinner *u = arg;

	for (int i = 0; i < u->n; i += 2) {
		int rc = daxfs_client_unpin(u->f[i].c, u->f[i].pin.id);
		if (rc && !u->err)
			u->err = -rc;
	}
	atomic_store(&u->done, true);
	return NULL;
}

static int cmd_stable_storm(const char *dir, int n, double secs)
{
	struct storm_file *f =
		storm_setup(dir, n, DAXFS_PIN_READ | DAXFS_PIN_LONGTERM | DAXFS_PIN_STABLE);
	struct unpinner u = {.f = f, .n = n};
	pthread_t uth;

	for (int i = 0; i < n; i++) {
		f[i].w.fd = xopen(f[i].path, O_RDWR);
		if (pthread_create(&f[i].th, NULL, write_b, &f[i].w))
			die("pthread_create");
	}
	usleep(500000);
	/* Every writer sleeps on a STABLE pin now: the holders must still get
	 * their UNPINs through. */
	if (pthread_create(&uth, NULL, unpin_half, &u))
		die("pthread_create");
	if (!wait_flag(&u.done, secs)) {
		fail("%d writers on STABLE pins starve the holders' UNPIN for %.0f s", n, secs);
		exit(1);
	}
	pthread_join(uth, NULL);
	expect_errno("UNPIN of every other file while the writers wait", u.err, 0);
	for (int i = 0; i < n; i++)
		if (!wait_flag(&f[i].w.done, secs)) {
			fail("the write into %s did not complete within %.0f s", f[i].path, secs);
			exit(1);
		}
	ok("all %d writes completed", n);
	unsigned recalled = 0, intact = 0, shown = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(f[i].th, NULL);
		shown += file_shows(f[i].path, 0, BS, 'b');
		if (i % 2 == 0)
			continue;
		uint64_t ids[DAXFS_RECALLS_MAX];
		recalled += daxfs_client_recalls(f[i].c, ids, DAXFS_RECALLS_MAX) == 1 &&
			    ids[0] == f[i].pin.id;
		intact += range_sum(&f[i].pin) == f[i].sum;
	}
	if (recalled == (unsigned)n / 2)
		ok("the %u pins still held were recalled", recalled);
	else
		fail("only %u of %d held pins were recalled", recalled, n / 2);
	if (intact == (unsigned)n / 2)
		ok("the pinned blocks of the %u held pins did not change", intact);
	else
		fail("only %u of %d held pins kept their blocks' content", intact, n / 2);
	if (shown == (unsigned)n)
		ok("every file shows its write");
	else
		fail("only %u of %d files show their write", shown, n);
	for (int i = 0; i < n; i++) {
		daxfs_client_close(f[i].c);
		close(f[i].w.fd);
	}
	free(f);
	return failures ? 1 : 0;
}

struct pinner {
	const char *path;
	atomic_bool done;
	int pin_err, unpin_err;
};

static void *pin_unpin(void *arg)
{
	struct pinner *p = arg;
	int fd = xopen(p->path, O_RDWR);
	uint64_t id = 0;

	p->pin_err = pin_errno(fd, 0, BS, DAXFS_PIN_READ, &id);
	if (!p->pin_err)
		p->unpin_err = unpin_errno(fd, id);
	close(fd);
	atomic_store(&p->done, true);
	return NULL;
}

static int cmd_trunc_storm(const char *dir, int n, double secs)
{
	struct storm_file *f = storm_setup(dir, n, DAXFS_PIN_READ | DAXFS_PIN_LONGTERM);
	char other[4096];
	pthread_t th;

	snprintf(other, sizeof(other), "%s/storm-other", dir);
	int fd = xopen(other, O_RDWR | O_CREAT | O_TRUNC);
	fill(fd, 0, BS, 'o');
	close(fd);
	for (int i = 0; i < n; i++) {
		f[i].t.fd = xopen(f[i].path, O_RDWR);
		if (pthread_create(&f[i].th, NULL, truncate_thread, &f[i].t))
			die("pthread_create");
	}
	usleep(500000);
	struct pinner p = {.path = other};
	if (pthread_create(&th, NULL, pin_unpin, &p))
		die("pthread_create");
	if (!wait_flag(&p.done, secs)) {
		fail("%d truncates waiting on pins starve a PIN and UNPIN for %.0f s", n, secs);
		exit(1);
	}
	pthread_join(th, NULL);
	expect_errno("PIN of another file while the truncates wait", p.pin_err, 0);
	expect_errno("its UNPIN", p.unpin_err, 0);
	unsigned waiting = 0;
	for (int i = 0; i < n; i++)
		waiting += !atomic_load(&f[i].t.done);
	if (waiting == (unsigned)n)
		ok("all %d truncates were still waiting on their pins", n);
	else
		fail("only %u of %d truncates were waiting on their pins", waiting, n);
	for (int i = 0; i < n; i++)
		daxfs_client_close(f[i].c); /* the pins go, the truncates end */
	for (int i = 0; i < n; i++) {
		if (!wait_flag(&f[i].t.done, secs)) {
			fail("a truncate did not end within %.0f s of its unpin", secs);
			exit(1);
		}
		pthread_join(f[i].th, NULL);
		if (f[i].t.err)
			fail("truncate of %s: %s", f[i].path, strerror(f[i].t.err));
		close(f[i].t.fd);
	}
	ok("every truncate completed once its pin was dropped");
	free(f);
	return failures ? 1 : 0;
}

/* ---- dma-cache ------------------------------------------------------------------- */

/* Reads through fd, page cache and all. */
static bool cached_shows(int fd, uint64_t len, int byte)
{
	char *buf = malloc(len);
	bool same = buf && pread(fd, buf, len, 0) == (ssize_t)len && all_bytes(buf, len, byte);

	free(buf);
	return same;
}

/* Every open drops the file's cached pages (no keep_cache): the device's
 * client is opened before the reader fills the cache. */
static void dma_store(struct daxfs_client *c, int byte, bool unpin)
{
	struct daxfs_client_pin pin;
	int rc = daxfs_client_pin(c, 0, 2 * BS, DAXFS_PIN_WRITE | DAXFS_PIN_LONGTERM, &pin);

	if (rc || !pin.extents[0].addr) {
		errno = rc ? -rc : EACCES;
		die("WRITE pin");
	}
	char buf[2 * BS];
	memset(buf, byte, sizeof(buf));
	for (unsigned i = 0; i < pin.nextents; i++)
		daxfs_client_memcpy_persist(c, pin.extents[i].addr, buf, pin.extents[i].length);
	if (unpin)
		expect_errno("unpin", -daxfs_client_unpin(c, pin.id), 0);
}

static int cmd_dma_cache(const char *path)
{
	struct daxfs_client *c;
	int fd = xopen(path, O_RDWR | O_CREAT | O_TRUNC);

	fill(fd, 0, 2 * BS, 'a');
	close(fd);
	for (int round = 0; round < 2; round++) {
		int rc = daxfs_client_open(path, 0, &c);
		if (rc) {
			errno = -rc;
			die("daxfs_client_open %s", path);
		}
		fd = xopen(path, O_RDONLY);
		if (!cached_shows(fd, 2 * BS, round ? 'n' : 'a'))
			die("read %s", path);
		dma_store(c, round ? 'm' : 'n', round == 0);
		if (round == 0) {
			if (cached_shows(fd, 2 * BS, 'n'))
				ok("a reader sees the device's stores once it has unpinned");
			else
				fail("a reader sees stale cached bytes after the device's stores "
				     "and unpin");
			daxfs_client_close(c);
			close(fd);
			continue;
		}
		/* The release that drops the pin reaches the daemon after
		 * close() returns: give it a moment. */
		daxfs_client_close(c);
		bool seen = false;
		for (int i = 0; i < 100 && !seen; i++) {
			seen = cached_shows(fd, 2 * BS, 'm');
			if (!seen)
				usleep(20000);
		}
		if (seen)
			ok("and once a close has dropped the pin");
		else
			fail("a reader sees stale cached bytes after a close dropped the WRITE pin");
		close(fd);
	}
	return failures ? 1 : 0;
}

/* ---- max-pinned ------------------------------------------------------------------- */

static int cmd_max_pinned(const char *path, unsigned cap)
{
	int fd = xopen(path, O_RDWR | O_CREAT | O_TRUNC), other = xopen(path, O_RDWR);
	uint64_t a, b, c;

	fill(fd, 0, (uint64_t)cap * BS, 'p');
	expect_errno("PIN of more blocks than max_pinned",
		     pin_errno(fd, 0, (uint64_t)(cap + 1) * BS, DAXFS_PIN_READ, NULL), ENFILE);
	expect_errno("PIN of half of max_pinned", pin_errno(fd, 0, cap / 2 * BS, DAXFS_PIN_READ, &a),
		     0);
	expect_errno("PIN of the other half through another open file",
		     pin_errno(other, 0, cap / 2 * BS, DAXFS_PIN_WRITE, &b), 0);
	expect_errno("one block more", pin_errno(fd, 0, BS, DAXFS_PIN_READ, NULL), ENFILE);
	expect_errno("one block more through the other file",
		     pin_errno(other, 0, BS, DAXFS_PIN_READ, NULL), ENFILE);
	expect_errno("UNPIN of the first half", unpin_errno(fd, a), 0);
	expect_errno("PIN after it", pin_errno(fd, 0, cap / 2 * BS, DAXFS_PIN_READ, &c), 0);
	close(other); /* drops b */
	struct daxfs_ioc_stats st;
	for (int i = 0; i < 100; i++) {
		get_stats(fd, &st);
		if (st.pins_active == 1)
			break;
		usleep(50000);
	}
	expect_errno("PIN once the other file is closed",
		     pin_errno(fd, 0, cap / 2 * BS, DAXFS_PIN_READ, &a), 0);
	close(fd);
	return failures ? 1 : 0;
}

/* ---- cow-pairs, cow-bounce ---------------------------------------------------------- */

#define PIN_W (DAXFS_PIN_WRITE | DAXFS_PIN_LONGTERM)
#define PIN_S (DAXFS_PIN_READ | DAXFS_PIN_LONGTERM | DAXFS_PIN_STABLE)

static struct daxfs_client *client_of(const char *path)
{
	struct daxfs_client *c;
	int rc = daxfs_client_open(path, 0, &c);

	if (rc) {
		errno = -rc;
		die("daxfs_client_open %s", path);
	}
	return c;
}

/* A pin that must be granted for the check to mean anything. */
static void must_pin(struct daxfs_client *c, uint64_t off, uint64_t len, unsigned flags,
		     struct daxfs_client_pin *pin)
{
	int rc = daxfs_client_pin(c, off, len, flags, pin);

	if (rc || !pin->nextents || !pin->extents[0].addr) {
		errno = rc ? -rc : EACCES;
		die("pin [%llu, +%llu) flags %#x", (unsigned long long)off,
		    (unsigned long long)len, flags);
	}
}

/* A pin that the rule refuses; one granted anyway is kept in *pin (id 0
 * when refused), so that what it costs the holder can be shown. */
static void refused_pin(struct daxfs_client *c, uint64_t off, unsigned flags, const char *what,
			struct daxfs_client_pin *pin)
{
	int rc = daxfs_client_pin(c, off, BS, flags, pin);

	expect_errno(what, -rc, EBUSY);
	if (rc)
		pin->id = 0;
}

/* The device stores byte over the pinned block, as DMA would. */
static void device_store(struct daxfs_client *c, const struct daxfs_client_pin *pin,
			 uint64_t off, uint64_t len, int byte)
{
	char buf[BS];

	memset(buf, byte, sizeof(buf));
	daxfs_client_memcpy_persist(c, (char *)pin->extents[0].addr + off, buf, len);
}

static uint64_t bounces_of(int fd)
{
	struct daxfs_ioc_stats st;

	get_stats(fd, &st);
	return st.bounces;
}

static void expect_store_kept(const char *path, uint64_t off, uint64_t len, int byte,
			      const char *what)
{
	if (file_shows(path, off, len, byte))
		ok("%s: the device's later stores are the file's data", what);
	else
		fail("%s: the device's stores through its WRITE pin are lost", what);
}

/* WRITE then STABLE on block 0, STABLE then WRITE on block 1, WRITE and
 * WRITE on block 2; after each, a write() into the block and a store by
 * the WRITE pin's holder, which must show in the file. */
static int cmd_cow_pairs(const char *path)
{
	int fd = xopen(path, O_RDWR | O_CREAT | O_TRUNC);
	struct daxfs_client *dev = client_of(path), *rd = client_of(path), *dev2 = client_of(path);
	struct daxfs_client_pin w, s, w2, extra;

	fill(fd, 0, 4 * BS, 'a');
	uint64_t b0 = bounces_of(fd);

	expect_errno("a pin both WRITE and STABLE",
		     -daxfs_client_pin(dev, 3 * BS, BS, PIN_W | DAXFS_PIN_STABLE, &extra), EINVAL);

	must_pin(dev, 0, BS, PIN_W, &w);
	refused_pin(rd, 0, PIN_S, "WRITE+STABLE: a STABLE pin on a WRITE-pinned block", &s);
	fill(fd, 10, 10, 'x');
	device_store(dev, &w, 0, BS, 'D');
	expect_store_kept(path, 0, BS, 'D', "WRITE+STABLE, then write()");

	must_pin(rd, BS, BS, PIN_S, &s);
	refused_pin(dev, BS, PIN_W, "STABLE+WRITE: a WRITE pin on a STABLE-pinned block", &extra);
	if (extra.id) { /* granted: what a write() then costs its holder */
		fill(fd, BS + 10, 10, 'x');
		device_store(dev, &extra, 0, BS, 'E');
		expect_store_kept(path, BS, BS, 'E', "STABLE+WRITE, then write()");
	}
	expect_errno("unpin of the STABLE pin", -daxfs_client_unpin(rd, s.id), 0);

	must_pin(dev, 2 * BS, BS, PIN_W, &w);
	must_pin(dev2, 2 * BS, BS, PIN_W, &w2);
	ok("WRITE+WRITE: two WRITE pins on one block");
	refused_pin(rd, 2 * BS, PIN_S, "WRITE+WRITE: then a STABLE pin", &s);
	fill(fd, 2 * BS + 10, 10, 'x');
	device_store(dev, &w, 0, BS / 2, 'F');
	device_store(dev2, &w2, BS / 2, BS / 2, 'G');
	expect_store_kept(path, 2 * BS, BS / 2, 'F', "WRITE+WRITE (first holder)");
	expect_store_kept(path, 2 * BS + BS / 2, BS / 2, 'G', "WRITE+WRITE (second holder)");
	expect_errno("unpin of the first WRITE pin", -daxfs_client_unpin(dev, w.id), 0);
	if (!s.id)
		refused_pin(rd, 2 * BS, PIN_S, "a STABLE pin while one WRITE pin is left", &s);
	expect_errno("unpin of the second WRITE pin", -daxfs_client_unpin(dev2, w2.id), 0);
	if (s.id)
		daxfs_client_unpin(rd, s.id);
	expect_errno("a STABLE pin once no WRITE pin is left",
		     -daxfs_client_pin(rd, 2 * BS, BS, PIN_S, &s), 0);

	uint64_t b1 = bounces_of(fd);
	if (b1 == b0)
		ok("nothing bounced");
	else
		fail("%llu bounces", (unsigned long long)(b1 - b0));
	daxfs_client_close(dev2);
	daxfs_client_close(rd);
	daxfs_client_close(dev);
	close(fd);
	return failures ? 1 : 0;
}

/* A change of block 1 that would go copy-on-write under a STABLE pin. */
static void change_block(int fd, const char *how)
{
	if (!strcmp(how, "write")) {
		fill(fd, BS + 100, 100, 'x');
	} else if (!strcmp(how, "mmap")) {
		char *m = mmap(NULL, 2 * BS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			die("mmap");
		memset(m + BS + 100, 'x', 100);
		if (msync(m, 2 * BS, MS_SYNC))
			die("msync");
		munmap(m, 2 * BS);
	} else if (!strcmp(how, "zero")) {
		if (fallocate(fd, FALLOC_FL_ZERO_RANGE, BS + 100, 100))
			die("fallocate ZERO_RANGE");
	} else {
		fprintf(stderr, "daxfs-pin-helper: cow-bounce takes write, mmap or zero\n");
		exit(2);
	}
}

/* A device holds a WRITE pin on block 1, a reader asks for a STABLE pin on
 * it, and the block is changed (write, mmap store and msync, or zero
 * range); the device's stores afterwards must be the file's data. */
static int cmd_cow_bounce(const char *path, const char *how)
{
	int fd = xopen(path, O_RDWR | O_CREAT | O_TRUNC);
	struct daxfs_client *dev = client_of(path), *rd = client_of(path);
	struct daxfs_client_pin w, s;
	char what[64];

	fill(fd, 0, 4 * BS, 'a');
	uint64_t b0 = bounces_of(fd);
	must_pin(dev, BS, BS, PIN_W, &w);
	refused_pin(rd, BS, PIN_S, "a STABLE pin on the WRITE-pinned block", &s);
	change_block(fd, how);
	snprintf(what, sizeof(what), "a change by %s", how);
	ok("%s of the pinned block returned", what);
	uint64_t ids[DAXFS_RECALLS_MAX];
	int n = daxfs_client_recalls(dev, ids, DAXFS_RECALLS_MAX);
	if (n == 0 && bounces_of(fd) == b0)
		ok("it went in place: no bounce, no recall");
	else
		fail("%s: %llu bounces, %d recalls of the WRITE pin", what,
		     (unsigned long long)(bounces_of(fd) - b0), n);
	device_store(dev, &w, 0, BS, 'D');
	expect_store_kept(path, BS, BS, 'D', what);
	daxfs_client_close(rd);
	daxfs_client_close(dev);
	close(fd);
	return failures ? 1 : 0;
}

/* ---- uid-flood ---------------------------------------------------------------------- */

#define FLOOD_FDS 16

struct flood_result {
	unsigned granted, edquot, enfile, other;
};

/* As uid: FLOOD_FDS open files of path, DAXFS_PINS_PER_HANDLE one-block
 * READ pins on each; reports on out, then holds them until hold closes. */
static void flood_as(uid_t uid, const char *path, int out, int hold)
{
	struct flood_result r = {0};
	uint64_t id;

	if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		_exit(3);
	for (int f = 0; f < FLOOD_FDS; f++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			_exit(4);
		for (unsigned i = 0; i < DAXFS_PINS_PER_HANDLE; i++) {
			int e = pin_errno(fd, (i % 2) * BS, BS, DAXFS_PIN_READ, &id);
			r.granted += e == 0;
			r.edquot += e == EDQUOT;
			r.enfile += e == ENFILE;
			r.other += e && e != EDQUOT && e != ENFILE;
		}
	}
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(5);
	char c;
	while (read(hold, &c, 1) > 0)
		;
	_exit(0);
}

/* nusers users (uids 65534 down) flood the mount with pins on shared
 * (world-readable, 2 blocks); each gets its share at most, together they
 * leave root its reserve, and root still pins its own file. */
static int cmd_uid_flood(const char *shared, const char *own, int nusers)
{
	int out[2], hold[2];
	struct daxfs_ioc_stats st;
	pid_t pids[16];
	unsigned total = 0;

	if (nusers < 1 || nusers > 16 || pipe(out) || pipe(hold))
		die("uid-flood setup");
	int fd = xopen(own, O_RDWR | O_CREAT | O_TRUNC);
	fill(fd, 0, 2 * BS, 'r');
	get_stats(fd, &st);
	/* one-block pins: a user's share is whichever limit comes first */
	unsigned long long share =
		st.pins_per_uid < st.pinned_per_uid ? st.pins_per_uid : st.pinned_per_uid;
	for (int u = 0; u < nusers; u++) {
		pids[u] = fork();
		if (pids[u] < 0)
			die("fork");
		if (pids[u] == 0) {
			close(out[0]);
			close(hold[1]);
			flood_as((uid_t)(65534 - u), shared, out[1], hold[0]);
		}
		struct flood_result r;
		if (read(out[0], &r, sizeof(r)) != sizeof(r))
			die("uid %d's report", 65534 - u);
		printf("uid %d: %u pins granted, %u EDQUOT, %u ENFILE, %u other errors\n",
		       65534 - u, r.granted, r.edquot, r.enfile, r.other);
		total += r.granted;
		if (r.granted <= share && r.other == 0)
			ok("uid %d holds at most its share (%llu pins)", 65534 - u, share);
		else
			fail("uid %d holds %u pins, its share is %llu", 65534 - u, r.granted,
			     share);
		if (u == 0 && r.granted == share && r.edquot > 0)
			ok("the first user gets all of its share, then EDQUOT");
		else if (u == 0)
			fail("the first user got %u pins and %u EDQUOT", r.granted, r.edquot);
	}
	if (total <= DAXFS_PINS_PER_MOUNT - DAXFS_PINS_PER_MOUNT / 8)
		ok("%d users hold %u pins together, leaving root its reserve", nusers, total);
	else
		fail("%d users hold %u of the mount's %u pins", nusers, total,
		     DAXFS_PINS_PER_MOUNT);
	uint64_t id;
	expect_errno("root's pin on its own file while the users hold theirs",
		     pin_errno(fd, 0, 2 * BS, DAXFS_PIN_READ, &id), 0);
	close(hold[1]);
	for (int u = 0; u < nusers; u++) {
		int status;
		if (waitpid(pids[u], &status, 0) != pids[u] || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			fail("uid %d's process ended badly (%#x)", 65534 - u, status);
	}
	close(fd);
	return failures ? 1 : 0;
}

/* ---- stats ------------------------------------------------------------------------- */

#define FIELD(name)                                           \
	{                                                     \
#name, offsetof(struct daxfs_ioc_stats, name) \
	}
static const struct {
	const char *name;
	size_t off;
} fields[] = {
    FIELD(free_blocks),
    FIELD(total_blocks),
    FIELD(pins_active),
    FIELD(pins),
    FIELD(refs),
    FIELD(recalls),
    FIELD(bounces),
    FIELD(waits),
    FIELD(deferred_queue),
    FIELD(deferred_total),
    FIELD(deferred_freed),
    FIELD(pfn_deferred),
    FIELD(illegal_transitions),
    FIELD(pinned_blocks),
    FIELD(max_pinned),
    FIELD(pins_per_uid),
    FIELD(pinned_per_uid),
    FIELD(transport),
};

static int cmd_stats(const char *path, int n, char **names)
{
	struct daxfs_ioc_stats st;
	int fd = xopen(path, O_RDONLY);

	get_stats(fd, &st);
	close(fd);
	for (int i = 0; i < n; i++) {
		size_t f = 0;
		while (f < sizeof(fields) / sizeof(fields[0]) && strcmp(fields[f].name, names[i]))
			f++;
		if (f == sizeof(fields) / sizeof(fields[0])) {
			fprintf(stderr, "daxfs-pin-helper: unknown counter %s\n", names[i]);
			return 2;
		}
		uint64_t v;
		memcpy(&v, (const char *)&st + fields[f].off, sizeof(v));
		printf("%s%llu", i ? " " : "", (unsigned long long)v);
	}
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "errors"))
		return cmd_errors(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "limit"))
		return cmd_limit(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "access"))
		return cmd_access(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "rdonly"))
		return cmd_rdonly(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "wronly"))
		return cmd_wronly(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "nomap"))
		return cmd_nomap(argv[2]);
	if (argc == 6 && !strcmp(argv[1], "hold"))
		return cmd_hold(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 6 && !strcmp(argv[1], "yield"))
		return cmd_yield(argv[2], argv[3], argv[4], argv[5]);
	if (argc >= 3 && !strcmp(argv[1], "stable"))
		return cmd_stable(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "stable-wait"))
		return cmd_stable_wait(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "stable-mmap"))
		return cmd_stable_mmap(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "stable-truncate"))
		return cmd_stable_truncate(argv[2], atof(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "stable-storm"))
		return cmd_stable_storm(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "trunc-storm"))
		return cmd_trunc_storm(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc >= 3 && !strcmp(argv[1], "dma-cache"))
		return cmd_dma_cache(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "max-pinned"))
		return cmd_max_pinned(argv[2], (unsigned)atoi(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "uid-flood"))
		return cmd_uid_flood(argv[2], argv[3], atoi(argv[4]));
	if (argc >= 3 && !strcmp(argv[1], "cow-pairs"))
		return cmd_cow_pairs(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "cow-bounce"))
		return cmd_cow_bounce(argv[2], argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "stats"))
		return cmd_stats(argv[2], argc - 3, argv + 3);
	fprintf(stderr, "usage: daxfs-pin-helper errors|limit|access|rdonly|nomap|stable|"
			"stable-wait FILE\n"
			"       daxfs-pin-helper hold FILE OFFSET LENGTH read|write|stable\n"
			"       daxfs-pin-helper stats PATH COUNTER...\n");
	return 2;
}
