// SPDX-License-Identifier: MIT
/*
 * metabench: metadata and small-write rates of a mounted filesystem, for
 * bench/run.sh (a measurement, never a test).
 *
 *	metabench [-n FILES] [-t SECONDS] [-s SETTLE] [-p PHASES] DIR
 *
 * Everything happens in a fresh directory DIR/metabench.PID, removed at the
 * end.  Phases (all by default, in this order; -p takes a comma list):
 *
 *   create     open(O_CREAT|O_EXCL|O_WRONLY) + close of FILES empty files
 *   stat       stat of each of them
 *   readdir    reading the directory (FILES entries) to its end, repeated
 *              for at least 0.2 s; entries per second
 *   unlink     unlink of each of them
 *   trunc      pwrite of 64 KiB at offset 0 then ftruncate to 0, in a loop
 *              on one open file for SECONDS; loops per second
 *   smallfile  open(O_CREAT|O_EXCL|O_WRONLY) + write of 4 KiB + fsync +
 *              close, new files for SECONDS; files per second (they are
 *              removed afterwards, untimed)
 *
 * Before stat and before unlink it sleeps SETTLE seconds (default 1.1) so
 * that FUSE attribute caches (1 s in daxfs and the ceiling) have expired:
 * each phase then asks the filesystem, not the kernel's attribute cache
 * (entries, 60 s in both, may still be cached).  -s 0 turns that off.
 *
 * The result is one line per phase on stdout, "PHASE RATE" (operations per
 * second); errors go to stderr with the phase, and the exit status is 1.
 *
 * Cleanup unlinks every file by the name it was created under (never by
 * reading the directory), then removes DIR/metabench.PID.  If that rmdir
 * finds the directory not empty, metabench lists what is left and waits up
 * to 2 s for it to go (a FUSE RELEASE may still be in flight).  A name it
 * created that is still listed after its unlink succeeded is an error.
 * Anything else the filesystem put there itself is reported on stderr as a
 * warning ("metabench: warning: ..."), with its inode and size, and then
 * removed only if it is a regular file named .fuse_hidden* (libfuse 2's
 * name for a file unlinked while it believed it open: the directory is
 * metabench's own, so such a file can only be one metabench unlinked);
 * the exit status stays 0, the rates are valid.  Whatever else is left is
 * an error.  On an error, metabench still tries to remove what it created.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALLFILE_MAX 200000L

static const char *phase = "setup";
static int dirfd_ = -1;
static char workdir[4096];

/* What exists of ours, for the cleanup (also after an error). */
static long f_created;	   /* f0000000 .. : create */
static long s_created;	   /* s0000000 .. : smallfile */
static bool trunc_created; /* "trunc" */
static ino_t trunc_ino;	   /* its inode, to recognise it under another name */
static bool in_cleanup;

static void remove_ours(void);

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *name)
{
	int e = errno;

	fprintf(stderr, "metabench: %s: %s%s%s: %s\n", phase, what, name ? " " : "",
		name ? name : "", strerror(e));
	/* Best effort: leave no files behind, whatever failed. */
	if (!in_cleanup && dirfd_ >= 0) {
		in_cleanup = true;
		remove_ours();
		close(dirfd_);
		rmdir(workdir);
	}
	exit(1);
}

