/* SPDX-License-Identifier: MIT */
/*
 * fsck.daxfs [-n | -p | -y] [-f] [-v] POOL: the command line.  The check
 * itself is fsck_run (fsck.c), which the fuzz tests call in process.
 */
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#include "../fs/daxfs.h"
#include "fsck.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: fsck.daxfs [-n | -p | -y] [-f] [-v] POOL\n"
		   "\n"
		   "Checks the daxfs pool POOL (a pool file or a device DAX node) and repairs it.\n"
		   "The pool must not be mounted.\n"
		   "\n"
		   "  -n            check only: change nothing (the default)\n"
		   "  -p, -a        repair automatically what is safe to (bitmap, blocks and link\n"
		   "                counts, orphan list, interrupted operations, the superblock\n"
		   "                from its backup); if anything else is wrong, change nothing\n"
		   "  -y            repair everything\n"
		   "  -f            force a full check (every check is a full one)\n"
		   "  -v            print what each phase found\n"
		   "  -h, --help    this help\n"
		   "  -V, --version print the version\n"
		   "\n"
		   "Exit status: 0 no errors, 1 errors corrected, 4 errors left uncorrected,\n"
		   "8 operational error.\n");
}

static int parse_args(int argc, char **argv, struct fsck *fx)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int modes = 0, c;

	fx->mode = MODE_CHECK;
	while ((c = getopt_long(argc, argv, "npayfvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			fx->mode = MODE_CHECK;
			modes++;
			break;
		case 'p':
		case 'a':
			fx->mode = MODE_PREEN;
			modes++;
			break;
		case 'y':
			fx->mode = MODE_YES;
			modes++;
			break;
		case 'f':
			fx->force = true;
			break;
		case 'v':
			fx->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(FSCK_OK);
		case 'V':
			printf("fsck.daxfs %s (format version %d)\n", DAXFS_VERSION_STRING,
			       DAXFS_VERSION);
			exit(FSCK_OK);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (modes > 1) {
		fprintf(stderr, "fsck.daxfs: only one of -n, -p and -y may be given\n");
		return -1;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	fx->path = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct fsck fx = {.fd = -1};

	if (parse_args(argc, argv, &fx) < 0)
		return FSCK_OPERATIONAL;
	fx.tty = isatty(STDERR_FILENO);
	return fsck_run(&fx);
}
