/* SPDX-License-Identifier: MIT */
/* In-process tests of copy_file_range and of writes whose source is cut at
 * other places than block boundaries: every byte lands where it belongs
 * (checked against a model of each file, also after a remount), a hole
 * filled by several spans of one write takes one block, and nothing leaks
 * (free blocks are back at the start once the files are gone). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../pmem/format.h"
#include "check.h"
#include "test_pool.h"

#define BS	  4096
#define MODEL_MAX (96 * BS)

static char dir[] = "/dev/shm/daxfs-copy-XXXXXX";
static const struct daxfs_cred root_cred = { 0 };

/* The model of one file: its bytes and its size. */
struct model {
	const char *name;
	uint64_t ino;
	uint64_t size;
	unsigned char data[MODEL_MAX];
};

static struct model files[2] = {{.name = "a"}, {.name = "b"}};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? rng_state % n : 0;
}

static uint64_t create_file(struct daxfs *fs, const char *name)
{
	struct daxfs_attr a;
	int rc = daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, name, S_IFREG | 0644, 0, &a);

	CHECK_EQ(rc, 0);
	return rc ? 0 : a.ino;
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9) + 1);
}

static uint64_t file_blocks(struct daxfs *fs, uint64_t ino)
{
	struct daxfs_attr a;

	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	return a.blocks / 8;
}

/* The file must read back exactly as its model, and be its size. */
static int matches(struct daxfs *fs, const struct model *m, const char *when)
{
	static unsigned char back[MODEL_MAX + BS];
	struct daxfs_attr a;

	CHECK_EQ(daxfs_getattr(fs, m->ino, &a), 0);
	CHECK_EQ(a.size, m->size);
	ssize_t n = daxfs_read(fs, m->ino, back, sizeof(back), 0);
	CHECK_EQ(n, (ssize_t)m->size);
	if (n != (ssize_t)m->size || memcmp(back, m->data, m->size) != 0) {
		for (uint64_t i = 0; i < m->size; i++)
			if (back[i] != m->data[i]) {
				fprintf(stderr,
					"%s: file %s differs first at byte %llu: %u, model %u\n",
					when, m->name, (unsigned long long)i, back[i], m->data[i]);
				break;
			}
		CHECK(!"file content matches its model");
		return 0;
	}
	return 1;
}

/* Writes block 1 and then block 0, so that the file's two blocks are not
 * adjacent in file order in the pool. */
static void write_reversed(struct daxfs *fs, uint64_t ino, unsigned char *buf)
{
	fill(buf, 2 * BS, 5);
	CHECK_EQ(daxfs_write(fs, ino, buf + BS, BS, BS, false), BS);
	CHECK_EQ(daxfs_write(fs, ino, buf, BS, 0, false), BS);
}

/* The reproduction: a copy whose source offset is not block-aligned with
 * its destination, into a hole, from blocks not adjacent in the pool. */
static void test_copy_into_hole(void)
{
	static unsigned char src[2 * BS], back[2 * BS];
	struct daxfs *fs = mount_pool();
	uint64_t in = create_file(fs, "src"), out = create_file(fs, "dst");
	uint64_t before = free_blocks(fs);

	write_reversed(fs, in, src);
	CHECK_EQ(daxfs_copy_file_range(fs, in, 2048, out, 0, BS), BS);
	memset(back, 0xee, sizeof(back));
	CHECK_EQ(daxfs_read(fs, out, back, sizeof(back), 0), BS);
	CHECK(memcmp(back, src + 2048, BS) == 0);
	CHECK_EQ(file_blocks(fs, out), 1);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);

	fs = mount_pool();
	memset(back, 0xee, sizeof(back));
	CHECK_EQ(daxfs_read(fs, out, back, sizeof(back), 0), BS);
	CHECK(memcmp(back, src + 2048, BS) == 0);
	CHECK_EQ(file_blocks(fs, out), 1);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "src"), 0);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "dst"), 0);
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* A copy of more blocks than one write publishes at a time: the block
 * split between two source spans may straddle a batch boundary. */
static void test_copy_many_blocks(void)
{
	enum { N = 150 };
	static unsigned char src[N * BS], back[N * BS];
	struct daxfs *fs = mount_pool();
	uint64_t in = create_file(fs, "many-src"), out = create_file(fs, "many-dst");

	fill(src, sizeof(src), 11);
	for (int i = N - 1; i >= 0; i--)
		CHECK_EQ(daxfs_write(fs, in, src + i * BS, BS, (uint64_t)i * BS, false), BS);
	uint64_t before = free_blocks(fs);
	CHECK_EQ(daxfs_copy_file_range(fs, in, 2048, out, 0, (N - 1) * BS), (N - 1) * BS);
	CHECK_EQ(daxfs_read(fs, out, back, sizeof(back), 0), (N - 1) * BS);
	CHECK(memcmp(back, src + 2048, (N - 1) * BS) == 0);
	CHECK_EQ(file_blocks(fs, out), N - 1 + 1); /* and one index block */
	CHECK_EQ(before - free_blocks(fs), N);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "many-src"), 0);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "many-dst"), 0);
	daxfs_forget(fs, in, 1);
	daxfs_forget(fs, out, 1);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* The same root cause through writev: three spans of one new block. */
