// SPDX-License-Identifier: MIT
/*
 * daxfs: serves a daxfs pool through FUSE.
 *
 *	daxfs POOL MOUNTPOINT [-f] [-d] [-s] [-o OPTIONS]
 *
 * Also runs as fuse3's mount helper target: "mount -t fuse.daxfs POOL DIR -o
 * OPTS" executes "daxfs POOL DIR -o OPTS".
 */
/* 3.12: the loop configuration object, which has a thread limit.  The
 * operations table comes from fuse_adapter.c, built against version 34. */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <fuse_lowlevel.h>

#include "daxfs.h"
#include "daxfs_ioctl.h"
#include "detach.h"
#include "fuse_adapter.h"
#include "fuse_killpriv.h"
#include "fuse_uring.h"

#define DEFAULT_BREAK_TIMEOUT 30u
/* Workers may sleep for up to break_timeout (removals of pinned blocks,
 * writes into STABLE-pinned blocks with stable_writes=wait), and the
 * UNPIN or close that would wake them needs a worker of its own: libfuse's
 * default of 10 is too few to leave one free.  -o max_threads overrides. */
#define LOOP_MAX_THREADS 64u
/* Idle workers kept when the user sets no max_idle_threads: as many as may
 * run.  libfuse ends a worker that finds more than this many idle, and
 * starts one whenever none is idle; with fewer kept than may run, two busy
 * clients keep creating and ending threads (measured: 4 KiB O_DIRECT
 * writes with 2 jobs at 21k IOPS against 40k with the two limits equal).
 * A worker only exists once that many requests were in flight at once. */
#define LOOP_IDLE_THREADS LOOP_MAX_THREADS

struct daxfs_config {
	char *pool; /* the first non-option argument */
	int nonopts;
	bool read_only;
	enum daxfs_layout_wait layout_wait;
	unsigned break_timeout;
	bool stable_writes_wait;
	bool noatime;
	bool strictatime;
	bool nodiratime;
	bool max_threads_set;
	uint64_t max_pinned;
	uint64_t pins_per_uid, pinned_per_uid;
	enum daxfs_transport_mode transport;
};

enum {
	KEY_RO,
	KEY_RW,
	KEY_LAYOUT_WAIT,
	KEY_BREAK_TIMEOUT,
	KEY_STABLE_WRITES,
	KEY_NOATIME,
	KEY_ATIME,
	KEY_RELATIME,
	KEY_STRICTATIME,
	KEY_NOSTRICTATIME,
	KEY_NODIRATIME,
	KEY_DIRATIME,
	KEY_LAZYTIME,
	KEY_MAX_THREADS,
	KEY_MAX_PINNED,
	KEY_PINS_PER_UID,
	KEY_PINNED_PER_UID,
	KEY_TRANSPORT,
};

