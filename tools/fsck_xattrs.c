/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes (docs/format.md §18): each inode's xattr map word, the
 * blocks it reaches and the record stream they hold.  A set that is damaged
 * in any way is dropped whole: its records cannot be trusted one by one, and
 * the daemon never reads a partial set either.
 */
#include <stdlib.h>
#include <string.h>

#include "../pmem/crc32c.h"
#include "fsck.h"

#define MAX_XBLOCKS (DAXFS_XATTR_MAX_BYTES / DAXFS_BLOCK_SIZE)
#define HDR	    sizeof(struct daxfs_xattr_header)
#define ENT	    sizeof(struct daxfs_xattr_entry)

/* The blocks of the map in stream order, the index block last; NULL with a
 * reason when a pointer is wrong.  Nothing is marked yet. */
static const char *xattr_blocks(struct fsck *fx, uint64_t word, uint64_t *blk, size_t *n,
				size_t *ndata)
{
	uint64_t root = DAXFS_MAP_ROOT(word);
	unsigned h = DAXFS_MAP_HEIGHT(word);

	*n = *ndata = 0;
	if (h > 1)
		return "map height above 1";
	if (!is_data_block(fx, root))
		return "root block out of range";
	if (h == 0) {
		blk[(*n)++] = root;
		*ndata = 1;
		return NULL;
	}
	const uint64_t *slots = blk_addr(fx, root);
	size_t i = 0;
	for (; i < DAXFS_PTRS_PER_BLOCK && slots[i]; i++) {
		if (i >= MAX_XBLOCKS)
			return "more blocks than the size limit allows";
		if (!is_data_block(fx, slots[i]))
			return "block pointer out of range";
		blk[(*n)++] = slots[i];
	}
	for (size_t j = i; j < DAXFS_PTRS_PER_BLOCK; j++)
		if (slots[j])
			return "hole in the index block";
	if (i == 0)
		return "empty index block";
	*ndata = *n;
	blk[(*n)++] = root;
	return NULL;
}

static const char *check_stream(struct fsck *fx, const uint64_t *blk, size_t ndata)
{
	const struct daxfs_xattr_header *h = blk_addr(fx, blk[0]);
	uint32_t len = h->len;

	if (h->magic != DAXFS_XATTR_MAGIC)
		return "bad magic";
	if (len < HDR || len > DAXFS_XATTR_MAX_BYTES || len > ndata * DAXFS_BLOCK_SIZE ||
	    len <= (ndata - 1) * DAXFS_BLOCK_SIZE)
		return "stream length does not match its blocks";
	char *buf = malloc(len);
	if (!buf)
		out_of_memory();
	for (size_t i = 0, off = 0; off < len; i++, off += DAXFS_BLOCK_SIZE)
		memcpy(buf + off, blk_addr(fx, blk[i]),
		       len - off < DAXFS_BLOCK_SIZE ? len - off : DAXFS_BLOCK_SIZE);
	const char *why = NULL;
	if (h->crc != crc32c(0, buf + HDR, len - HDR))
		why = "checksum mismatch";
	size_t off = HDR;
	for (uint32_t i = 0; !why && i < h->count; i++) {
		struct daxfs_xattr_entry e;
		if (len - off < ENT) {
			why = "record past the end";
			break;
		}
		memcpy(&e, buf + off, ENT);
		size_t rl = (ENT + e.name_len + e.value_len + 7) & ~(size_t)7;
		if (e.name_len == 0 || e.name_len > DAXFS_XATTR_NAME_MAX ||
		    e.value_len > DAXFS_XATTR_VALUE_MAX)
			why = "record with a bad name or value length";
		else if (rl > len - off)
			why = "record past the end";
		else if (memchr(buf + off + ENT, 0, e.name_len))
			why = "name with a NUL byte";
		off += rl;
	}
	if (!why && off != len)
		why = "records do not fill the stream";
	free(buf);
	return why;
}

uint64_t check_xattrs(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di, bool *dropped)
{
	uint64_t blk[MAX_XBLOCKS + 1], word = di->xattr;
	size_t n, ndata;
	const char *why;

	*dropped = false;
	if (!word)
		return 0;
	if (!(fx->sb.feature_ro_compat & DAXFS_FEATURE_RO_COMPAT_XATTR))
		why = "the pool lacks the xattr feature";
	else if (!(why = xattr_blocks(fx, word, blk, &n, &ndata))) {
		for (size_t i = 0; i < n && !why; i++) {
			if (bit_test(fx->reach, blk[i] - fx->sb.data_start))
				why = "a block is owned twice";
			for (size_t j = 0; j < i && !why; j++)
				if (blk[j] == blk[i])
					why = "a block is owned twice";
		}
		if (!why)
			why = check_stream(fx, blk, ndata);
	}
	if (!why) {
		for (size_t i = 0; i < n; i++)
			bit_set(fx->reach, blk[i] - fx->sb.data_start);
		fx->n_xattr_blocks += n;
		return n;
	}
	/* Blocks someone else reached stay theirs; the rest become free. */
	release_xattrs(fx, di, false);
	if (fix(fx, FIX_YES, "drop the attributes",
		"inode %llu: extended attributes (map %#llx) are damaged: %s",
		(unsigned long long)ino, (unsigned long long)word, why)) {
		fx_store8(fx, &di->xattr, 0);
		*dropped = true;
	}
	return 0;
}

void release_xattrs(struct fsck *fx, struct daxfs_dinode *di, bool walked)
{
	uint64_t blk[MAX_XBLOCKS + 1];
	size_t n, ndata;

	if (!di->xattr)
		return;
	/* A map too damaged to list gives up what it can still name. */
	xattr_blocks(fx, di->xattr, blk, &n, &ndata);
	if (!n && is_data_block(fx, DAXFS_MAP_ROOT(di->xattr)))
		blk[n++] = DAXFS_MAP_ROOT(di->xattr);
	for (size_t i = 0; i < n; i++) {
		uint64_t pfn = blk[i] - fx->sb.data_start;
		if (walked) {
			bit_clear(fx->reach, pfn);
			bit_set(fx->released, pfn);
		} else if (!bit_test(fx->reach, pfn)) {
			bit_set(fx->released, pfn);
		}
	}
}
