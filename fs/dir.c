/* SPDX-License-Identifier: MIT */
#include "dir.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/rculfhash.h>

#include "block_map.h"
#include "fault.h"
#include "inode.h"
#include "layout_break.h"

_Atomic int daxfs_fault_nomem_at;

struct dir_node {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	uint64_t slot;
	uint64_t ino;
	unsigned char type;
	uint16_t len;
	char name[];
};

struct dir_index {
	struct cds_lfht *ht;
	uint64_t nslots; /* slots in the directory's blocks */
	uint64_t nentries;
	uint64_t *free_slots; /* a stack */
	uint64_t nfree, free_cap;
};

static uint64_t name_hash(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
	return h;
}

struct name_key {
	const char *name;
	size_t len;
};

static int match_name(struct cds_lfht_node *node, const void *key)
{
	const struct dir_node *dn = caa_container_of(node, struct dir_node, node);
	const struct name_key *k = key;

	return dn->len == k->len && memcmp(dn->name, k->name, k->len) == 0;
}

static struct daxfs_dirent *slot_addr(struct daxfs *fs, struct inode_mem *dir, uint64_t slot)
{
	uint64_t blk = bmap_lookup(fs, dir->di, slot / DAXFS_DIRENTS_PER_BLOCK);

	if (!blk)
		return NULL;
	return (struct daxfs_dirent *)pool_block(&fs->pool, blk) + slot % DAXFS_DIRENTS_PER_BLOCK;
}

/* Makes room for n more free slots, so that pushing them cannot fail. */
static int reserve_free(struct dir_index *ix, uint64_t n)
{
	if (ix->nfree + n <= ix->free_cap)
		return 0;
	uint64_t cap = ix->free_cap ? ix->free_cap * 2 : 64;
	while (cap < ix->nfree + n)
		cap *= 2;
	uint64_t *p = fault_nomem() ? NULL : realloc(ix->free_slots, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	ix->free_slots = p;
	ix->free_cap = cap;
	return 0;
}

static int push_free(struct dir_index *ix, uint64_t slot)
{
	int rc = reserve_free(ix, 1);

	if (!rc)
		ix->free_slots[ix->nfree++] = slot;
	return rc;
}

static struct dir_node *node_new(const char *name, size_t len, uint64_t ino, unsigned char type)
{
	struct dir_node *dn = fault_nomem() ? NULL : malloc(sizeof(*dn) + len + 1);

	if (!dn)
		return NULL;
	cds_lfht_node_init(&dn->node);
	dn->ino = ino;
	dn->type = type;
	dn->len = (uint16_t)len;
	memcpy(dn->name, name, len);
	dn->name[len] = 0;
	return dn;
}

static void node_add(struct dir_index *ix, struct dir_node *dn, uint64_t slot)
{
	dn->slot = slot;
	rcu_read_lock();
	cds_lfht_add(ix->ht, name_hash(dn->name, dn->len), &dn->node);
	rcu_read_unlock();
	ix->nentries++;
}

static int index_insert(struct dir_index *ix, const char *name, size_t len, uint64_t ino,
			uint64_t slot, unsigned char type)
{
	struct dir_node *dn = node_new(name, len, ino, type);

	if (!dn)
		return -ENOMEM;
	node_add(ix, dn, slot);
	return 0;
}

static void free_node_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct dir_node, rcu));
}

static void index_destroy(struct dir_index *ix)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	if (ix->ht) {
		/* Not cds_lfht_for_each_entry: at the end of the table it
		 * computes the container of a NULL node, which is undefined
		 * (UBSan reports it). */
		rcu_read_lock();
		for (cds_lfht_first(ix->ht, &it); (n = cds_lfht_iter_get_node(&it));
		     cds_lfht_next(ix->ht, &it)) {
			struct dir_node *dn = caa_container_of(n, struct dir_node, node);
			cds_lfht_del(ix->ht, &dn->node);
			call_rcu(&dn->rcu, free_node_rcu);
		}
		rcu_read_unlock();
		cds_lfht_destroy(ix->ht, NULL);
	}
	free(ix->free_slots);
	free(ix);
}

void dir_index_free(struct inode_mem *dir)
{
	struct dir_index *ix = atomic_exchange(&dir->dir, NULL);

	if (ix)
		index_destroy(ix);
}

/* Entries with a bad name or a target that is not a live inode are skipped
 * (fsck reports and repairs them); their slots are never reused.  So is an
 * entry naming its own directory: every operation on it (readdirplus,
 * unlink, rmdir, rename) would take the directory's lock a second time and
 * hang the thread. */
