/* SPDX-License-Identifier: MIT */
#include "pool_picture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../fs/daxfs_ioctl.h"
#include "png_writer.h"

#define MAX_HEIGHT 4096
#define COLOR_BEYOND DAXFS_VIEW_COUNT

static const uint8_t palette[DAXFS_VIEW_COUNT + 1][3] = {
	[DAXFS_VIEW_FREE] = { 235, 235, 235 },	     [DAXFS_VIEW_ALLOCATED] = { 140, 140, 140 },
	[DAXFS_VIEW_TRACKED_IDLE] = { 70, 160, 90 }, [DAXFS_VIEW_BUSY] = { 50, 100, 220 },
	[DAXFS_VIEW_UNTRACKED] = { 240, 160, 40 },   [DAXFS_VIEW_DEFERRED] = { 215, 50, 50 },
	[DAXFS_VIEW_PINNED] = { 150, 50, 200 },	     [COLOR_BEYOND] = { 30, 30, 30 },
};
static const char glyph[DAXFS_VIEW_COUNT] = { '.', 'a', 'o', 'B', 'u', 'D', 'P' };
static const char *const names[DAXFS_VIEW_COUNT] = {
	"free", "allocated", "tracked idle", "busy", "untracked waiting", "deferred", "pinned",
};

/* Every block's view, read through the mount. */
static uint8_t *read_views(const char *mnt, uint64_t *total)
{
	static struct daxfs_ioc_pfns p;
	uint8_t *views = NULL;
	int fd = open(mnt, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "daxfs-ctl: %s: %s\n", mnt, strerror(errno));
		return NULL;
	}
	p.start = 0;
	do {
		if (ioctl(fd, DAXFS_IOC_PFNS, &p) < 0) {
			fprintf(stderr, "daxfs-ctl: %s: %s\n", mnt,
				errno == ENOTTY || errno == ENOSYS ? "not on a daxfs mount"
								   : strerror(errno));
			free(views);
			close(fd);
			return NULL;
		}
		if (!views && !(views = malloc(p.total ? p.total : 1))) {
			close(fd);
			return NULL;
		}
		memcpy(views + p.start, p.view, p.count);
		p.start += p.count;
	} while (p.count && p.start < p.total);
	*total = p.total;
	close(fd);
	return views;
}

/* The worst (highest) view of blocks [first, first+n). */
static uint8_t worst(const uint8_t *views, uint64_t total, uint64_t first, uint64_t n)
{
	uint8_t w = 0;

	if (first >= total)
		return COLOR_BEYOND;
	for (uint64_t i = first; i < first + n && i < total; i++)
		if (views[i] > w)
			w = views[i];
	return w;
}

static int write_png(const char *path, const uint8_t *views, uint64_t total, unsigned width)
{
	uint64_t per = (total + (uint64_t)width * MAX_HEIGHT - 1) / ((uint64_t)width * MAX_HEIGHT);
	uint64_t pixels = (total + per - 1) / per;
	uint32_t height = (uint32_t)((pixels + width - 1) / width);
	uint8_t *img = malloc((size_t)width * height);

	if (!img)
		return 1;
	for (uint64_t i = 0; i < (uint64_t)width * height; i++)
		img[i] = worst(views, total, i * per, per);
	FILE *f = fopen(path, "wb");
	int rc = !f || png_write_palette(f, width, height, palette, DAXFS_VIEW_COUNT + 1, img);
	if (f && fclose(f))
		rc = 1;
	if (rc)
		fprintf(stderr, "daxfs-ctl: %s: %s\n", path, strerror(errno));
	else
		printf("%s: %u x %u pixels, %llu block%s per pixel\n", path, width, height,
		       (unsigned long long)per, per == 1 ? "" : "s");
	free(img);
	return rc;
}

static void draw_text(const uint8_t *views, uint64_t total)
{
	const unsigned cols = 64, rows = 16;
	uint64_t per = (total + cols * rows - 1) / (cols * rows);

	printf("%llu blocks, %llu per character\n", (unsigned long long)total,
	       (unsigned long long)per);
	for (unsigned r = 0; r < rows && (uint64_t)r * cols * per < total; r++) {
		for (unsigned c = 0; c < cols; c++) {
			uint8_t v = worst(views, total, ((uint64_t)r * cols + c) * per, per);
			putchar(v == COLOR_BEYOND ? ' ' : glyph[v]);
		}
		putchar('\n');
	}
}

int pool_picture(const char *mountpoint, const char *png_path, unsigned width)
{
	uint64_t total = 0, count[DAXFS_VIEW_COUNT] = { 0 };
	uint8_t *views = read_views(mountpoint, &total);
	int rc = 0;

	if (!views)
		return 1;
	for (uint64_t i = 0; i < total; i++)
		count[views[i] < DAXFS_VIEW_COUNT ? views[i] : 0]++;
	if (png_path)
		rc = write_png(png_path, views, total, width);
	else
		draw_text(views, total);
	for (int v = 0; v < DAXFS_VIEW_COUNT; v++)
		printf("  %c %-18s %llu\n", glyph[v], names[v], (unsigned long long)count[v]);
	free(views);
	return rc;
}
