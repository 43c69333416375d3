/* SPDX-License-Identifier: MIT */
/*
 * The mixed-pins scenario of daxfs-stress (--mixed-pins, through a mount):
 * devices take WRITE and READ|STABLE pins on the same few blocks of a few
 * shared files, while mutators write into those blocks (write(), a store
 * through mmap and msync, fallocate zero range: each a bounce when the
 * block is under a STABLE pin) and truncate them away and back.
 *
 * The oracle for lost stores: every store a device makes through a WRITE
 * pin is read back from the file (O_DIRECT, past the page cache) at once;
 * if the file does not show it, the pin must have been recalled by then.
 * A removal marks the pins it recalls before it takes the blocks out of
 * the file, so a store lost to a truncate always finds its pin recalled;
 * a store lost to a bounce that stranded the WRITE pin never does.  A
 * WRITE or STABLE pin refused with EBUSY (the other kind holds the block)
 * is counted, never a violation.  STABLE pins keep the stable-pages
 * oracle: the checksum of the pinned blocks taken at pin time holds until
 * the unpin.  Mutators take the block's lock around each change, so a
 * device's check never races a write it would mistake for a lost store.
 */
#include "mixed_pins.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daxfs_client.h"
#include "dma_engine.h"

#define MIXED_FILES   4
#define MIXED_BLOCKS  8
#define MIXED_MAX_PIN 3 /* blocks per pin */
#define BS	      DMA_BLOCK

struct mixed {
	const struct stress_opts *o;
	char dir[4096];
	char path[MIXED_FILES][4200];
	pthread_mutex_t block_lock[MIXED_FILES][MIXED_BLOCKS];
	/* Changers read-hold it, the truncater write-holds it while the tail
	 * is gone: a store through mmap past EOF would fault.  Devices never
	 * take it, so a truncate waiting for their pins cannot hold them. */
	pthread_rwlock_t size_lock[MIXED_FILES];
	uint8_t gen[MIXED_FILES][MIXED_BLOCKS]; /* under block_lock */
	uint64_t deadline_ns;
	atomic_uint devices_left;
	_Atomic uint64_t write_pins, write_busy, stable_pins, stable_busy, pin_other;
	_Atomic uint64_t stores_checked, lost_after_recall, recalled, stable_checks;
	_Atomic uint64_t changes, truncates, violations;
};

struct mixed_thread {
	struct mixed *m;
	unsigned id;
	uint64_t rng;
	pthread_t th;
	struct daxfs_client *c[MIXED_FILES];
	int rfd[MIXED_FILES]; /* O_DIRECT, for reading back */
	void *buf;	      /* one aligned block */
};

