/*
 * SPDX-License-Identifier: MIT
 *
 * Promela model of the daxfs block reference protocol: lock-free readers
 * that walk a file's block map (an index block, read without a reference)
 * and take a reference on the data block ("pfn") it points to, racing with
 * truncate, which unmaps the block and frees it, and with the allocator,
 * which may hand the freed block to another file (or back to the same one).
 * See README.md beside this file; run-model.sh checks it.
 *
 * Variants, chosen with -D on the spin command line:
 *   (none)       the implemented order: untrack -> wait for refs == 0 ->
 *                free the data block; the emptied index block is handed to
 *                call_rcu and freed after a grace period.  Expected: no
 *                errors.
 *   REVERSED     wait for refs == 0 while the block is still TRACKED, then
 *                untrack, free.  Expected: a reference slips in between the
 *                wait and the free (assertion at the free step).
 *   NO_RECHECK   the reader does not re-check the map after try-get.
 *   NO_INDEX_GP  the index block is freed at once, without a grace period.
 *   DATA_GP      a grace period also before the wait for the data block
 *                (the previous implementation).
 *
 * The model assumes sequential consistency: every statement is one atomic,
 * globally visible step.  The C code must supply the ordering that makes
 * this true (RCU primitives, atomic RMW on refs/state, release/acquire on the
 * map slot).
 */
#ifndef NREADERS
#define NREADERS 2	/* reader processes, all reading file 0 */
#endif
#ifndef NREADS
#define NREADS 2	/* lookups per reader: before, during and after truncate */
#endif
#ifndef NALLOCS
#define NALLOCS 2	/* allocations (writes into holes) the allocator does */
#endif

#define NPFN	2	/* pfns are 1..NPFN; 0 is the null pointer in a map slot */
#define NFILES	2	/* file 0 is truncated; file 1 can receive its block */
#define NNODES	3	/* index blocks 1..NNODES; 0: a file with an empty map */
#define NOFILE	255	/* owner of a free pfn */
#define RFILE	0	/* the file the readers read and the remover truncates */

mtype = { FREE, ALLOCATED, TRACKED, UNTRACKED };

mtype state[NPFN + 1];	/* per-pfn entry: state ... */
byte refs[NPFN + 1];	/* ... reference count (busy: > 0, idle: == 0) ... */
byte owner[NPFN + 1];	/* ... and the file it belongs to (for the assertion) */
byte root[NFILES];	/* each file's map word: an index block, or 0 */
byte ixslot[NNODES + 1];	/* the one slot of each index block: a pfn or 0 */
bool ixfreed[NNODES + 1];	/* index block given back to the allocator */
bool in_cs[NREADERS];	/* reader i is inside an RCU read-side critical section */

/* The safety invariant, checked at the free step and by the monitor. */
#define FREE_WITH_REFS(q)	(state[q] == FREE && refs[q] > 0)
#define INVARIANT		(!FREE_WITH_REFS(1) && !FREE_WITH_REFS(2))

/*
 * synchronize_rcu(): for each reader in turn, block until it is seen outside
 * its critical section.  A reader seen inside when the grace period starts
 * is waited for; a reader that enters later started its critical section
 * after the untrack step, so (under sequential consistency) it cannot load
 * the old pointer.  Seeing each reader outside once is exactly the RCU
 * guarantee: every critical section that began before the grace period has
 * ended when it returns.
 */
inline synchronize_rcu()
{
	i = 0;
	do
	:: i < NREADERS -> !in_cs[i]; i++
	:: else -> break
	od;
	i = 0	/* keep the state vector canonical */
}

/* Looks the file's block up: load the map word, then read the slot of the
 * index block it names.  The index block is read without a reference, so it
 * must not have been freed (its memory may be another file's data by now). */
inline lookup(x, p)
{
	x = root[RFILE];
	if
	:: x == 0 -> p = 0
	:: else ->
		atomic { assert(!ixfreed[x]); p = ixslot[x] }
	fi
}

/* call_rcu(free index block x): the callback runs after a grace period. */
proctype index_free_cb(byte x)
{
	byte i;

#ifndef NO_INDEX_GP
	synchronize_rcu();
#endif
	ixfreed[x] = true
}

