/* SPDX-License-Identifier: MIT */
/*
 * Runs a fuzz target's LLVMFuzzerTestOneInput once on each file named (or
 * each file of each directory named), as a libFuzzer binary does when given
 * files: the regression inputs and the corpus run in builds without clang.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long runs;

static void run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[1 << 20];

	if (!f)
		fuzz_die("cannot open %s", path);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	runs++;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		fuzz_die("cannot stat %s", path);
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	DIR *d = opendir(path);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	if (!d)
		fuzz_die("cannot open %s", path);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (!names || asprintf(&names[n], "%s/%s", path, de->d_name) < 0)
			fuzz_die("out of memory");
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		run_file(names[i]);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		run_path(argv[i]);
	printf("%s: %lu inputs, no failure\n", argv[0], runs);
	return 0;
}
