/* SPDX-License-Identifier: MIT */
/* The fixed blocks: superblock and its backup, undo log, state block. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsck.h"

/* The fields a checker needs to find everything else; the backup must agree
 * with the primary on all of them. */
static const char *geometry_difference(const struct daxfs_super *a, const struct daxfs_super *b)
{
	if (memcmp(a->uuid, b->uuid, sizeof(a->uuid)))
		return "uuid";
	if (a->total_blocks != b->total_blocks || a->inode_count != b->inode_count ||
	    a->log_slots != b->log_slots || a->log_slot_blocks != b->log_slot_blocks ||
	    a->itable_start != b->itable_start || a->bitmap_start != b->bitmap_start ||
	    a->bitmap_blocks != b->bitmap_blocks || a->data_start != b->data_start ||
	    a->data_blocks != b->data_blocks)
		return "geometry";
	if (memcmp(a, b, sizeof(*a)))
		return "label, time or reserved bytes";
	return NULL;
}

/* daxfs refuses a sparse pool file: the daemon would take SIGBUS the day
 * the filesystem holding it fills up. */
static void check_allocation(struct fsck *fx)
{
	uint64_t need = fx->sb.total_blocks * DAXFS_BLOCK_SIZE;
	struct stat st;

	if (fx->device || fstat(fx->fd, &st) < 0 || (uint64_t)st.st_blocks * 512 >= need)
		return;
	if (!fix(fx, FIX_PREEN, "allocate it", "pool file is sparse (%llu of %llu bytes allocated)",
		 (unsigned long long)st.st_blocks * 512, (unsigned long long)need))
		return;
	if (fx->persist && (errno = posix_fallocate(fx->fd, 0, (off_t)need)))
		warn(fx, "cannot allocate %s: %s", fx->path, strerror(errno));
}

/* pool_check_super's reason, without its advice to run fsck. */
static const char *reason(const struct daxfs_super *sb, uint64_t size, char *buf, size_t len)
{
	const char *why = pool_check_super(sb, size);

	if (!why)
		return NULL;
	snprintf(buf, len, "%.*s", (int)strcspn(why, "("), why);
	size_t n = strlen(buf);
	while (n && buf[n - 1] == ' ')
		buf[--n] = 0;
	return buf;
}

int check_superblocks(struct fsck *fx)
{
	const struct daxfs_super *primary = (const void *)fx->map;
	const struct daxfs_super *backup = (const void *)(fx->map + DAXFS_BLOCK_SIZE);
	char buf_p[160], buf_b[160];
	const char *why_p = reason(primary, fx->file_size, buf_p, sizeof(buf_p));
	const char *why_b = reason(backup, fx->file_size, buf_b, sizeof(buf_b));

	if (why_p && why_b) {
		fprintf(stderr,
			"fsck.daxfs: %s: no valid superblock: primary: %s; backup (block 1): %s\n",
			fx->path, why_p, why_b);
		return -1;
	}
	if (why_p) {
		/* Nothing is taken from a bad superblock, not even its geometry. */
		fx->sb = *backup;
		if (fix(fx, FIX_PREEN, "restore it from the backup",
			"primary superblock (block 0): %s", why_p))
			fx_memcpy(fx, fx->map, backup, DAXFS_BLOCK_SIZE);
	} else {
		fx->sb = *primary;
		const char *diff = why_b ? why_b : geometry_difference(primary, backup);
		if (diff &&
		    fix(fx, FIX_PREEN, "rewrite it from the primary",
			why_b ? "backup superblock (block 1): %s"
			      : "backup superblock (block 1) disagrees with the primary: %s",
			diff))
			fx_memcpy(fx, fx->map + DAXFS_BLOCK_SIZE, primary, DAXFS_BLOCK_SIZE);
	}
	fx->pool.size = fx->sb.total_blocks * DAXFS_BLOCK_SIZE;
	check_allocation(fx);
	note(fx, "superblock: %llu blocks, %llu inodes, data blocks %llu-%llu",
	     (unsigned long long)fx->sb.total_blocks, (unsigned long long)fx->sb.inode_count - 1,
	     (unsigned long long)fx->sb.data_start, (unsigned long long)(fx->sb.total_blocks - 1));
	return 0;
}

static uint64_t entry_bytes(uint32_t len)
{
	return sizeof(struct daxfs_log_entry) + (((uint64_t)len + 7) & ~7ULL);
}

/* The rules a mount applies before it rolls a slot back, written so that
 * no sum can wrap, and a range may not overlap the slot it comes from.
 * Returns NULL when every entry is sound, else what is wrong with entry
 * *bad. */
static const char *check_slot(const struct fsck *fx, const char *base, uint64_t slot_bytes,
			      uint64_t *bad)
{
	const struct daxfs_log_header *h = (const void *)base;
	uint64_t off = sizeof(*h), slot_start = pool_off(fx, base);

	if (h->nentries > (slot_bytes - sizeof(*h)) / sizeof(struct daxfs_log_entry)) {
		*bad = UINT64_MAX;
		return "claims more entries than the slot can hold";
	}
	for (uint64_t i = 0; i < h->nentries; i++) {
		const struct daxfs_log_entry *e = (const void *)(base + off);
		*bad = i;
		if (off + sizeof(*e) > slot_bytes || entry_bytes(e->len) > slot_bytes - off)
			return "runs past the end of the slot";
		if (e->offset < DAXFS_STATE_BLOCK * (uint64_t)DAXFS_BLOCK_SIZE)
			return "would write a superblock";
		if (e->offset > fx->pool.size || e->len > fx->pool.size - e->offset)
			return "would write past the end of the pool";
		if (e->offset < slot_start + slot_bytes && e->offset + e->len > slot_start)
			return "would write its own slot";
		off += entry_bytes(e->len);
	}
	return NULL;
}

