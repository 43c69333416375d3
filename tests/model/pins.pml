/*
 * SPDX-License-Identifier: MIT
 *
 * Promela model of daxfs pins with copy-on-write: a device holding a WRITE
 * pin and one holding a READ|STABLE pin on the same file block, a write()
 * that bounces the block when it is under a STABLE pin (fs/stable_pages.c:
 * copy, swap the map, layout_retire the old block), a truncate that
 * recalls the pins and removes the block (fs/layout_break.c: recall,
 * untrack, then wait for idle or leave it to the deferred queue), and the
 * last put of a pin or a reference, which frees a deferred block.  See
 * README.md beside this file; run-model.sh pins checks it.
 *
 * Safety, asserted where it matters and by the monitor:
 *   - no FREE block has references or pins;
 *   - a block is only freed once, UNTRACKED and idle;
 *   - a pin's block is never freed or reused while pinned (its state is not
 *     FREE and its allocation generation has not moved);
 *   - a STABLE pin's block content does not change;
 *   - no store a device makes through its WRITE pin is lost unless the pin
 *     was recalled: right after each store the file's block carries it, or
 *     the pin has been recalled.
 *
 * Variants, chosen with -D on the spin command line:
 *   (none)        the implemented protocol: WRITE and STABLE pins never
 *                 share a block (the second is refused, EBUSY), so a bounce
 *                 never meets a WRITE pin; the deferred free decides
 *                 "idle now" and "leave it to the last put" in one atomic
 *                 step on the pfn word (pfn_defer).  Expected: no errors.
 *   NO_EXCLUSION  both pins are granted and the bounce does not recall the
 *                 WRITE pin (the code before the exclusion).  Expected: a
 *                 store through the WRITE pin lands in the retired block.
 *   DEFER_RACE    the remover sets the deferred flag, then checks for idle
 *                 as a separate step.  Expected: the last put frees the
 *                 block between the two and the remover frees it again.
 *
 * As blockref.pml, the model assumes sequential consistency; the pfn word's
 * atomic read-modify-writes (fs/pfn_table.h) are the atomic blocks here.
 * The inode lock is `ilock`; pins are taken and blocks bounced under it.
 */
#ifndef NSTORES
#define NSTORES 2	/* stores the WRITE device makes */
#endif
#ifndef NWRITES
#define NWRITES 2	/* write() calls */
#endif

#define NPFN	3	/* pfns 1..NPFN; 0 is a hole in the map */
#define DEVW	0	/* pin registry slots: the WRITE device ... */
#define DEVS	1	/* ... and the STABLE one */

mtype = { FREE, TRACKED, UNTRACKED };

mtype state[NPFN + 1];
byte refs[NPFN + 1], pins[NPFN + 1];
byte stable[NPFN + 1], writers[NPFN + 1];	/* pins of each kind */
bool deferred[NPFN + 1];	/* left to the last put */
byte gen[NPFN + 1];		/* bumped at every allocation: reuse shows */
byte dpart[NPFN + 1];		/* content: what the WRITE device stores ... */
byte wpart[NPFN + 1];		/* ... and what write() changes */
byte map;			/* the file's one block: a pfn, or 0 */
bool ilock;
bool pinned[2], recalled[2];

inline lock()
{
	atomic { !ilock -> ilock = true }
}

inline unlock()
{
	ilock = false
}

/* UNTRACKED and idle to FREE, once. */
inline free_pfn(q)
{
	atomic {
		assert(state[q] == UNTRACKED && refs[q] == 0 && pins[q] == 0);
		state[q] = FREE;
		deferred[q] = false
	}
}

/* The last put of a deferred block frees it (pfn_put / pfn_unpin). */
inline last_put_frees(q)
{
	if
	:: state[q] == UNTRACKED && deferred[q] && refs[q] == 0 && pins[q] == 0 ->
		state[q] = FREE;
		deferred[q] = false
	:: else
	fi
}

inline put_ref(q)
{
	atomic { refs[q]--; last_put_frees(q) }
}

inline put_pin(q)
{
	atomic { pins[q]--; last_put_frees(q) }
}

/* A busy UNTRACKED block goes to its last put; an idle one is freed here. */
inline defer(q)
{
#ifndef DEFER_RACE
	atomic {
		if
		:: refs[q] == 0 && pins[q] == 0 -> idle = true
		:: else -> deferred[q] = true; idle = false
		fi
	}
	if
	:: idle -> free_pfn(q)
	:: else
	fi
#else
	deferred[q] = true;
	if
	:: refs[q] == 0 && pins[q] == 0 -> free_pfn(q)
	:: else
	fi
#endif
}

/* layout_retire: untrack (the word says whether it was idle), then free
 * or defer. */