static bool entry_usable(struct daxfs *fs, const struct inode_mem *dir, uint64_t ino,
			 uint16_t name_len)
{
	return name_len && name_len <= DAXFS_NAME_MAX && ino < fs->inode_count && ino != dir->ino &&
	       dinode(fs, ino)->mode;
}

static int build_index(struct daxfs *fs, struct inode_mem *dir, struct dir_index *ix)
{
	uint64_t nblocks = dir->di->size / DAXFS_BLOCK_SIZE;

	ix->nslots = nblocks * DAXFS_DIRENTS_PER_BLOCK;
	for (uint64_t s = ix->nslots; s-- > 0;) {
		struct daxfs_dirent *de = slot_addr(fs, dir, s);
		int rc = 0;
		if (!de || !de->ino) {
			if (de)
				rc = push_free(ix, s);
		} else if (entry_usable(fs, dir, de->ino, de->name_len)) {
			rc = index_insert(ix, de->name, de->name_len, de->ino, s, de->type);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static struct dir_index *index_of(struct daxfs *fs, struct inode_mem *dir)
{
	struct dir_index *ix = atomic_load_explicit(&dir->dir, memory_order_acquire);

	if (ix)
		return ix;
	pthread_mutex_lock(&dir->dir_build_lock);
	ix = atomic_load(&dir->dir);
	if (!ix) {
		ix = calloc(1, sizeof(*ix));
		if (ix) {
			ix->ht = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
					      NULL);
			if (!ix->ht || build_index(fs, dir, ix)) {
				index_destroy(ix);
				ix = NULL;
			} else {
				atomic_store_explicit(&dir->dir, ix, memory_order_release);
			}
		}
	}
	pthread_mutex_unlock(&dir->dir_build_lock);
	return ix;
}

static struct dir_node *find(struct dir_index *ix, const char *name)
{
	struct name_key k = { name, strlen(name) };
	struct cds_lfht_iter it;

	cds_lfht_lookup(ix->ht, name_hash(k.name, k.len), match_name, &k, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct dir_node, node) : NULL;
}

int dir_lookup(struct daxfs *fs, struct inode_mem *dir, const char *name,
	       struct dir_entry_ref *out)
{
	struct dir_index *ix = index_of(fs, dir);
	int rc = -ENOENT;

	if (!ix)
		return -ENOMEM;
	rcu_read_lock();
	struct dir_node *dn = find(ix, name);
	if (dn) {
		out->ino = dn->ino;
		out->slot = dn->slot;
		out->type = dn->type;
		rc = 0;
	}
	rcu_read_unlock();
	return rc;
}

/* Adds a zeroed block to the directory.  Nothing in it can fail once the
 * block is in the map: the caller reserved room for its free slots, so the
 * DRAM index changes only when the persistent change is complete, and the
 * caller's transaction (which logged the directory's inode) commits. */
static int grow_dir(struct daxfs *fs, struct inode_mem *dir, struct dir_index *ix)
{
	uint64_t index = dir->di->size / DAXFS_BLOCK_SIZE, blk;
	int rc = fs_block_alloc(fs, &blk);

	if (rc)
		return rc;
	pool_memset_persist(&fs->pool, pool_block(&fs->pool, blk), 0, DAXFS_BLOCK_SIZE);
	/* Tracked before it is reachable, as file blocks are (publish()). */
	pfn_transition(fs_pfns(fs), blk - fs->alloc.data_start, PFN_ALLOCATED, PFN_TRACKED,
		       pfn_owner(dir->ino, index), dir->di->generation);
	rc = bmap_set(fs, dir->di, index, blk);
	if (rc) {
		layout_retire(fs, blk);
		return rc;
	}
	pool_store8(&fs->pool, &dir->di->blocks, dir->di->blocks + 1);
	pool_store8(&fs->pool, &dir->di->size, dir->di->size + DAXFS_BLOCK_SIZE);
	for (uint64_t s = DAXFS_DIRENTS_PER_BLOCK; s-- > 0;)
		ix->free_slots[ix->nfree++] = index * DAXFS_DIRENTS_PER_BLOCK + s;
	ix->nslots += DAXFS_DIRENTS_PER_BLOCK;
	return 0;
}

/* Every step that can fail comes before the first change, so that a
 * failure leaves the pool and the DRAM index as they were. */
int dir_add(struct daxfs *fs, struct tx *tx, struct inode_mem *dir, const char *name,
	    uint64_t ino, unsigned char type)
{
	struct dir_index *ix = index_of(fs, dir);
	size_t len = strlen(name);
	int rc;

	if (!ix)
		return -ENOMEM;
	struct dir_node *dn = node_new(name, len, ino, type);
	if (!dn)
		return -ENOMEM;
	if (!ix->nfree && ((rc = reserve_free(ix, DAXFS_DIRENTS_PER_BLOCK)) ||
			   (rc = grow_dir(fs, dir, ix)))) {
		free(dn);
		return rc;
	}
	uint64_t slot = ix->free_slots[--ix->nfree];
	struct daxfs_dirent *de = slot_addr(fs, dir, slot);
	de->name_len = (uint16_t)len;
	de->type = type;
	memcpy(de->name, name, len);
	/* Flushed only: tx_add below fences before de->ino is stored, so the
	 * name is durable before the entry is live. */
	pool_flush(&fs->pool, &de->name_len, offsetof(struct daxfs_dirent, name) - 8 + len);
	node_add(ix, dn, slot);
	tx_add(tx, &de->ino, 8);
	__atomic_store_n(&de->ino, ino, __ATOMIC_RELEASE);
	return 0;
}

int dir_remove(struct daxfs *fs, struct tx *tx, struct inode_mem *dir, const char *name,
	       struct dir_entry_ref *out)
{
	struct dir_index *ix = index_of(fs, dir);

	if (!ix)
		return -ENOMEM;
	rcu_read_lock();
	struct dir_node *dn = find(ix, name);
	if (!dn) {
		rcu_read_unlock();
		return -ENOENT;
	}
	out->ino = dn->ino;
	out->slot = dn->slot;
	out->type = dn->type;
	cds_lfht_del(ix->ht, &dn->node);
	rcu_read_unlock();
	call_rcu(&dn->rcu, free_node_rcu);
	ix->nentries--;
	struct daxfs_dirent *de = slot_addr(fs, dir, out->slot);
	tx_add(tx, &de->ino, 8);
	__atomic_store_n(&de->ino, 0, __ATOMIC_RELEASE);
	return 0;
}

void dir_release_slot(struct inode_mem *dir, uint64_t slot)
{
	struct dir_index *ix = atomic_load(&dir->dir);

	/* On allocation failure the slot is only lost until the next mount. */
	if (ix)
		push_free(ix, slot);
}

void dir_retarget(struct daxfs *fs, struct tx *tx, struct inode_mem *dir,
		  const struct dir_entry_ref *ent, const char *name, uint64_t ino,
		  unsigned char type)
{
	struct dir_index *ix = atomic_load(&dir->dir);
	struct daxfs_dirent *de = slot_addr(fs, dir, ent->slot);

	tx_add(tx, de, 16);
	de->ino = ino;
	de->type = type;
	rcu_read_lock();
	struct dir_node *dn = find(ix, name);
	if (dn) {
		dn->ino = ino;
		dn->type = type;
	}
	rcu_read_unlock();
}

uint64_t dir_count(struct daxfs *fs, struct inode_mem *dir)
{
	struct dir_index *ix = index_of(fs, dir);

	return ix ? ix->nentries : UINT64_MAX;
}

int dir_iterate(struct daxfs *fs, struct inode_mem *dir, uint64_t from,
		int (*fn)(void *ctx, const char *name, uint64_t ino, unsigned type, uint64_t slot),
		void *ctx)
{
	uint64_t nslots = dir->di->size / DAXFS_BLOCK_SIZE * DAXFS_DIRENTS_PER_BLOCK;
	char name[DAXFS_NAME_MAX + 1];

	for (uint64_t s = from; s < nslots; s++) {
		struct daxfs_dirent *de = slot_addr(fs, dir, s);
		if (!de) {
			s += DAXFS_DIRENTS_PER_BLOCK - 1 - s % DAXFS_DIRENTS_PER_BLOCK;
			continue;
		}
		uint64_t ino = __atomic_load_n(&de->ino, __ATOMIC_ACQUIRE);
		if (!ino || !entry_usable(fs, dir, ino, de->name_len))
			continue;
		memcpy(name, de->name, de->name_len);
		name[de->name_len] = 0;
		int rc = fn(ctx, name, ino, de->type, s);
		if (rc)
			return rc > 0 ? 0 : rc;
	}
	return 0;
}