static void violation(struct mixed *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct mixed *m, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&m->violations, 1);
	va_start(ap, fmt);
	fprintf(stderr, "daxfs-stress: VIOLATION (mixed pins): ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static uint64_t rnd(struct mixed_thread *t, uint64_t n)
{
	return dma_rand(&t->rng) % n;
}

static bool out_of_time(struct mixed *m)
{
	return dma_now_ns() >= m->deadline_ns;
}

static bool pin_recalled(struct daxfs_client *c, uint64_t id)
{
	uint64_t ids[DAXFS_RECALLS_MAX];
	int n = daxfs_client_recalls(c, ids, DAXFS_RECALLS_MAX);

	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The address of file offset off in the pin, NULL if not mapped. */
static uint8_t *pin_addr(const struct daxfs_client_pin *p, uint64_t off)
{
	for (unsigned i = 0; i < p->nextents; i++) {
		const struct daxfs_client_extent *e = &p->extents[i];
		if (e->addr && off >= e->file_offset && off < e->file_offset + e->length)
			return (uint8_t *)e->addr + (off - e->file_offset);
	}
	return NULL;
}

static uint64_t checksum(const struct daxfs_client_pin *p)
{
	uint64_t h = 0xCBF29CE484222325ull;

	for (unsigned i = 0; i < p->nextents; i++) {
		const volatile uint64_t *w = p->extents[i].addr;
		for (uint64_t k = 0; k < p->extents[i].length / 8; k++)
			h = (h ^ w[k]) * 0x100000001B3ull;
	}
	return h;
}

static void count_refusal(struct mixed *m, int rc, _Atomic uint64_t *busy)
{
	/* EBUSY: the other kind of pin holds a block; ENXIO: a hole or past
	 * EOF while a mutator truncated; the limits, under many devices. */
	if (rc == -EBUSY)
		atomic_fetch_add(busy, 1);
	else if (rc == -ENXIO || rc == -ENFILE || rc == -EMFILE || rc == -EDQUOT)
		atomic_fetch_add(&m->pin_other, 1);
	else
		violation(m, "pin: unexpected error %s", strerror(-rc));
}

/* One store through the WRITE pin into file block b, and its check. */
static bool store_and_check(struct mixed_thread *t, unsigned f, unsigned b,
			    const struct daxfs_client_pin *p)
{
	struct mixed *m = t->m;
	uint8_t *dst = pin_addr(p, (uint64_t)b * BS);
	uint64_t words[DMA_WORDS];
	bool kept;

	if (!dst) {
		violation(m, "file %u block %u: not in the WRITE pin's extents", f, b);
		return false;
	}
	pthread_mutex_lock(&m->block_lock[f][b]);
	uint8_t gen = ++m->gen[f][b];
	dma_fill_tags(words, 1, f + 1, b, gen);
	daxfs_client_memcpy_persist(t->c[f], dst, words, BS);
	ssize_t n = pread(t->rfd[f], t->buf, BS, (off_t)b * BS);
	kept = n == BS && memcmp(t->buf, words, BS) == 0;
	/* The kernel clamps the read to the size it knows, which lags behind
	 * a truncater's extend until its ftruncate returns: read again once
	 * no truncate is in flight.  Only trying the lock, and watching for a
	 * recall meanwhile: a truncate that needs this pin waits for it. */
	while (!kept && !pin_recalled(t->c[f], p->id)) {
		if (pthread_rwlock_tryrdlock(&m->size_lock[f])) {
			sched_yield();
			continue;
		}
		n = pread(t->rfd[f], t->buf, BS, (off_t)b * BS);
		kept = n == BS && memcmp(t->buf, words, BS) == 0;
		pthread_rwlock_unlock(&m->size_lock[f]);
		break;
	}
	if (kept) {
		atomic_fetch_add(&m->stores_checked, 1);
	} else if (pin_recalled(t->c[f], p->id)) {
		atomic_fetch_add(&m->lost_after_recall, 1);
	} else {
		uint64_t w0;
		memcpy(&w0, t->buf, sizeof(w0));
		violation(m,
			  "file %u block %u: a store (generation %u) through WRITE pin %llu is not "
			  "in the file, and the pin was not recalled (read %zd bytes, first word "
			  "%#llx)",
			  f, b, gen, (unsigned long long)p->id, n, (unsigned long long)w0);
	}
	pthread_mutex_unlock(&m->block_lock[f][b]);
	return kept;
}

static void device_write(struct mixed_thread *t, unsigned f, unsigned lo, unsigned n)
{
	struct mixed *m = t->m;
	struct daxfs_client_pin p;
	int rc = daxfs_client_pin(t->c[f], (uint64_t)lo * BS, (uint64_t)n * BS,
				  DAXFS_PIN_WRITE | DAXFS_PIN_LONGTERM, &p);

	if (rc) {
		count_refusal(m, rc, &m->write_busy);
		return;
	}
	atomic_fetch_add(&m->write_pins, 1);
	/* A few rounds, so that mutators and STABLE pins get between them. */
	for (unsigned round = 0; round < 3; round++) {
		if (pin_recalled(t->c[f], p.id)) {
			atomic_fetch_add(&m->recalled, 1);
			break; /* a device stops at the recall */
		}
		for (unsigned b = lo; b < lo + n; b++)
			store_and_check(t, f, b, &p);
		sched_yield();
	}
	rc = daxfs_client_unpin(t->c[f], p.id);
	if (rc)
		violation(m, "unpin of WRITE pin %llu: %s", (unsigned long long)p.id,
			  strerror(-rc));
}

static void device_stable(struct mixed_thread *t, unsigned f, unsigned lo, unsigned n)
{
	struct mixed *m = t->m;
	struct daxfs_client_pin p;
	int rc = daxfs_client_pin(t->c[f], (uint64_t)lo * BS, (uint64_t)n * BS,
				  DAXFS_PIN_READ | DAXFS_PIN_STABLE | DAXFS_PIN_LONGTERM, &p);

	if (rc) {
		count_refusal(m, rc, &m->stable_busy);
		return;
	}
	atomic_fetch_add(&m->stable_pins, 1);
	uint64_t sum = checksum(&p);
	for (unsigned round = 0; round < 3; round++) {
		sched_yield();
		atomic_fetch_add(&m->stable_checks, 1);
		if (checksum(&p) != sum) {
			violation(m, "file %u blocks %u+%u: changed under STABLE pin %llu", f, lo,
				  n, (unsigned long long)p.id);
			break;
		}
	}
	rc = daxfs_client_unpin(t->c[f], p.id);
	if (rc)
		violation(m, "unpin of STABLE pin %llu: %s", (unsigned long long)p.id,
			  strerror(-rc));
}

static void *device_main(void *arg)
{
	struct mixed_thread *t = arg;
	struct mixed *m = t->m;
	unsigned rounds = m->o->rounds;

	for (unsigned i = 0; (!rounds || i < rounds) && !out_of_time(m); i++) {
		unsigned f = (unsigned)rnd(t, MIXED_FILES);
		unsigned n = 1 + (unsigned)rnd(t, MIXED_MAX_PIN);
		unsigned lo = (unsigned)rnd(t, MIXED_BLOCKS - n + 1);
		if (rnd(t, 2))
			device_write(t, f, lo, n);
		else
			device_stable(t, f, lo, n);
	}
	atomic_fetch_sub(&m->devices_left, 1);
	return NULL;
}

/* Changes a part of block b of file f in place: write(), a store through
 * mmap and msync, or a zero range. */
static void change_block(struct mixed_thread *t, unsigned f, unsigned b, int fd)
{
	struct mixed *m = t->m;
	uint64_t off = (uint64_t)b * BS + 8 * rnd(t, DMA_WORDS / 2), len = 8 * (1 + rnd(t, 64));
	char junk[512];
	int rc = 0;

	memset(junk, 'm', sizeof(junk));
	pthread_rwlock_rdlock(&m->size_lock[f]);
	pthread_mutex_lock(&m->block_lock[f][b]);
	switch (rnd(t, 3)) {
	case 0:
		rc = pwrite(fd, junk, len, (off_t)off) == (ssize_t)len ? 0 : errno;
		break;
	case 1: {
		char *map =
		    mmap(NULL, MIXED_BLOCKS * BS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			rc = errno;
			break;
		}
		memcpy(map + off, junk, len);
		rc = msync(map, MIXED_BLOCKS * BS, MS_SYNC) ? errno : 0;
		munmap(map, MIXED_BLOCKS * BS);
		break;
	}
	default:
		rc = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			       (off_t)len)
			 ? errno
			 : 0;
		break;
	}
	pthread_mutex_unlock(&m->block_lock[f][b]);
	pthread_rwlock_unlock(&m->size_lock[f]);
	if (rc && rc != ENOSPC)
		violation(m, "change of file %u block %u: %s", f, b, strerror(rc));
	atomic_fetch_add(&m->changes, 1);
}

/* Takes the tail of file f away and back (holes): the pins on it are
 * recalled. */
static void truncate_tail(struct mixed_thread *t, unsigned f, int fd)
{
	struct mixed *m = t->m;
	off_t keep = (off_t)(1 + rnd(t, MIXED_BLOCKS - 1)) * BS;

	pthread_rwlock_wrlock(&m->size_lock[f]);
	if (ftruncate(fd, keep) || ftruncate(fd, (off_t)MIXED_BLOCKS * BS))
		violation(m, "truncate of file %u: %s", f, strerror(errno));
	pthread_rwlock_unlock(&m->size_lock[f]);
	atomic_fetch_add(&m->truncates, 1);
}

static void *mutator_main(void *arg)
{
	struct mixed_thread *t = arg;
	struct mixed *m = t->m;
	int fd[MIXED_FILES];

	for (unsigned f = 0; f < MIXED_FILES; f++)
		fd[f] = open(m->path[f], O_RDWR | O_CLOEXEC);
	while (atomic_load(&m->devices_left) > 0) {
		unsigned f = (unsigned)rnd(t, MIXED_FILES);
		if (fd[f] < 0) {
			violation(m, "open %s: %s", m->path[f], strerror(errno));
			break;
		}
		if (rnd(t, 16) == 0)
			truncate_tail(t, f, fd[f]);
		else
			change_block(t, f, (unsigned)rnd(t, MIXED_BLOCKS), fd[f]);
		sched_yield();
	}
	for (unsigned f = 0; f < MIXED_FILES; f++)
		if (fd[f] >= 0)
			close(fd[f]);
	return NULL;
}

static int make_files(struct mixed *m)
{
	char block[BS];

	memset(block, 'a', sizeof(block));
	snprintf(m->dir, sizeof(m->dir), "%s/mixed-pins", m->o->mount_dir);
	if (mkdir(m->dir, 0755) && errno != EEXIST)
		return -errno;
	for (unsigned f = 0; f < MIXED_FILES; f++) {
		snprintf(m->path[f], sizeof(m->path[f]), "%s/f%u", m->dir, f);
		int fd = open(m->path[f], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		for (unsigned b = 0; b < MIXED_BLOCKS; b++)
			if (pwrite(fd, block, BS, (off_t)b * BS) != BS) {
				int e = errno;
				close(fd);
				return -e;
			}
		close(fd);
		for (unsigned b = 0; b < MIXED_BLOCKS; b++)
			pthread_mutex_init(&m->block_lock[f][b], NULL);
		pthread_rwlock_init(&m->size_lock[f], NULL);
	}
	return 0;
}

static void remove_files(struct mixed *m)
{
	for (unsigned f = 0; f < MIXED_FILES; f++)
		unlink(m->path[f]);
	rmdir(m->dir);
}

static int thread_open(struct mixed *m, struct mixed_thread *t)
{
	if (posix_memalign(&t->buf, BS, BS))
		return -ENOMEM;
	for (unsigned f = 0; f < MIXED_FILES; f++) {
		int rc = daxfs_client_open(m->path[f], 0, &t->c[f]);
		if (rc)
			return rc;
		void *base;
		if ((rc = daxfs_client_map(t->c[f], &base)))
			return rc;
		t->rfd[f] = open(m->path[f], O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (t->rfd[f] < 0)
			return -errno;
	}
	return 0;
}

static void thread_close(struct mixed_thread *t)
{
	for (unsigned f = 0; f < MIXED_FILES; f++) {
		if (t->c[f])
			daxfs_client_close(t->c[f]);
		if (t->rfd[f] >= 0)
			close(t->rfd[f]);
	}
	free(t->buf);
}

static void print_summary(struct mixed *m, double secs)
{
	printf("daxfs-stress mixed pins (%s): %.1f s, seed %llu: WRITE pins %llu (EBUSY %llu), "
	       "STABLE pins %llu (EBUSY %llu), other refusals %llu; stores checked %llu, lost "
	       "after a recall %llu, transfers recalled %llu; stable checks %llu; changes %llu, "
	       "truncates %llu; violations %llu\n",
	       m->o->layout_wait == DAXFS_LAYOUT_WAIT_DEFERRED ? "deferred" : "sync", secs,
	       (unsigned long long)m->o->seed, (unsigned long long)m->write_pins,
	       (unsigned long long)m->write_busy, (unsigned long long)m->stable_pins,
	       (unsigned long long)m->stable_busy, (unsigned long long)m->pin_other,
	       (unsigned long long)m->stores_checked, (unsigned long long)m->lost_after_recall,
	       (unsigned long long)m->recalled, (unsigned long long)m->stable_checks,
	       (unsigned long long)m->changes, (unsigned long long)m->truncates,
	       (unsigned long long)m->violations);
}

int mixed_pins_run(const struct stress_opts *o)
{
	unsigned nd = o->devices, nm = o->mutators ? o->mutators : 1;
	struct mixed *m = calloc(1, sizeof(*m));
	struct mixed_thread *t = calloc(nd + nm, sizeof(*t));
	int rc = 2;

	if (!m || !t) {
		fprintf(stderr, "daxfs-stress: out of memory\n");
		goto out;
	}
	m->o = o;
	int e = make_files(m);
	if (e) {
		fprintf(stderr, "daxfs-stress: mixed pins: making the files: %s\n", strerror(-e));
		goto out;
	}
	for (unsigned i = 0; i < nd + nm; i++) {
		t[i].m = m;
		t[i].id = i;
		t[i].rng = o->seed * 0x9E3779B97F4A7C15ull + i + 1;
		for (unsigned f = 0; f < MIXED_FILES; f++)
			t[i].rfd[f] = -1;
		if (i < nd && (e = thread_open(m, &t[i]))) {
			fprintf(stderr, "daxfs-stress: mixed pins: device %u: %s\n", i,
				strerror(-e));
			goto out_threads;
		}
	}
	uint64_t t0 = dma_now_ns();
	m->deadline_ns = t0 + (uint64_t)o->seconds * 1000000000ull;
	atomic_store(&m->devices_left, nd);
	for (unsigned i = 0; i < nd + nm; i++)
		if (pthread_create(&t[i].th, NULL, i < nd ? device_main : mutator_main, &t[i])) {
			fprintf(stderr, "daxfs-stress: cannot start threads\n");
			_exit(2);
		}
	for (unsigned i = 0; i < nd + nm; i++)
		pthread_join(t[i].th, NULL);
	print_summary(m, (double)(dma_now_ns() - t0) / 1e9);
	rc = m->violations ? 1 : 0;
out_threads:
	for (unsigned i = 0; i < nd + nm; i++)
		thread_close(&t[i]);
	remove_files(m);
out:
	free(t);
	free(m);
	return rc;
}