static const struct fuse_opt daxfs_opt_spec[] = {
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("layout_wait=", KEY_LAYOUT_WAIT),
	FUSE_OPT_KEY("break_timeout=", KEY_BREAK_TIMEOUT),
	FUSE_OPT_KEY("stable_writes=", KEY_STABLE_WRITES),
	FUSE_OPT_KEY("noatime", KEY_NOATIME),
	FUSE_OPT_KEY("relatime", KEY_RELATIME),
	FUSE_OPT_KEY("atime", KEY_ATIME),
	FUSE_OPT_KEY("strictatime", KEY_STRICTATIME),
	FUSE_OPT_KEY("nostrictatime", KEY_NOSTRICTATIME),
	FUSE_OPT_KEY("nodiratime", KEY_NODIRATIME),
	FUSE_OPT_KEY("diratime", KEY_DIRATIME),
	FUSE_OPT_KEY("lazytime", KEY_LAZYTIME),
	FUSE_OPT_KEY("nolazytime", KEY_LAZYTIME),
	FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
	FUSE_OPT_KEY("max_pinned=", KEY_MAX_PINNED),
	FUSE_OPT_KEY("pins_per_uid=", KEY_PINS_PER_UID),
	FUSE_OPT_KEY("pinned_per_uid=", KEY_PINNED_PER_UID),
	FUSE_OPT_KEY("transport=", KEY_TRANSPORT),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s POOL MOUNTPOINT [options]\n\n", prog);
	printf("daxfs options:\n"
	       "    -o ro                  mount read-only\n"
	       "    -o layout_wait=MODE    how removals wait for blocks still in use\n"
	       "                           sync: return once the blocks are free (default)\n"
	       "                           deferred: the last user frees them\n"
	       "    -o break_timeout=SECS  longest wait for blocks in use (default: %u)\n"
	       "    -o stable_writes=MODE  writes into blocks under a STABLE pin\n"
	       "                           cow: go to a fresh copy of the block (default)\n"
	       "                           wait: wait until the pin is dropped\n"
	       "                           (at most break_timeout, then cow)\n"
	       "    -o max_pinned=BLOCKS   most blocks under pins at once, over all\n"
	       "                           pins (default: a quarter of the data\n"
	       "                           blocks, at most %u); beyond: ENFILE\n"
	       "    -o pins_per_uid=N      most pins of one uid other than root\n"
	       "                           (default: %u); beyond: EDQUOT\n"
	       "    -o pinned_per_uid=BLOCKS  most blocks under the pins of one uid\n"
	       "                           other than root (default: a quarter of\n"
	       "                           max_pinned); beyond: EDQUOT\n"
	       "    -o noatime             never update access times (default: relatime\n"
	       "                           rules; relatime or atime restore them)\n"
	       "    -o strictatime         update access times on every access\n"
	       "                           (nostrictatime: relatime rules)\n"
	       "    -o nodiratime          never update a directory's access time\n"
	       "                           (diratime: do)\n"
	       "    -o lazytime            accepted, as nolazytime: every timestamp is\n"
	       "                           persistent when it changes anyway\n"
	       "    -o transport=MODE      how requests reach the daemon\n"
	       "                           auto: io_uring when the kernel offers it\n"
	       "                           (enable_uring=Y), else /dev/fuse (default)\n"
	       "                           uring: io_uring, or no mount\n"
	       "                           dev: /dev/fuse only\n\n",
	       DEFAULT_BREAK_TIMEOUT, DAXFS_DEFAULT_MAX_PINNED, DAXFS_PINS_PER_MOUNT / 4);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static void version(void)
{
	printf("daxfs %s\n", DAXFS_VERSION_STRING);
	printf("FUSE library version %s\n", fuse_pkgversion());
	/* The kernel interface line comes from a child process (fusermount3). */
	fflush(stdout);
	fuse_lowlevel_version();
}

static int opt_layout_wait(struct daxfs_config *cfg, const char *val)
{
	if (strcmp(val, "sync") == 0) {
		cfg->layout_wait = DAXFS_LAYOUT_WAIT_SYNC;
	} else if (strcmp(val, "deferred") == 0) {
		cfg->layout_wait = DAXFS_LAYOUT_WAIT_DEFERRED;
	} else {
		fprintf(stderr, "daxfs: layout_wait must be sync or deferred, not '%s'\n", val);
		return -1;
	}
	return 0;
}

static int opt_stable_writes(struct daxfs_config *cfg, const char *val)
{
	if (!strcmp(val, "cow") || !strcmp(val, "wait")) {
		cfg->stable_writes_wait = !strcmp(val, "wait");
		return 0;
	}
	fprintf(stderr, "daxfs: stable_writes must be cow or wait, not '%s'\n", val);
	return -1;
}

/* A count option (-o name=N, N from 1) into *out. */
static int opt_count(const char *name, const char *what, const char *val, uint64_t *out)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(val, &end, 10);
	if (val[0] < '0' || val[0] > '9' || *end || errno || n == 0) {
		fprintf(stderr, "daxfs: %s must be a number of %s from 1, not '%s'\n", name, what,
			val);
		return -1;
	}
	*out = n;
	return 0;
}

static int opt_max_pinned(struct daxfs_config *cfg, const char *val)
{
	return opt_count("max_pinned", "blocks", val, &cfg->max_pinned);
}

static int opt_transport(struct daxfs_config *cfg, const char *val)
{
	if (daxfs_transport_parse(val, &cfg->transport) == 0)
		return 0;
	fprintf(stderr, "daxfs: transport must be auto, uring or dev, not '%s'\n", val);
	return -1;
}

static int opt_break_timeout(struct daxfs_config *cfg, const char *val)
{
	unsigned long secs;
	char *end;

	errno = 0;
	secs = strtoul(val, &end, 10);
	/* 0 would mean "the default" to the core: refuse it rather than surprise. */
	if (val[0] < '0' || val[0] > '9' || *end || errno || secs == 0 || secs > UINT_MAX) {
		fprintf(stderr, "daxfs: break_timeout must be from 1 to %u seconds, not '%s'\n",
			UINT_MAX, val);
		return -1;
	}
	cfg->break_timeout = (unsigned)secs;
	return 0;
}