proctype reader(byte id)
{
	byte n, p, x, q;
	bool got;

	do
	:: n == NREADS -> break
	:: n < NREADS ->
		n++;
		in_cs[id] = true;		/* rcu_read_lock() */
retry:
		lookup(x, p);
		if
		:: p == 0 ->			/* a hole: nothing to reference */
			in_cs[id] = false;
			goto next
		:: else
		fi;

		/* try-get: one CAS, refs++ only while the entry is TRACKED */
		atomic {
			if
			:: state[p] == TRACKED -> refs[p]++; got = true
			:: else -> got = false
			fi
		}
		if
		:: !got -> goto retry		/* being removed (or freed): reload */
		:: else
		fi;
#ifndef NO_RECHECK
		/* The map may have changed between the load and the get: the
		 * reference may be on a block that is no longer ours. */
		lookup(x, q);
		if
		:: q != p -> refs[p]--; goto retry
		:: else
		fi;
#endif
		in_cs[id] = false;		/* rcu_read_unlock() */

		/* use the block under the reference */
		assert(state[p] != FREE && owner[p] == RFILE);

		refs[p]--;			/* put */
next:
		p = 0; q = 0; x = 0; got = false
	od
}

/* Untrack: unpublish the pointer (the emptied index block leaves the map
 * too), then mark the entry so try-get fails. */
inline untrack()
{
	ixslot[x] = 0;
	root[RFILE] = 0;
	state[p] = UNTRACKED
}

/* truncate of file 0's only block */
proctype remover()
{
	byte p, x, i;

	x = root[RFILE];
	p = ixslot[x];
	assert(p != 0);
	skip;				/* (1) break layouts: nothing to model */
#ifndef REVERSED
	untrack();			/* (2) */
	run index_free_cb(x);		/* call_rcu: the index block after a grace period */
#ifdef DATA_GP
	synchronize_rcu();
#endif
	refs[p] == 0;			/* (3) wait until idle (at once if idle already) */
#else
	/* wait for idle first, with nothing that stops new lookups */
	refs[p] == 0;
	untrack();
	run index_free_cb(x);
#endif
	/* (4) free: the check is a separate step from the wait above, so any
	 * reference taken after the wait is caught here. */
	atomic {
		assert(refs[p] == 0);
		owner[p] = NOFILE;
		state[p] = FREE
	}
}

/*
 * Writes into holes: take any FREE pfn and put it in any file whose slot is
 * empty, so a freed block can go to file 1 or back to file 0 (whose map then
 * gets a new index block, 3).  The entry is TRACKED before the pointer is
 * published.
 */
proctype allocator()
{
	byte k, q, f, x;

	do
	:: k == NALLOCS -> break
	:: else ->
end:		/* blocking here for want of a free pfn or a hole is fine */
		atomic {
			if
			:: state[1] == FREE && (root[0] == 0 || ixslot[root[0]] == 0) -> q = 1; f = 0
			:: state[1] == FREE && ixslot[root[1]] == 0 -> q = 1; f = 1
			:: state[2] == FREE && (root[0] == 0 || ixslot[root[0]] == 0) -> q = 2; f = 0
			:: state[2] == FREE && ixslot[root[1]] == 0 -> q = 2; f = 1
			fi;
			owner[q] = f;
			state[q] = ALLOCATED
		}
		state[q] = TRACKED;
		x = root[f];
		if
		:: x == 0 -> ixslot[3] = q; root[f] = 3	/* new index block, then publish */
		:: else -> ixslot[x] = q			/* publish */
		fi;
		k++;
		q = 0; f = 0; x = 0
	od
}

/* Checks the invariant in every reachable state: it is always enabled, so
 * the search runs it from each state. */
active proctype monitor()
{
	assert(INVARIANT)
}

init
{
	byte r;

	atomic {
		/* file 0 holds pfn 1 through index block 1; pfn 2 is free;
		 * file 1 has index block 2 with a hole */
		state[1] = TRACKED; owner[1] = RFILE; root[RFILE] = 1; ixslot[1] = 1;
		state[2] = FREE; owner[2] = NOFILE;
		root[1] = 2;
		for (r : 0 .. NREADERS - 1) {
			run reader(r)
		}
		run remover();
		run allocator();
		r = 0
	}
}