static void test_writev_spans_in_one_hole(void)
{
	static unsigned char buf[2 * BS], back[2 * BS];
	struct daxfs *fs = mount_pool();
	uint64_t ino = create_file(fs, "v");
	uint64_t before = free_blocks(fs);

	fill(buf, sizeof(buf), 9);
	struct iovec iov[3] = {{buf, 100}, {buf + 100, 3000}, {buf + 3100, BS + 10}};
	CHECK_EQ(daxfs_writev(fs, ino, iov, 3, 0, false), 3100 + BS + 10);
	CHECK_EQ(daxfs_read(fs, ino, back, sizeof(back), 0), 3100 + BS + 10);
	CHECK(memcmp(back, buf, 3100 + BS + 10) == 0);
	CHECK_EQ(file_blocks(fs, ino), 3); /* two data blocks and their index block */
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "v"), 0);
	daxfs_forget(fs, ino, 1);
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* Copies within one file: overlapping ranges are refused and change
 * nothing; adjacent and disjoint ones copy; the source is shortened to its
 * EOF before the overlap is judged. */
static void test_copy_within_file(void)
{
	struct daxfs *fs = mount_pool();
	struct model *m = &files[0];

	m->ino = create_file(fs, "w");
	m->size = 5 * BS + 123;
	fill(m->data, m->size, 3);
	CHECK_EQ(daxfs_write(fs, m->ino, m->data, m->size, 0, false), (ssize_t)m->size);
	CHECK_EQ(daxfs_copy_file_range(fs, m->ino, 0, m->ino, 100, 2 * BS), -EINVAL);
	CHECK_EQ(daxfs_copy_file_range(fs, m->ino, 100, m->ino, 0, 2 * BS), -EINVAL);
	CHECK_EQ(daxfs_copy_file_range(fs, m->ino, 0, m->ino, 0, 1), -EINVAL);
	matches(fs, m, "after refused overlapping copies");
	/* Source [5 BS, EOF) and destination [5 BS + 200, ...) overlap. */
	CHECK_EQ(daxfs_copy_file_range(fs, m->ino, 5 * BS, m->ino, 5 * BS + 100, 1 << 20), -EINVAL);
	/* Shortened to EOF, [4 BS + 123, EOF) no longer meets [0, 8000). */
	CHECK_EQ(daxfs_copy_file_range(fs, m->ino, 4 * BS + 123, m->ino, 0, 1 << 20), BS);
	memmove(m->data, m->data + 4 * BS + 123, BS);
	matches(fs, m, "after a copy shortened to EOF");
	/* Past EOF: nothing to copy, even where the ranges would overlap. */
	CHECK_EQ(daxfs_copy_file_range(fs, m->ino, m->size, m->ino, m->size - 1, 100), 0);
	/* Adjacent, extending the file from its EOF. */
	CHECK_EQ(daxfs_copy_file_range(fs, m->ino, 1000, m->ino, m->size, 2 * BS + 7), 2 * BS + 7);
	memcpy(m->data + m->size, m->data + 1000, 2 * BS + 7);
	m->size += 2 * BS + 7;
	matches(fs, m, "after an extending copy");
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "w"), 0);
	daxfs_forget(fs, m->ino, 1);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* Writes at random places keep the files' blocks scattered in the pool;
 * copies at random offsets and unaligned lengths, within and between the
 * files, sometimes past EOF, are checked against the models. */
static void test_copy_random(void)
{
	static unsigned char buf[MODEL_MAX];
	struct daxfs *fs = mount_pool();
	int bad = 0;

	for (int f = 0; f < 2; f++) {
		files[f].ino = create_file(fs, files[f].name);
		files[f].size = 0;
		memset(files[f].data, 0, sizeof(files[f].data));
	}
	uint64_t before = free_blocks(fs);
	for (int op = 0; op < 3000 && !bad; op++) {
		struct model *s = &files[rnd(2)], *d = rnd(3) ? &files[rnd(2)] : s;
		if (rnd(4) == 0) {
			uint64_t off = rnd(MODEL_MAX / 2), len = 1 + rnd(3 * BS);
			fill(buf, len, (unsigned)op);
			CHECK_EQ(daxfs_write(fs, s->ino, buf, len, off, false), (ssize_t)len);
			memcpy(s->data + off, buf, len);
			if (off + len > s->size)
				s->size = off + len;
		} else if (rnd(8) == 0) {
			uint64_t size = rnd(MODEL_MAX / 2);
			struct daxfs_setattr sa = {.valid = DAXFS_SET_SIZE, .size = size};
			struct daxfs_attr a;
			CHECK_EQ(daxfs_setattr(fs, s->ino, &sa, &a), 0);
			if (size > s->size)
				memset(s->data + s->size, 0, size - s->size);
			else
				memset(s->data + size, 0, s->size - size);
			s->size = size;
		} else {
			uint64_t in = rnd(s->size + BS), out = rnd(MODEL_MAX / 2 + BS);
			uint64_t len = rnd(4) ? 1 + rnd(5 * BS) : BS * (1 + rnd(6));
			uint64_t n = in >= s->size ? 0 : s->size - in < len ? s->size - in : len;
			ssize_t want = (ssize_t)n;
			if (s == d && out + n > in && out < in + n)
				want = -EINVAL;
			CHECK_EQ(daxfs_copy_file_range(fs, s->ino, in, d->ino, out, len), want);
			if (want > 0) {
				if (out > d->size)
					memset(d->data + d->size, 0, out - d->size);
				memmove(d->data + out, s->data + in, n);
				if (out + n > d->size)
					d->size = out + n;
			}
		}
		for (int f = 0; f < 2; f++)
			bad |= !matches(fs, &files[f], "random copies");
	}
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	fs = mount_pool();
	for (int f = 0; f < 2; f++) {
		matches(fs, &files[f], "after a remount");
		CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, files[f].name), 0);
	}
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(pool, sizeof(pool), "%s/pool", dir);
	mkpool("16M", "");
	test_copy_into_hole();
	test_copy_many_blocks();
	test_writev_spans_in_one_hole();
	test_copy_within_file();
	test_copy_random();

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_summary();
}
