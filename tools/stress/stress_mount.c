/* SPDX-License-Identifier: MIT */
/*
 * daxfs-stress through a real mount: files are changed with system calls,
 * read with O_DIRECT (so that every read reaches the daemon's zero-copy
 * path instead of the kernel page cache, which the devices' stores
 * bypass), and devices pin through the ioctls and reach the data through
 * libdaxfs-client's mapping of the pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daxfs_client.h"
#include "stress.h"

struct mount_be {
	char work[PATH_MAX];	     /* the work directory */
	int statfd;		     /* the directory given with --mount, for DAXFS_IOC_STATS */
	int dirfd;		     /* the work directory */
	struct daxfs_client *anchor; /* keeps the pool mapped for the whole run */
	int ballast_fd;
};

#define ANCHOR_NAME  ".anchor"
#define BALLAST_NAME "ballast"

static struct mount_be *mb(struct stress *s)
{
	return s->bdata;
}

static int mount_stats(struct stress *s, struct daxfs_ioc_stats *st)
{
	return ioctl(mb(s)->statfd, DAXFS_IOC_STATS, st) < 0 ? -errno : 0;
}

static int mount_setup(struct stress *s)
{
	struct mount_be *m = calloc(1, sizeof(*m));
	struct daxfs_ioc_stats st;

	if (!m)
		return -ENOMEM;
	m->dirfd = m->ballast_fd = -1;
	s->bdata = m;
	m->statfd = open(s->o.mount_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->statfd < 0) {
		stress_error("%s: %s", s->o.mount_dir, strerror(errno));
		return -errno;
	}
	int rc = mount_stats(s, &st);
	if (rc) {
		stress_error("%s: %s", s->o.mount_dir,
			     rc == -ENOTTY || rc == -ENOSYS ? "not on a daxfs mount"
							    : strerror(-rc));
		return rc;
	}
	return 0;
}

