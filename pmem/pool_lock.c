/* SPDX-License-Identifier: MIT */
/* The pool's lock, and waiting for a daemon whose mount is gone
 * (pool_lock.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "pool_lock.h"

#define POLL_NSEC   10000000L /* 10 ms between looks at the lock */
#define MAX_HOLDERS 64

enum holders {
	HOLDERS_GONE,	 /* nobody holds it any more: try again */
	HOLDERS_BUSY,	 /* a mount is there, or a holder that is no daemon */
	HOLDERS_CLOSING, /* only daemons whose mounts are gone */
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int pool_lock_mark_serving(int fd, bool read_only)
{
	struct flock fl = {
	    .l_type = read_only ? F_RDLCK : F_WRLCK,
	    .l_whence = SEEK_SET,
	    .l_start = 0,
	    .l_len = 1,
	};

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Whether some other open file marks a serving daemon. */
static bool serving_marked(int fd)
{
	struct flock fl = {
	    .l_type = F_WRLCK,
	    .l_whence = SEEK_SET,
	    .l_start = 0,
	    .l_len = 1,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return false;
	return fl.l_type != F_UNLCK;
}

/* The pids /proc/locks gives for flocks on fd's file. */
static int flock_holders(int fd, int *pids, int max)
{
	char line[256];
	struct stat st;
	unsigned maj, min;
	unsigned long ino;
	int pid, n = 0;
	FILE *f;

	if (fstat(fd, &st) < 0)
		return -errno;
	f = fopen("/proc/locks", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f) && n < max) {
		/* Waiters ("N: -> FLOCK ...") do not match. */
		if (sscanf(line, "%*d: FLOCK %*s %*s %d %x:%x:%lu", &pid, &maj, &min, &ino) != 4)
			continue;
		if (maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino)
			pids[n++] = pid;
	}
	fclose(f);
	return n;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/* 1 if pid's mount namespace has a daxfs mount of pool, 0 if not, -1 if
 * it cannot be told. */
static int has_mount(int pid, const char *pool)
{
	char path[64], fstype[64];
	char *line = NULL, *source = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (!found && getline(&line, &cap, f) > 0) {
		const char *tail = strstr(line, " - ");
		free(source);
		source = NULL;
		if (!tail || sscanf(tail, " - %63s %ms", fstype, &source) != 2)
			continue;
		unescape(source);
		found = !strcmp(fstype, "fuse.daxfs") && !strcmp(source, pool);
	}
	free(source);
	free(line);
	fclose(f);
	return found;
}

#define PF_EXITING 0x4u /* the kernel's task flag: in do_exit */

/* Whether pid is gone or on its way out: a killed daemon's threads may still
 * be closing its files (and so its lock) while its leader is a zombie. */
static bool exiting(int pid)
{
	char path[64], buf[512];
	unsigned flags = 0;
	char state = 0;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
		return false;
	return state == 'Z' || state == 'X' || (flags & PF_EXITING);
}

static enum holders look_at_holders(int fd, const char *pool, int *pid)
{
	int pids[MAX_HOLDERS];
	/* The mark before the holders: a daemon lets go of its flock before
	 * its mark (pool_close), so a mark seen gone here cannot leave a
	 * daemon's flock behind in the look that follows. */
	bool serving = serving_marked(fd);
	int n = flock_holders(fd, pids, MAX_HOLDERS);

	*pid = 0;
	if (n < 0)
		return HOLDERS_BUSY;
	if (n == 0)
		return HOLDERS_GONE;
	for (int i = 0; i < n; i++) {
		*pid = pids[i];
		/* Ourselves, through another open file: it would never end. */
		if (pids[i] == getpid())
			return HOLDERS_BUSY;
		if (exiting(pids[i]))
			continue;
		if (!serving)
			return HOLDERS_BUSY;
		/* A holder that exits between the two looks has no mountinfo. */
		int mounted = has_mount(pids[i], pool);
		if (mounted > 0 || (mounted < 0 && !exiting(pids[i])))
			return HOLDERS_BUSY;
	}
	return HOLDERS_CLOSING;
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int pool_lock_take(int fd, const char *path, int op, const char *prog, char *err, size_t errlen)
{
	const struct timespec pause = {.tv_nsec = POLL_NSEC};
	char pool[PATH_MAX];
	double deadline;
	bool told = false;
	int pid = 0;

	if (!realpath(path, pool))
		snprintf(pool, sizeof(pool), "%s", path);
	deadline = now_sec() + POOL_LOCK_WAIT_SEC;
	for (;;) {
		if (flock(fd, op | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return fail(err, errlen, -errno, "cannot lock %s: %s", path,
				    strerror(errno));
		switch (look_at_holders(fd, pool, &pid)) {
		case HOLDERS_GONE: /* released meanwhile */
			break;
		case HOLDERS_BUSY:
			return fail(err, errlen, -EBUSY,
				    "%s is in use (mounted, or being checked): unmount it first",
				    path);
		case HOLDERS_CLOSING:
			if (!told)
				fprintf(stderr,
					"%s: %s was just unmounted, or its daemon stopped: waiting "
					"(at most %d s) for the daemon (pid %d) to let it go\n",
					prog, path, POOL_LOCK_WAIT_SEC, pid);
			told = true;
			break;
		}
		if (now_sec() > deadline) {
			return fail(err, errlen, -EBUSY,
				    "%s is still held by its daemon (pid %d) %d s after its mount "
				    "went away",
				    path, pid, POOL_LOCK_WAIT_SEC);
		}
		nanosleep(&pause, NULL);
	}
}