/* POOL is taken here; MOUNTPOINT is kept for fuse_parse_cmdline, which
 * resolves it (and understands /dev/fd/N). */
static int opt_positional(struct daxfs_config *cfg, const char *arg)
{
	switch (cfg->nonopts++) {
	case 0:
		cfg->pool = strdup(arg);
		if (!cfg->pool) {
			fprintf(stderr, "daxfs: out of memory\n");
			return -1;
		}
		return 0;
	case 1:
		return 1;
	default:
		fprintf(stderr, "daxfs: unexpected argument '%s'\n", arg);
		return -1;
	}
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct daxfs_config *cfg = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		return opt_positional(cfg, arg);
	/* ro and rw also go on to the kernel; the last one given wins in both. */
	case KEY_RO:
		cfg->read_only = true;
		return 1;
	case KEY_RW:
		cfg->read_only = false;
		return 1;
	/* The kernel leaves access times to the filesystem: noatime must
	 * reach the core (and goes on to the kernel too, harmlessly). */
	case KEY_NOATIME:
		cfg->noatime = true;
		return 1;
	case KEY_ATIME:
		cfg->noatime = false;
		return 1;
	/* The rest of the atime family means to daxfs what it means to
	 * Linux; libfuse does not know these words, and the kernel leaves
	 * atime of a FUSE inode to the daemon, so they stop here.  Of
	 * noatime, relatime and strictatime the last wins; atime undoes
	 * noatime only, as on Linux. */
	case KEY_RELATIME:
		cfg->noatime = false;
		cfg->strictatime = false;
		return 0;
	case KEY_NOSTRICTATIME:
		cfg->strictatime = false;
		return 0;
	case KEY_STRICTATIME:
		cfg->noatime = false;
		cfg->strictatime = true;
		return 0;
	case KEY_NODIRATIME:
		cfg->nodiratime = true;
		return 0;
	case KEY_DIRATIME:
		cfg->nodiratime = false;
		return 0;
	/* Every change is persistent before its reply: there are no
	 * timestamps kept only in memory to defer, or to stop deferring. */
	case KEY_LAZYTIME:
		return 0;
	case KEY_LAYOUT_WAIT:
		return opt_layout_wait(cfg, arg + strlen("layout_wait="));
	case KEY_BREAK_TIMEOUT:
		return opt_break_timeout(cfg, arg + strlen("break_timeout="));
	case KEY_STABLE_WRITES:
		return opt_stable_writes(cfg, arg + strlen("stable_writes="));
	case KEY_MAX_PINNED:
		return opt_max_pinned(cfg, arg + strlen("max_pinned="));
	case KEY_PINS_PER_UID:
		return opt_count("pins_per_uid", "pins", arg + strlen("pins_per_uid="),
				 &cfg->pins_per_uid);
	case KEY_PINNED_PER_UID:
		return opt_count("pinned_per_uid", "blocks", arg + strlen("pinned_per_uid="),
				 &cfg->pinned_per_uid);
	case KEY_TRANSPORT:
		return opt_transport(cfg, arg + strlen("transport="));
	case KEY_MAX_THREADS: /* noted, and left to fuse_parse_cmdline */
		cfg->max_threads_set = true;
		return 1;
	default:
		return 1;
	}
}

/*
 * Inserted ahead of the user's options so that an explicit fsname= or
 * subtype= still wins.  fsname is the pool's absolute path; when it cannot be
 * resolved the path is used as given and daxfs_mount reports why.
 */
static int add_mount_options(struct fuse_args *args, const char *pool)
{
	size_t len = strlen("fsname=") + strlen(pool) + 1;
	char *fsname = malloc(len);
	char *opts = NULL;
	int rc = -1;

	if (!fsname)
		return -1;
	snprintf(fsname, len, "fsname=%s", pool);
	if (fuse_opt_add_opt(&opts, "default_permissions") ||
	    fuse_opt_add_opt(&opts, "subtype=daxfs") ||
	    fuse_opt_add_opt_escaped(&opts, fsname))
		goto out;
	if (fuse_opt_insert_arg(args, 1, "-o") || fuse_opt_insert_arg(args, 2, opts))
		goto out;
	rc = 0;
out:
	free(opts);
	free(fsname);
	return rc;
}

