/* SPDX-License-Identifier: MIT */
/*
 * daxfs-posix PHASE DIR XDEV [GROUP...]
 *
 * Runs one phase (root, other, user or persist; see harness.h) of the POSIX
 * conformance checks on DIR, a directory on a mounted daxfs; XDEV is a
 * world-writable directory on another mount (for EXDEV).  Without GROUP
 * arguments every group runs.  TAP on stdout; exit status 0
 * when every check passed, 1 when one failed, 2 on a bail-out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static const struct group *const all_groups[] = {
	&g_open, &g_create, &g_link, &g_unlink, &g_rename, &g_mkdir, &g_rmdir,
	&g_symlink, &g_chmod, &g_chown, &g_truncate, &g_utimensat, &g_read,
	&g_chattr, &g_xattr,
};

static const char *cur_group = "";
static unsigned n_checks, n_failed;
static unsigned n_fs_times, n_fs_times_sub_us;

/* ---- reporting */

static void report(bool pass, const char *fmt, va_list ap, const char *suffix)
{
	n_checks++;
	if (!pass)
		n_failed++;
	printf("%s %u - %s: ", pass ? "ok" : "not ok", n_checks, cur_group);
	vprintf(fmt, ap);
	printf("%s\n", suffix);
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("#   ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "no error";

	return n ? n : "E?";
}

void t_check(bool cond, const char *expr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(cond, fmt, ap, "");
	va_end(ap);
	if (!cond)
		diag("failed: %s", expr);
	fflush(stdout);
}

void t_err(int want, long rc, int err, const char *fmt, ...)
{
	char suffix[64];
	bool pass = rc < 0 && err == want;
	va_list ap;

	snprintf(suffix, sizeof(suffix), " -> %s", ename(want));
	va_start(ap, fmt);
	report(pass, fmt, ap, suffix);
	va_end(ap);
	if (!pass) {
		if (rc >= 0)
			diag("succeeded (returned %ld), expected %s", rc, ename(want));
		else
			diag("failed with %s (%s), expected %s", ename(err), strerror(err), ename(want));
	}
	fflush(stdout);
}

void t_ok(long rc, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(rc >= 0, fmt, ap, "");
	va_end(ap);
	if (rc < 0)
		diag("failed with %s (%s)", ename(err), strerror(err));
	fflush(stdout);
}

void t_eq(long long want, long long got, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(want == got, fmt, ap, "");
	va_end(ap);
	if (want != got)
		diag("expected %lld (%#llo), got %lld (%#llo)", want, want, got, got);
	fflush(stdout);
}

void t_later(struct timespec before, struct timespec after, const char *fmt, ...)
{
	bool pass = ts_after(after, before);
	va_list ap;

	note_fs_time(after);
	va_start(ap, fmt);
	report(pass, fmt, ap, "");
	va_end(ap);
	if (!pass)
		diag("timestamp %lld.%09ld is not after %lld.%09ld", (long long)after.tv_sec,
		     after.tv_nsec, (long long)before.tv_sec, before.tv_nsec);
	fflush(stdout);
}

void bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! %s: ", cur_group);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(2);
}

/* An EXPECT_* call that opened something must not leak the descriptor;
 * only calls spelled open/openat/creat return descriptors here. */
void close_if_fd(const char *call_text, long rc)
{
	if (rc > 2 && (!strncmp(call_text, "open", 4) || !strncmp(call_text, "creat", 5)))
		close((int)rc);
}

/* ---- fixtures */

void must(int rc, const char *what)
{
	if (rc < 0)
		bail("setup step '%s' failed: %s", what, strerror(errno));
}

struct stat lst(const char *path)
{
	struct stat s;

	if (lstat(path, &s))
		bail("lstat %s: %s", path, strerror(errno));
	return s;
}

struct stat st(const char *path)
{
	struct stat s;

	if (stat(path, &s))
		bail("stat %s: %s", path, strerror(errno));
	return s;
}

mode_t perm(const char *path)
{
	return lst(path).st_mode & 07777;
}

void mkfile(const char *path, mode_t mode, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	size_t len = data ? strlen(data) : 0;

	if (fd < 0)
		bail("create %s: %s", path, strerror(errno));
	if (len && write(fd, data, len) != (ssize_t)len)
		bail("write %s: %s", path, strerror(errno));
	close(fd);
}

