/* SPDX-License-Identifier: MIT */
/* A minimal PNG writer for palette images (no zlib needed: the image data
 * goes in stored, uncompressed deflate blocks). */
#ifndef DAXFS_PNG_WRITER_H
#define DAXFS_PNG_WRITER_H

#include <stdint.h>
#include <stdio.h>

/* pixels: width * height palette indices, row by row.  Returns 0 or -1 with
 * errno set. */
int png_write_palette(FILE *f, uint32_t width, uint32_t height, const uint8_t (*palette)[3],
		      unsigned ncolors, const uint8_t *pixels);

#endif