/* Switches pool to its absolute path: the daemon changes to / when it
 * detaches, and the path doubles as the fsname. */
static void resolve_pool(struct daxfs_config *cfg)
{
	char *abs = realpath(cfg->pool, NULL);

	if (!abs)
		return;
	free(cfg->pool);
	cfg->pool = abs;
}

/* fuse_log levels are syslog priorities. */
_Static_assert(FUSE_LOG_ERR == LOG_ERR && FUSE_LOG_DEBUG == LOG_DEBUG, "log levels");

static void syslog_logger(enum fuse_log_level level, const char *fmt, va_list ap)
{
	vsyslog((int)level, fmt, ap);
}

/* Once detached, stderr is /dev/null: route libfuse's and our messages to
 * syslog. */
static void log_to_syslog(void)
{
	openlog("daxfs", LOG_PID, LOG_DAEMON);
	fuse_set_log_func(syslog_logger);
}

static int start_background(struct daxfs *fs)
{
	sigset_t stop, old;
	int rc;

	/* The core's threads must leave the stop signals to the session loop,
	 * which only ends when one interrupts it.  Threads inherit this mask. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	rc = daxfs_start_background(fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* libfuse 3.14 logs an error for the "unset" idle limit (UINT_MAX). */
static int run_loop(struct fuse_session *se, const struct fuse_cmdline_opts *opts,
		    const struct daxfs_config *dc)
{
	struct fuse_loop_config *cfg;
	int rc;

	if (opts->singlethread)
		return fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)opts->clone_fd);
	fuse_loop_cfg_set_max_threads(cfg, dc->max_threads_set ? opts->max_threads
							       : LOOP_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(cfg, opts->max_idle_threads == UINT_MAX
						    ? LOOP_IDLE_THREADS
						    : opts->max_idle_threads);
	rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

static int unmount_core(struct daxfs *fs)
{
	struct daxfs_unmount_report report = { 0 };
	int rc;

	rc = daxfs_unmount(fs, &report);
	if (report.busy_blocks_waited)
		fuse_log(FUSE_LOG_NOTICE, "daxfs: unmount waited %.3f s for %llu busy blocks\n",
			 report.wait_seconds, (unsigned long long)report.busy_blocks_waited);
	if (report.pins_dropped)
		fuse_log(FUSE_LOG_WARNING, "daxfs: unmount dropped %llu pins still held\n",
			 (unsigned long long)report.pins_dropped);
	if (rc < 0)
		fuse_log(FUSE_LOG_ERR, "daxfs: unmount: %s\n", strerror(-rc));
	return rc;
}

/* Options, then the help and version requests; returns -1 on error, 1 when
 * there is nothing to mount, 0 to go on. */
static int parse_args(struct fuse_args *args, struct daxfs_config *cfg,
		      struct fuse_cmdline_opts *opts)
{
	if (fuse_opt_parse(args, cfg, daxfs_opt_spec, opt_proc) == -1)
		return -1;
	if (cfg->pool) {
		resolve_pool(cfg);
		if (add_mount_options(args, cfg->pool)) {
			fprintf(stderr, "daxfs: out of memory\n");
			return -1;
		}
	}
	if (fuse_parse_cmdline(args, opts) != 0)
		return -1;
	if (opts->show_help) {
		usage(args->argv[0]);
		return 1;
	}
	if (opts->show_version) {
		version();
		return 1;
	}
	if (!cfg->pool || !opts->mountpoint) {
		fprintf(stderr, "usage: %s POOL MOUNTPOINT [options]\n", args->argv[0]);
		fprintf(stderr, "       %s --help\n", args->argv[0]);
		return -1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct daxfs_config cfg = {
		.layout_wait = DAXFS_LAYOUT_WAIT_SYNC,
		.break_timeout = DEFAULT_BREAK_TIMEOUT,
	};
	struct fuse_cmdline_opts opts = { 0 };
	struct daxfs_mount_opts mo;
	struct detach detach = { 0 };
	struct fuse_session *se;
	struct daxfs_fuse *df;
	struct daxfs *fs;
	char err[256] = "";
	bool syslogging = false;
	int ret = 1;
	int rc;

	rc = parse_args(&args, &cfg, &opts);
	if (rc) {
		ret = rc < 0;
		goto out_args;
	}
	/* Before anything starts a thread or takes the pool's lock (detach.h). */
	rc = opts.foreground ? 0 : detach_fork(&detach);
	if (rc < 0) {
		fprintf(stderr, "daxfs: cannot fork the daemon: %s\n", strerror(-rc));
		goto out_args;
	}

	df = daxfs_fuse_new();
	if (!df) {
		fprintf(stderr, "daxfs: out of memory\n");
		goto out_args;
	}
	mo = (struct daxfs_mount_opts){
		.read_only = cfg.read_only,
		.layout_wait = cfg.layout_wait,
		.break_timeout_sec = cfg.break_timeout,
		.stable_writes_wait = cfg.stable_writes_wait,
		.noatime = cfg.noatime,
		.strictatime = cfg.strictatime,
		.nodiratime = cfg.nodiratime,
		.max_pinned_blocks = cfg.max_pinned,
		.pins_per_uid = cfg.pins_per_uid,
		.pinned_per_uid = cfg.pinned_per_uid,
		.serves_kernel_mount = true,
	};
	daxfs_fuse_hook(df, &mo);
	if (daxfs_fuse_uring_check(cfg.transport, err, sizeof(err)) != 0) {
		fprintf(stderr, "daxfs: %s\n", err);
		goto out_adapter;
	}
	daxfs_fuse_uring_configure(cfg.transport, cfg.stable_writes_wait);
	/* In the foreground, before anything is mounted: a bad pool fails here
	 * with the reason on the terminal. */
	rc = daxfs_mount(cfg.pool, &mo, &fs, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "daxfs: %s\n", err[0] ? err : strerror(-rc));
		goto out_adapter;
	}
	daxfs_fuse_attach(df, fs);

	se = fuse_session_new(&args, &daxfs_fuse_ops, sizeof(daxfs_fuse_ops), df);
	if (!se) {
		fprintf(stderr, "daxfs: cannot start a FUSE session\n");
		goto out_core;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		fprintf(stderr, "daxfs: cannot install signal handlers\n");
		goto out_session;
	}
	if (fuse_session_mount(se, opts.mountpoint) != 0) {
		fprintf(stderr, "daxfs: cannot mount %s on %s\n", cfg.pool, opts.mountpoint);
		goto out_signals;
	}
	if (daxfs_fuse_killpriv_install(se) != 0) {
		fprintf(stderr, "daxfs: cannot hook the FUSE session's I/O\n");
		goto out_unmount;
	}
	if ((opts.foreground ? fuse_daemonize(1) : detach_complete(&detach)) != 0) {
		fprintf(stderr, "daxfs: cannot detach from the terminal\n");
		goto out_unmount;
	}
	if (!opts.foreground) {
		log_to_syslog();
		syslogging = true;
	}

	rc = start_background(fs);
	if (rc < 0) {
		fuse_log(FUSE_LOG_ERR, "daxfs: cannot start background work: %s\n", strerror(-rc));
		goto out_unmount;
	}
	rc = daxfs_fuse_inval_start(df, se);
	if (rc < 0) {
		fuse_log(FUSE_LOG_ERR, "daxfs: cannot start the invalidation thread: %s\n",
			 strerror(-rc));
		goto out_unmount;
	}
	rc = daxfs_fuse_uring_start(se);
	if (rc < 0) {
		fuse_log(FUSE_LOG_ERR, "daxfs: cannot start the io_uring transport: %s\n",
			 strerror(-rc));
		goto out_unmount;
	}

	/* A stop by signal returns the signal number: that is a clean stop too. */
	rc = run_loop(se, &opts, &cfg);
	ret = rc < 0 || daxfs_fuse_uring_refused();
	if (rc < 0)
		fuse_log(FUSE_LOG_ERR, "daxfs: session ended: %s\n", strerror(-rc));

	daxfs_fuse_inval_quiesce(df);
out_unmount:
	fuse_session_unmount(se);
	daxfs_fuse_uring_stop();
	daxfs_fuse_inval_join(df);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_core:
	if (unmount_core(fs) < 0)
		ret = 1;
out_adapter:
	daxfs_fuse_free(df);
out_args:
	if (syslogging)
		closelog();
	free(opts.mountpoint);
	free(cfg.pool);
	fuse_opt_free_args(&args);
	return ret;
}