static int make_workdir(struct stress *s)
{
	struct mount_be *m = mb(s);
	int rc;

	snprintf(m->work, sizeof(m->work), "%s/daxfs-stress.%d", s->o.mount_dir, (int)getpid());
	if (mkdir(m->work, 0755) < 0) {
		rc = -errno;
		stress_error("mkdir %s: %s", m->work, strerror(errno));
		return rc;
	}
	m->dirfd = open(m->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return m->dirfd < 0 ? -errno : 0;
}

/* The anchor keeps one client open for the whole run, so that the pool is
 * mapped once, not again whenever the devices' handles all close. */
static int mount_prepare(struct stress *s)
{
	struct mount_be *m = mb(s);
	int rc;

	int fd = openat(m->dirfd, ANCHOR_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/%s", m->work, ANCHOR_NAME);
	struct daxfs_client *c;
	void *base;
	if (!(rc = daxfs_client_open(path, 0, &c)) && (rc = daxfs_client_map(c, &base)))
		daxfs_client_close(c);
	if (rc) {
		stress_error("%s: cannot map the pool: %s%s", path, strerror(-rc),
			     rc == -EACCES || rc == -EPERM
				 ? " (direct access needs the right to map the pool file)"
				 : "");
		return rc;
	}
	m->anchor = c;
	return 0;
}

static int remove_workdir(struct stress *s)
{
	struct mount_be *m = mb(s);
	int rc = 0;

	daxfs_client_close(m->anchor);
	m->anchor = NULL;
	if (m->dirfd >= 0) {
		if (unlinkat(m->dirfd, ANCHOR_NAME, 0) < 0 && errno != ENOENT)
			rc = -errno;
		close(m->dirfd);
		m->dirfd = -1;
	}
	if (rmdir(m->work) < 0 && !rc)
		rc = -errno;
	return rc;
}

static int mount_workdir(struct stress *s, bool create)
{
	return create ? make_workdir(s) : remove_workdir(s);
}

static int mount_shutdown(struct stress *s)
{
	struct mount_be *m = mb(s);

	if (!m)
		return 0;
	if (m->statfd >= 0)
		close(m->statfd);
	free(m);
	s->bdata = NULL;
	return 0;
}

static int mount_create(struct stress *s, struct slot *sl)
{
	sl->fd =
	    openat(mb(s)->dirfd, sl->name, O_RDWR | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0644);
	return sl->fd < 0 ? -errno : 0;
}

static int mount_remove(struct stress *s, struct slot *sl)
{
	int rc = unlinkat(mb(s)->dirfd, sl->name, 0) < 0 ? -errno : 0;

	if (sl->fd >= 0)
		close(sl->fd);
	sl->fd = -1;
	return rc;
}

static int mount_truncate(struct stress *s, struct slot *sl, uint64_t size)
{
	(void)s;
	return ftruncate(sl->fd, (off_t)size) < 0 ? -errno : 0;
}

static int mount_fallocate(struct stress *s, struct slot *sl, int mode, uint64_t off, uint64_t len)
{
	(void)s;
	return fallocate(sl->fd, mode, (off_t)off, (off_t)len) < 0 ? -errno : 0;
}

static ssize_t mount_write(struct stress *s, struct slot *sl, const void *buf, size_t len,
			   uint64_t off)
{
	(void)s;
	ssize_t n = pwrite(sl->fd, buf, len, (off_t)off);
	return n < 0 ? -errno : n;
}

static ssize_t read_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return done ? (ssize_t)done : -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t mount_read(struct stress *s, struct slot *sl, void *buf, size_t len, uint64_t off)
{
	(void)s;
	return read_full(sl->fd, buf, len, off);
}

static int mount_reader_open(struct stress *s, struct slot *sl, struct reader_file *rf)
{
	rf->fd = openat(mb(s)->dirfd, sl->name, O_RDONLY | O_DIRECT | O_CLOEXEC);
	return rf->fd < 0 ? -errno : 0;
}

static ssize_t mount_reader_read(struct stress *s, struct reader_file *rf, void *buf, size_t len,
				 uint64_t off)
{
	(void)s;
	return read_full(rf->fd, buf, len, off);
}

static void mount_reader_close(struct stress *s, struct reader_file *rf)
{
	(void)s;
	close(rf->fd);
}

static int mount_handle_open(struct stress *s, struct slot *sl, struct dev_handle *h)
{
	char path[PATH_MAX + 40];
	struct daxfs_client *c;

	snprintf(path, sizeof(path), "%s/%s", mb(s)->work, sl->name);
	void *base;
	int rc = daxfs_client_open(path, 0, &c);
	if (rc)
		return rc;
	/* The device stores through the mapping: no use without it. */
	if ((rc = daxfs_client_map(c, &base))) {
		daxfs_client_close(c);
		return rc;
	}
	h->client = c;
	h->fd = daxfs_client_fd(c);
	return 0;
}

static void mount_handle_close(struct stress *s, struct dev_handle *h)
{
	(void)s;
	daxfs_client_close(h->client);
	h->client = NULL;
}

static int mount_pin(struct stress *s, struct dev_handle *h, unsigned flags, struct dma_transfer *t)
{
	struct daxfs_client_pin pin;

	(void)s;
	int rc = daxfs_client_pin(h->client, t->offset, t->length, flags, &pin);
	if (rc)
		return rc;
	t->pin_id = pin.id;
	t->nseg = pin.nextents;
	for (unsigned i = 0; i < pin.nextents; i++)
		t->seg[i] = (struct dma_segment){pin.extents[i].addr, pin.extents[i].file_offset,
						 pin.extents[i].length};
	h->armed = true;
	return 0;
}

static int mount_unpin(struct stress *s, struct dev_handle *h, uint64_t pin_id)
{
	(void)s;
	return daxfs_client_unpin(h->client, pin_id);
}

static void mount_persist(struct stress *s, struct dev_handle *h, void *addr, size_t len)
{
	(void)s;
	daxfs_client_persist(h->client, addr, len);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#define MAX_POLL (2 * STRESS_MAX_FILES)

static unsigned armed_handles(struct stress *s, unsigned dev, struct pollfd *pf,
			      struct dev_handle **ph)
{
	struct device_ctx *dc = &s->devs[dev];
	unsigned n = 0;

	for (unsigned f = 0; f < s->o.files && n < MAX_POLL; f++) {
		struct dev_handle *h = dc->cur[f];
		if (h && h->armed && h->inflight) {
			pf[n] = (struct pollfd){.fd = h->fd, .events = POLLPRI};
			ph[n++] = h;
		}
	}
	for (struct dev_handle *h = dc->retired; h && n < MAX_POLL; h = h->next)
		if (h->armed && h->inflight) {
			pf[n] = (struct pollfd){.fd = h->fd, .events = POLLPRI};
			ph[n++] = h;
		}
	return n;
}

/*
 * Every poll() of a FUSE file is a request to the daemon for each file, so
 * short sleeps between transfer steps are plain sleeps and the devices
 * poll for recalls when they would sleep longer, or every 20 ms.  A handle
 * whose recalls were read is left out until its next pin: its POLLPRI
 * stays up until the recalled pins are gone, which the device does not
 * hurry.
 */
static int mount_wait(struct stress *s, unsigned dev, uint64_t timeout_ns, uint64_t *ids, int max)
{
	struct device_ctx *dc = &s->devs[dev];
	struct pollfd pf[MAX_POLL];
	struct dev_handle *ph[MAX_POLL];
	uint64_t now = dma_now_ns();
	unsigned n = armed_handles(s, dev, pf, ph);

	if (!n || (timeout_ns < 2000000 && now - dc->last_poll_ns < 20000000)) {
		sleep_ns(timeout_ns);
		return 0;
	}
	dc->last_poll_ns = now;
	int rc = poll(pf, n, (int)(timeout_ns / 1000000));
	if (rc <= 0)
		return 0;
	int got = 0;
	for (unsigned i = 0; i < n && got < max; i++) {
		if (!(pf[i].revents & POLLPRI))
			continue;
		int r = daxfs_client_recalls(ph[i]->client, ids + got, (unsigned)(max - got));
		if (r > 0)
			got += r < max - got ? r : max - got;
		ph[i]->armed = false;
	}
	return got;
}

static int mount_ballast(struct stress *s, uint64_t nblocks)
{
	struct mount_be *m = mb(s);

	if (!nblocks) {
		if (m->ballast_fd < 0)
			return 0;
		close(m->ballast_fd);
		m->ballast_fd = -1;
		return unlinkat(m->dirfd, BALLAST_NAME, 0) < 0 ? -errno : 0;
	}
	m->ballast_fd = openat(m->dirfd, BALLAST_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (m->ballast_fd < 0)
		return -errno;
	return fallocate(m->ballast_fd, 0, 0, (off_t)(nblocks * DMA_BLOCK)) < 0 ? -errno : 0;
}

const struct stress_backend stress_mount_backend = {
    .name = "mount",
    .setup = mount_setup,
    .workdir = mount_workdir,
    .prepare = mount_prepare,
    .shutdown = mount_shutdown,
    .stats = mount_stats,
    .create = mount_create,
    .remove = mount_remove,
    .truncate = mount_truncate,
    .fallocate = mount_fallocate,
    .write = mount_write,
    .read = mount_read,
    .reader_open = mount_reader_open,
    .reader_read = mount_reader_read,
    .reader_close = mount_reader_close,
    .handle_open = mount_handle_open,
    .handle_close = mount_handle_close,
    .pin = mount_pin,
    .unpin = mount_unpin,
    .persist = mount_persist,
    .wait = mount_wait,
    .ballast = mount_ballast,
};
