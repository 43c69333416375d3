/* SPDX-License-Identifier: MIT */
/* Findings, the repair policy of -n/-p/-y, persisted stores and progress. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck.h"

/* The probe pass keeps its output: it is shown only if -p stops there. */
static void emit(struct fsck *fx, const char *line)
{
	size_t len = strlen(line);

	if (fx->quiet)
		return;
	if (!fx->probe) {
		fputs(line, stdout);
		return;
	}
	if (fx->out_len + len + 1 > fx->out_cap) {
		size_t cap = (fx->out_cap ? fx->out_cap * 2 : 4096) + len;
		char *n = realloc(fx->out, cap);
		if (!n) {
			/* Losing the text loses nothing the second run would not
			 * print again. */
			return;
		}
		fx->out = n;
		fx->out_cap = cap;
	}
	memcpy(fx->out + fx->out_len, line, len + 1);
	fx->out_len += len;
}

static void vemit(struct fsck *fx, const char *prefix, const char *suffix, const char *fmt,
		  va_list ap)
{
	char msg[1024];
	char line[1280];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(line, sizeof(line), "%s%s%s\n", prefix, msg, suffix);
	emit(fx, line);
}

void say(struct fsck *fx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(fx, "", "", fmt, ap);
	va_end(ap);
}

void note(struct fsck *fx, const char *fmt, ...)
{
	va_list ap;

	if (!fx->verbose)
		return;
	va_start(ap, fmt);
	vemit(fx, "", "", fmt, ap);
	va_end(ap);
}

void warn(struct fsck *fx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(fx, "warning: ", "", fmt, ap);
	va_end(ap);
}

bool fix(struct fsck *fx, enum fix_class cls, const char *action, const char *fmt, ...)
{
	char suffix[160];
	va_list ap;
	bool apply;

	fx->found++;
	if (fx->mode == MODE_CHECK) {
		snprintf(suffix, sizeof(suffix), "; %s? no", action);
		apply = true; /* to the private copy: later phases see the repair */
	} else if (fx->mode == MODE_PREEN && cls == FIX_YES) {
		fx->needs_yes = true;
		snprintf(suffix, sizeof(suffix), "; %s? no (needs fsck.daxfs -y)", action);
		/* A probe repairs its private copy; a real -p pass never makes a
		 * repair that needs -y. */
		apply = fx->probe;
	} else if (fx->probe) {
		snprintf(suffix, sizeof(suffix), "; %s? no", action);
		apply = true;
	} else {
		snprintf(suffix, sizeof(suffix), "; %s? yes", action);
		fx->fixed++;
		apply = true;
	}
	va_start(ap, fmt);
	vemit(fx, "", suffix, fmt, ap);
	va_end(ap);
	return apply;
}

void unfixable(struct fsck *fx, const char *fmt, ...)
{
	va_list ap;

	fx->found++;
	fx->needs_yes = true;
	va_start(ap, fmt);
	vemit(fx, "", " (cannot be repaired)", fmt, ap);
	va_end(ap);
}

void out_of_memory(void)
{
	fprintf(stderr, "fsck.daxfs: out of memory\n");
	exit(FSCK_OPERATIONAL);
}

/* Large pools only, and only on a terminal: one line redrawn in place. */
static int last_pct = -1;

void progress(struct fsck *fx, const char *phase, uint64_t done, uint64_t total)
{
	if (!fx->tty || total < 65536)
		return;
	int pct = (int)(done * 100 / total);
	if (pct == last_pct)
		return;
	last_pct = pct;
	fprintf(stderr, "\rfsck.daxfs: %s %3d%%", phase, pct);
	fflush(stderr);
}

void progress_end(struct fsck *fx)
{
	if (last_pct < 0)
		return;
	(void)fx;
	fprintf(stderr, "\r%*s\r", 40, "");
	fflush(stderr);
	last_pct = -1;
}

/* Stores go to the mapping whenever it is writable (the pool, or -n's
 * private copy); only the pool itself needs them persisted. */
void fx_store8(struct fsck *fx, void *addr, uint64_t v)
{
	if (!fx->writable)
		return;
	__atomic_store_n((uint64_t *)addr, v, __ATOMIC_RELEASE);
	if (fx->persist)
		pool_persist(&fx->pool, addr, 8);
}

void fx_store4(struct fsck *fx, void *addr, uint32_t v)
{
	if (!fx->writable)
		return;
	__atomic_store_n((uint32_t *)addr, v, __ATOMIC_RELEASE);
	if (fx->persist)
		pool_persist(&fx->pool, addr, 4);
}

void fx_memcpy(struct fsck *fx, void *dst, const void *src, size_t len)
{
	if (!fx->writable)
		return;
	if (fx->persist)
		pool_memcpy_persist(&fx->pool, dst, src, len);
	else
		memmove(dst, src, len);
}

void fx_memset(struct fsck *fx, void *dst, int c, size_t len)
{
	if (!fx->writable)
		return;
	if (fx->persist)
		pool_memset_persist(&fx->pool, dst, c, len);
	else
		memset(dst, c, len);
}