/* As undo_log_recover does it: newest entry first, so that a range logged
 * twice ends with its oldest contents; then the commit word. */
static bool roll_back(struct fsck *fx, char *base)
{
	struct daxfs_log_header *h = (void *)base;
	uint64_t n = h->nentries, off = sizeof(*h);
	uint64_t *offs = calloc(n, sizeof(*offs));

	if (!offs)
		return false;
	for (uint64_t i = 0; i < n; i++) {
		offs[i] = off;
		off += entry_bytes(((struct daxfs_log_entry *)(base + off))->len);
	}
	for (uint64_t i = n; i-- > 0;) {
		const struct daxfs_log_entry *e = (const void *)(base + offs[i]);
		fx_memcpy(fx, fx->map + e->offset, e + 1, e->len);
	}
	free(offs);
	fx_store8(fx, &h->nentries, 0);
	return true;
}

static void check_log_slot(struct fsck *fx, unsigned s, bool clean, uint64_t *pending)
{
	uint64_t slot_bytes = fx->sb.log_slot_blocks * DAXFS_BLOCK_SIZE;
	char *base = blk_addr(fx, fx->sb.log_start + (uint64_t)s * fx->sb.log_slot_blocks);
	struct daxfs_log_header *h = (void *)base;
	uint64_t bad;

	if (h->magic != DAXFS_LOG_MAGIC) {
		/* Magic 0 is a slot never used; another magic with no entries
		 * is re-initialised by the next transaction that takes it. */
		if (h->magic != 0 && h->nentries != 0 &&
		    fix(fx, FIX_YES, "discard the slot",
			"undo log slot %u: damaged header (magic %#llx, %llu entries)", s,
			(unsigned long long)h->magic, (unsigned long long)h->nentries)) {
			fx_store8(fx, &h->nentries, 0);
			fx_store8(fx, &h->magic, 0);
		}
		return;
	}
	if (h->nentries == 0)
		return;
	const char *why = check_slot(fx, base, slot_bytes, &bad);
	if (why) {
		char what[64];
		if (bad == UINT64_MAX)
			snprintf(what, sizeof(what), "header (%llu entries)",
				 (unsigned long long)h->nentries);
		else
			snprintf(what, sizeof(what), "entry %llu of %llu", (unsigned long long)bad,
				 (unsigned long long)h->nentries);
		if (fix(fx, FIX_YES, "discard the slot",
			"undo log slot %u: %s %s, so the interrupted operation cannot be rolled "
			"back",
			s, what, why))
			fx_store8(fx, &h->nentries, 0);
		return;
	}
	(*pending)++;
	if (!clean) {
		/* What a crash leaves: no error, and what the next mount would do
		 * first.  -n rolls its private copy back so that the other
		 * checks see the pool as the mount will. */
		say(fx,
		    "undo log slot %u: an operation was interrupted by the unclean shutdown "
		    "(%llu ranges logged); %s",
		    s, (unsigned long long)h->nentries,
		    fx->persist ? "rolled back" : "the next mount rolls it back");
	} else if (!fix(fx, FIX_PREEN, "roll it back",
			"undo log slot %u: an operation was left open on a clean pool (%llu ranges "
			"logged)",
			s, (unsigned long long)h->nentries)) {
		return;
	}
	if (!roll_back(fx, base))
		warn(fx, "undo log slot %u: out of memory, not rolled back", s);
}

/* Transactions open together never log overlapping ranges, so the slots
 * can be rolled back in any order; index order is what a mount uses.  An
 * open operation is what a crash leaves on a pool not marked clean; on a
 * clean pool it is an error. */
void check_undo_log(struct fsck *fx)
{
	const struct daxfs_state *st = blk_addr(fx, DAXFS_STATE_BLOCK);
	/* The state word is never logged: the rollback cannot change it. */
	bool clean = st->magic == DAXFS_STATE_MAGIC && st->state == DAXFS_POOL_CLEAN;
	uint64_t pending = 0;

	for (unsigned s = 0; s < fx->sb.log_slots; s++)
		check_log_slot(fx, s, clean, &pending);
	note(fx, "undo log: %u slots, %llu interrupted operations", fx->sb.log_slots,
	     (unsigned long long)pending);
}

void check_state_block(struct fsck *fx)
{
	struct daxfs_state *st = blk_addr(fx, DAXFS_STATE_BLOCK);
	uint64_t state = st->state;

	if (st->magic != DAXFS_STATE_MAGIC &&
	    fix(fx, FIX_YES, "rewrite the magic", "state block: bad magic %#llx",
		(unsigned long long)st->magic))
		fx_store8(fx, &st->magic, DAXFS_STATE_MAGIC);
	if (state != DAXFS_POOL_CLEAN && state != DAXFS_POOL_MOUNTED) {
		/* Unknown is not clean: the next mount must run its recovery. */
		if (fix(fx, FIX_YES, "set it to MOUNTED so that the next mount recovers",
			"state block: state %llu is neither CLEAN (1) nor MOUNTED (2)",
			(unsigned long long)state))
			fx_store8(fx, &st->state, DAXFS_POOL_MOUNTED);
		state = DAXFS_POOL_MOUNTED;
	}
	fx->was_clean = state == DAXFS_POOL_CLEAN;
	note(fx, "state block: %s, mounted %llu times", fx->was_clean ? "clean" : "not clean",
	     (unsigned long long)st->mount_count);
}