inline retire(q)
{
	atomic { state[q] = UNTRACKED; idle = refs[q] == 0 && pins[q] == 0 };
	if
	:: idle -> free_pfn(q)
	:: else -> defer(q)
	fi
}

/* Any FREE pfn, zeroed, TRACKED before anything can find it. */
inline alloc(q)
{
	atomic {
		if
		:: state[1] == FREE -> q = 1
		:: state[2] == FREE -> q = 2
		:: state[3] == FREE -> q = 3
		fi;
		state[q] = TRACKED;
		gen[q]++;
		dpart[q] = 0;
		wpart[q] = 0
	}
}

proctype device_write()
{
	byte p, g, s;

	lock();
	p = map;
	if
	:: p == 0 -> unlock(); goto done
	:: else
	fi;
#ifndef NO_EXCLUSION
	if
	:: stable[p] > 0 -> unlock(); goto done	/* EBUSY */
	:: else
	fi;
#endif
	atomic { writers[p]++; pins[p]++; pinned[DEVW] = true };
	g = gen[p];
	unlock();
	do
	:: s == NSTORES -> break
	:: s < NSTORES && recalled[DEVW] -> break	/* a device stops at the recall */
	:: s < NSTORES && !recalled[DEVW] ->
		s++;
		atomic {
			assert(state[p] != FREE && gen[p] == g);
			dpart[p] = s
		};
		/* the store is the file's data, unless the pin was recalled */
		assert(recalled[DEVW] || (map != 0 && dpart[map] == s))
	od;
	atomic { writers[p]--; pinned[DEVW] = false };
	put_pin(p);
done:
	skip
}

proctype device_stable()
{
	byte p, g, d, w, n;

	lock();
	p = map;
	if
	:: p == 0 -> unlock(); goto done
	:: else
	fi;
#ifndef NO_EXCLUSION
	if
	:: writers[p] > 0 -> unlock(); goto done	/* EBUSY */
	:: else
	fi;
#endif
	atomic { stable[p]++; pins[p]++; pinned[DEVS] = true };
	g = gen[p];
	d = dpart[p];
	w = wpart[p];
	unlock();
	do
	:: n == 2 -> break
	:: n < 2 ->
		n++;
		atomic {
			assert(state[p] != FREE && gen[p] == g);
			assert(wpart[p] == w);
#ifndef NO_EXCLUSION
			assert(dpart[p] == d)
#endif
		}
	od;
	atomic { stable[p]--; pinned[DEVS] = false };
	put_pin(p);
done:
	skip
}

/* write(): changes wpart of the file's block in place, or bounces it
 * first when it is under a STABLE pin; a hole gets a fresh block. */
proctype writer()
{
	byte k, p, q;
	bool idle;

	do
	:: k == NWRITES -> break
	:: k < NWRITES ->
		k++;
		lock();
		p = map;
		if
		:: p == 0 ->
			alloc(q);
			wpart[q] = k;
			map = q
		:: else ->
			refs[p]++;	/* tracked and mapped, under the inode lock */
			if
			:: pins[p] > 0 && stable[p] > 0 ->
				alloc(q);
				atomic { dpart[q] = dpart[p]; wpart[q] = wpart[p] };	/* copy */
				refs[q]++;
				map = q;
				put_ref(p);
				retire(p);
				p = q
			:: else
			fi;
			atomic { assert(state[p] == TRACKED); wpart[p] = k };
			put_ref(p)
		fi;
		unlock();
		p = 0; q = 0; idle = false
	od
}

/* truncate to 0: recall, untrack, then wait for idle (sync) or, busy,
 * leave the block to its last put (deferred, or the wait timed out). */
proctype truncater()
{
	byte p;
	bool idle;

	lock();
	p = map;
	if
	:: p == 0 -> unlock(); goto done
	:: else
	fi;
	atomic {
		recalled[DEVW] = pinned[DEVW];
		recalled[DEVS] = pinned[DEVS]
	};
	map = 0;
	atomic { state[p] = UNTRACKED; idle = refs[p] == 0 && pins[p] == 0 };
	if
	:: idle -> free_pfn(p)
	:: !idle ->
		if
		:: unlock(); (refs[p] == 0 && pins[p] == 0); lock(); free_pfn(p)
		:: defer(p)
		fi
	fi;
	unlock();
done:
	skip
}

active proctype monitor()
{
	assert((state[1] != FREE || (refs[1] == 0 && pins[1] == 0)) &&
	       (state[2] != FREE || (refs[2] == 0 && pins[2] == 0)) &&
	       (state[3] != FREE || (refs[3] == 0 && pins[3] == 0)))
}

init
{
	atomic {
		state[1] = TRACKED; gen[1] = 1; map = 1;
		state[2] = FREE;
		state[3] = FREE;
		run device_write();
		run device_stable();
		run writer();
		run truncater()
	}
}
