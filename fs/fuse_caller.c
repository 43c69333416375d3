/* SPDX-License-Identifier: MIT */
/* The caller of a request from /proc: see fuse_caller.h. */
#define FUSE_USE_VERSION 34
#include "fuse_caller.h"

#include <fuse_lowlevel.h>

#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "Groups:\t1 2 3" into cr->groups; a list that cannot be held is dropped
 * whole, so the caller counts as in fewer groups, never in more. */
static void parse_groups(const char *list, struct daxfs_cred *cr)
{
	size_t n = 0, cap = 0;
	gid_t *g = NULL;
	const char *p = list;
	char *end;

	for (;;) {
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			break;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			gid_t *ng = realloc(g, ncap * sizeof(*g));
			if (!ng) {
				free(g);
				return;
			}
			g = ng;
			cap = ncap;
		}
		g[n++] = (gid_t)v;
		p = end;
	}
	cr->groups = g;
	cr->ngroups = n;
}

void fuse_caller_cred(struct fuse_req *req, struct daxfs_cred *cr)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char path[48], *line = NULL;
	unsigned long long eff;
	size_t len = 0;
	FILE *f;

	*cr = (struct daxfs_cred){.uid = ctx->uid, .gid = ctx->gid, .lacks_fsetid = true};
	if (ctx->pid <= 0)
		return;
	/* The pid is the calling thread's: capabilities and groups are
	 * per thread. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)ctx->pid, (int)ctx->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (getline(&line, &len, f) > 0) {
		if (!strncmp(line, "Groups:", 7))
			parse_groups(line + 7, cr);
		else if (sscanf(line, "CapEff: %llx", &eff) == 1)
			cr->lacks_fsetid = !(eff & (1ull << CAP_FSETID));
	}
	free(line);
	fclose(f);
}

void fuse_caller_cred_done(struct daxfs_cred *cr)
{
	free((void *)cr->groups);
	cr->groups = NULL;
	cr->ngroups = 0;
}