void fx_file(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	mkfile(path, 0600, "fixture\n");
	if (chown(path, uid, gid) || chmod(path, mode))
		bail("chown/chmod %s: %s", path, strerror(errno));
}

void fx_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(path, 0700) || chown(path, uid, gid) || chmod(path, mode))
		bail("mkdir/chown/chmod %s: %s", path, strerror(errno));
}

void fx_symlink(const char *target, const char *path, uid_t uid, gid_t gid)
{
	if (symlink(target, path) || lchown(path, uid, gid))
		bail("symlink/lchown %s: %s", path, strerror(errno));
}

void fx_udir(uid_t uid, gid_t gid)
{
	fx_dir("u", 0755, uid, gid);
}

/* ---- helpers */

bool ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

bool ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

struct timespec now_ts(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

bool ts_between(struct timespec t, struct timespec lo, struct timespec hi)
{
	return !ts_after(lo, t) && !ts_after(t, hi);
}

void note_fs_time(struct timespec t)
{
	n_fs_times++;
	if (t.tv_nsec % 1000)
		n_fs_times_sub_us++;
}

static char n256[257], n255[256];

const char *name256(void)
{
	return n256;
}

const char *name255(void)
{
	return n255;
}

int read_sysctl(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* ---- main */

static const struct group *find_group(const char *name)
{
	for (size_t i = 0; i < sizeof(all_groups) / sizeof(all_groups[0]); i++)
		if (!strcmp(all_groups[i]->name, name))
			return all_groups[i];
	return NULL;
}

static void run_group(const struct group *g, const char *phase, const char *dir,
		      const struct ctx *c)
{
	char path[4096];
	void (*fn)(const struct ctx *) = NULL;

	cur_group = g->name;
	snprintf(path, sizeof(path), "%s/%s", dir, g->name);
	if (!strcmp(phase, "root")) {
		fn = g->root;
		if (mkdir(path, 0755) && errno != EEXIST)
			bail("mkdir %s: %s", path, strerror(errno));
	} else if (!strcmp(phase, "other")) {
		fn = g->other;
		strncat(path, "/u", sizeof(path) - strlen(path) - 1);
	} else if (!strcmp(phase, "user")) {
		fn = g->user;
		strncat(path, "/u", sizeof(path) - strlen(path) - 1);
	} else {
		fn = g->persist;
	}
	if (!fn)
		return;
	if (chdir(path))
		bail("chdir %s: %s", path, strerror(errno));
	printf("# %s: %s as uid %u gid %u\n", g->name, phase, (unsigned)geteuid(),
	       (unsigned)getegid());
	fn(c);
}

int main(int argc, char **argv)
{
	const struct group *sel[32];
	size_t nsel = 0;

	if (argc < 4 || (strcmp(argv[1], "root") && strcmp(argv[1], "other") &&
			 strcmp(argv[1], "user") && strcmp(argv[1], "persist"))) {
		fprintf(stderr, "usage: %s root|other|user|persist DIR XDEV_DIR [GROUP...]\n",
			argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	memset(n256, 'n', 256);
	memset(n255, 'm', 255);
	struct ctx c = { .xdev = argv[3] };
	if (argc > 4) {
		for (int i = 4; i < argc && nsel < 32; i++) {
			sel[nsel] = find_group(argv[i]);
			if (!sel[nsel]) {
				fprintf(stderr, "unknown group %s\n", argv[i]);
				return 2;
			}
			nsel++;
		}
	} else {
		for (size_t i = 0; i < sizeof(all_groups) / sizeof(all_groups[0]); i++)
			sel[nsel++] = all_groups[i];
	}
	for (size_t i = 0; i < nsel; i++)
		run_group(sel[i], argv[1], argv[2], &c);
	cur_group = "timestamps";
	if (n_fs_times >= 8)
		t_check(n_fs_times_sub_us > 0, "some timestamp has nanoseconds",
			"%u of %u timestamps set by the filesystem have a sub-microsecond part",
			n_fs_times_sub_us, n_fs_times);
	printf("1..%u\n", n_checks);
	printf("# %s: %u checks, %u failed\n", argv[1], n_checks, n_failed);
	return n_failed ? 1 : 0;
}