static void settle(double secs)
{
	struct timespec ts;

	if (secs <= 0)
		return;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void name_of(char *buf, size_t len, const char *prefix, long i)
{
	snprintf(buf, len, "%s%07ld", prefix, i);
}

static void report(const char *name, double ops, double secs)
{
	printf("%s %.1f\n", name, secs > 0 ? ops / secs : 0.0);
	fflush(stdout);
}

static void bench_create(long n)
{
	char name[64];
	double t0 = now();

	phase = "create";
	for (long i = 0; i < n; i++) {
		name_of(name, sizeof(name), "f", i);
		int fd = openat(dirfd_, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			die("open", name);
		f_created = i + 1;
		if (close(fd) != 0)
			die("close", name);
	}
	report("create", (double)n, now() - t0);
}

static void bench_stat(long n)
{
	char name[64];
	struct stat st;
	double t0 = now();

	phase = "stat";
	for (long i = 0; i < n; i++) {
		name_of(name, sizeof(name), "f", i);
		if (fstatat(dirfd_, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			die("stat", name);
		if (!S_ISREG(st.st_mode) || st.st_size != 0) {
			errno = EINVAL;
			die("unexpected attributes of", name);
		}
	}
	report("stat", (double)n, now() - t0);
}

static long read_dir_once(void)
{
	int fd = openat(dirfd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long entries = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		die("open", workdir);
	d = fdopendir(fd);
	if (!d)
		die("fdopendir", workdir);
	errno = 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			entries++;
	if (errno)
		die("readdir", workdir);
	closedir(d);
	return entries;
}

static void bench_readdir(long n)
{
	double t0 = now(), t;
	long total = 0, passes = 0;

	phase = "readdir";
	do {
		long got = read_dir_once();
		if (got != n) {
			fprintf(stderr, "metabench: readdir: %ld entries, expected %ld\n", got, n);
			exit(1);
		}
		total += got;
		passes++;
		t = now() - t0;
	} while (t < 0.2 && passes < 1000);
	report("readdir", (double)total, t);
}

static void bench_unlink(long n)
{
	char name[64];
	double t0 = now();

	phase = "unlink";
	for (long i = 0; i < n; i++) {
		name_of(name, sizeof(name), "f", i);
		if (unlinkat(dirfd_, name, 0) != 0)
			die("unlink", name);
	}
	report("unlink", (double)n, now() - t0);
	f_created = 0;
}

static void bench_trunc(double secs)
{
	static char buf[64 * 1024];
	long loops = 0;
	struct stat st;
	double t0, t;
	int fd;

	phase = "trunc";
	memset(buf, 0x5a, sizeof(buf));
	fd = openat(dirfd_, "trunc", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open", "trunc");
	trunc_created = true;
	if (fstat(fd, &st) != 0)
		die("fstat", "trunc");
	trunc_ino = st.st_ino;
	t0 = now();
	do {
		for (int i = 0; i < 8; i++, loops++) {
			if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
				die("pwrite", "trunc");
			if (ftruncate(fd, 0) != 0)
				die("ftruncate", "trunc");
		}
		t = now() - t0;
	} while (t < secs);
	report("trunc", (double)loops, t);
	/* close, then unlink at once: what programs do. */
	if (close(fd) != 0)
		die("close", "trunc");
	if (unlinkat(dirfd_, "trunc", 0) != 0)
		die("unlink", "trunc");
	trunc_created = false;
}

static void bench_smallfile(double secs)
{
	static char buf[4096];
	char name[64];
	long files = 0;
	double t0, t;

	phase = "smallfile";
	memset(buf, 0xa5, sizeof(buf));
	t0 = now();
	do {
		name_of(name, sizeof(name), "s", files);
		int fd = openat(dirfd_, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			die("open", name);
		s_created = files + 1;
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("write", name);
		if (fsync(fd) != 0)
			die("fsync", name);
		if (close(fd) != 0)
			die("close", name);
		files++;
		t = now() - t0;
	} while (t < secs && files < SMALLFILE_MAX);
	report("smallfile", (double)files, t);
	for (long i = 0; i < files; i++) {
		name_of(name, sizeof(name), "s", i);
		if (unlinkat(dirfd_, name, 0) != 0)
			die("unlink", name);
	}
	s_created = 0;
}

/* Unlink, by name, whatever of ours may still exist (after an error). */
static void remove_ours(void)
{
	char name[64];

	for (long i = 0; i < f_created; i++) {
		name_of(name, sizeof(name), "f", i);
		unlinkat(dirfd_, name, 0);
	}
	for (long i = 0; i < s_created; i++) {
		name_of(name, sizeof(name), "s", i);
		unlinkat(dirfd_, name, 0);
	}
	if (trunc_created)
		unlinkat(dirfd_, "trunc", 0);
}

/* A name metabench creates (name_of): f0000000, s0000000 (7 digits or
 * more), or trunc. */
static bool is_ours(const char *name)
{
	size_t len = strlen(name);

	if (strcmp(name, "trunc") == 0)
		return true;
	if ((name[0] != 'f' && name[0] != 's') || len < 8)
		return false;
	for (size_t i = 1; i < len; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

struct names {
	char (*v)[256];
	size_t n, cap;
};

/* The entries of the work directory, but . and .. */
static void list_workdir(struct names *l)
{
	struct dirent *de;
	DIR *d = opendir(workdir);

	l->n = 0;
	if (!d)
		die("opendir", workdir);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 16;
			l->v = realloc(l->v, l->cap * sizeof(*l->v));
			if (!l->v)
				die("realloc", NULL);
		}
		snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", de->d_name);
		errno = 0;
	}
	if (errno)
		die("readdir", workdir);
	closedir(d);
}

static void print_names(const struct names *l)
{
	for (size_t i = 0; i < l->n && i < 5; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", l->v[i]);
	if (l->n > 5)
		fprintf(stderr, " and %zu more", l->n - 5);
}

#define CLEANUP_WAIT  2.0
#define HIDDEN_PREFIX ".fuse_hidden"

/*
 * Every file metabench created has been unlinked by name, successfully:
 * the directory should be empty.  If it is not, say what the filesystem
 * left there and why, and remove it only when it is known to be the
 * remains of a file metabench unlinked (libfuse 2's .fuse_hidden files).
 */
static void cleanup(void)
{
	struct names l = {0};
	char path[sizeof(workdir) + 256 + 2], what[2 * sizeof(path)];
	bool bad = false;
	double t0;

	phase = "cleanup";
	in_cleanup = true;
	close(dirfd_);
	dirfd_ = -1;
	if (rmdir(workdir) == 0)
		return;
	if (errno != ENOTEMPTY && errno != EEXIST)
		die("rmdir", workdir);

	/* A FUSE RELEASE may still be on its way; give it some time. */
	t0 = now();
	for (;;) {
		list_workdir(&l);
		for (size_t i = 0; i < l.n; i++) {
			if (is_ours(l.v[i])) {
				fprintf(stderr,
					"metabench: cleanup: %s is still listed in %s after "
					"its unlink succeeded\n",
					l.v[i], workdir);
				bad = true;
			}
		}
		if (bad)
			exit(1);
		if (rmdir(workdir) == 0) {
			fprintf(stderr,
				"metabench: warning: cleanup: rmdir %s: directory not "
				"empty after every file was unlinked (",
				workdir);
			print_names(&l);
			fprintf(stderr, "); empty %.0f ms later\n", (now() - t0) * 1e3);
			free(l.v);
			return;
		}
		if (errno != ENOTEMPTY && errno != EEXIST)
			die("rmdir", workdir);
		if (now() - t0 >= CLEANUP_WAIT)
			break;
		settle(0.05);
	}

	for (size_t i = 0; i < l.n; i++) {
		const char *name = l.v[i];
		bool hidden = strncmp(name, HIDDEN_PREFIX, strlen(HIDDEN_PREFIX)) == 0;
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", workdir, name);
		if (lstat(path, &st) != 0) {
			if (errno == ENOENT)
				continue; /* gone meanwhile */
			die("stat", path);
		}
		snprintf(what, sizeof(what),
			 "%s (inode %ju, mode %o, %jd bytes, %ju link(s)%s) "
			 "was still in %s %.1f s after metabench unlinked every file it created",
			 name, (uintmax_t)st.st_ino, (unsigned)st.st_mode, (intmax_t)st.st_size,
			 (uintmax_t)st.st_nlink,
			 trunc_ino && st.st_ino == trunc_ino
			     ? "; the inode of 'trunc', closed then unlinked at once"
			     : "",
			 workdir, now() - t0);
		if (hidden && S_ISREG(st.st_mode)) {
			if (unlink(path) != 0)
				die("unlink", path);
			fprintf(stderr,
				"metabench: warning: cleanup: %s; libfuse 2 gives this "
				"name to a file unlinked while it counts the file open, and "
				"removes it at the file's last RELEASE, which did not happen: "
				"removed it\n",
				what);
		} else {
			fprintf(stderr,
				"metabench: cleanup: %s; not a name of metabench's: "
				"left in place\n",
				what);
			bad = true;
		}
	}
	free(l.v);
	if (bad)
		exit(1);
	if (rmdir(workdir) != 0)
		die("rmdir", workdir);
}

static bool want(const char *phases, const char *p)
{
	size_t len = strlen(p);

	for (const char *s = phases; (s = strstr(s, p)) != NULL; s += len)
		if ((s == phases || s[-1] == ',') && (s[len] == ',' || s[len] == '\0'))
			return true;
	return false;
}

static void usage(void)
{
	fprintf(stderr, "usage: metabench [-n FILES] [-t SECONDS] [-s SETTLE] [-p PHASES] DIR\n"
			"phases: create,stat,readdir,unlink,trunc,smallfile (default: all)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *phases = "create,stat,readdir,unlink,trunc,smallfile";
	double secs = 3.0, settle_secs = 1.1;
	long n = 20000;
	char *end;
	int c;

	while ((c = getopt(argc, argv, "n:t:s:p:h")) != -1) {
		switch (c) {
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end || n <= 0)
				usage();
			break;
		case 't':
			secs = strtod(optarg, &end);
			if (*end || secs <= 0)
				usage();
			break;
		case 's':
			settle_secs = strtod(optarg, &end);
			if (*end || settle_secs < 0)
				usage();
			break;
		case 'p':
			phases = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	/* create makes the files that stat, readdir and unlink use. */
	if ((want(phases, "stat") || want(phases, "readdir") || want(phases, "unlink")) &&
	    !want(phases, "create")) {
		fprintf(stderr, "metabench: stat, readdir and unlink need create\n");
		return 2;
	}

	snprintf(workdir, sizeof(workdir), "%s/metabench.%ld", argv[optind], (long)getpid());
	if (mkdir(workdir, 0755) != 0)
		die("mkdir", workdir);
	dirfd_ = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd_ < 0) {
		int e = errno;

		rmdir(workdir);
		errno = e;
		die("open", workdir);
	}

	if (want(phases, "create")) {
		bench_create(n);
		if (want(phases, "stat")) {
			settle(settle_secs);
			bench_stat(n);
		}
		if (want(phases, "readdir"))
			bench_readdir(n);
		settle(want(phases, "unlink") ? settle_secs : 0);
		if (want(phases, "unlink")) {
			bench_unlink(n);
		} else {
			char name[64];
			for (long i = 0; i < n; i++) {
				name_of(name, sizeof(name), "f", i);
				if (unlinkat(dirfd_, name, 0) != 0)
					die("unlink", name);
			}
			f_created = 0;
		}
	}
	if (want(phases, "trunc"))
		bench_trunc(secs);
	if (want(phases, "smallfile"))
		bench_smallfile(secs);

	cleanup();
	return 0;
}
