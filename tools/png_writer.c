/* SPDX-License-Identifier: MIT */
#include "png_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int chunk(FILE *f, const char *type, const uint8_t *data, uint32_t len)
{
	uint8_t hdr[8], tail[4];

	put32(hdr, len);
	memcpy(hdr + 4, type, 4);
	uint32_t crc = crc_update(0xffffffffu, hdr + 4, 4);
	crc = crc_update(crc, data, len) ^ 0xffffffffu;
	put32(tail, crc);
	if (fwrite(hdr, 1, 8, f) != 8 || (len && fwrite(data, 1, len, f) != len) ||
	    fwrite(tail, 1, 4, f) != 4)
		return -1;
	return 0;
}

/* zlib stream of stored deflate blocks (each at most 65535 bytes). */
static uint8_t *zlib_stored(const uint8_t *raw, size_t n, size_t *out_len)
{
	size_t nblocks = n / 65535 + 1;
	uint8_t *z = malloc(2 + n + nblocks * 5 + 4), *p = z;
	uint32_t a = 1, b = 0;

	if (!z)
		return NULL;
	*p++ = 0x78;
	*p++ = 0x01;
	for (size_t off = 0;;) {
		size_t len = n - off < 65535 ? n - off : 65535;
		*p++ = off + len == n ? 1 : 0;
		*p++ = (uint8_t)len;
		*p++ = (uint8_t)(len >> 8);
		*p++ = (uint8_t)~len;
		*p++ = (uint8_t)(~len >> 8);
		memcpy(p, raw + off, len);
		p += len;
		off += len;
		if (off == n)
			break;
	}
	for (size_t i = 0; i < n; i++) {
		a = (a + raw[i]) % 65521;
		b = (b + a) % 65521;
	}
	put32(p, b << 16 | a);
	p += 4;
	*out_len = (size_t)(p - z);
	return z;
}

int png_write_palette(FILE *f, uint32_t width, uint32_t height, const uint8_t (*palette)[3],
		      unsigned ncolors, const uint8_t *pixels)
{
	static const uint8_t sig[8] = { 137, 'P', 'N', 'G', '\r', '\n', 26, '\n' };
	uint8_t ihdr[13], plte[256 * 3];
	size_t rowlen = (size_t)width + 1, zlen;
	int rc = -1;

	if (!width || !height || ncolors == 0 || ncolors > 256) {
		errno = EINVAL;
		return -1;
	}
	crc_init();
	uint8_t *raw = malloc(rowlen * height);
	if (!raw)
		return -1;
	for (uint32_t y = 0; y < height; y++) {
		raw[y * rowlen] = 0; /* filter: none */
		memcpy(raw + y * rowlen + 1, pixels + (size_t)y * width, width);
	}
	uint8_t *z = zlib_stored(raw, rowlen * height, &zlen);
	free(raw);
	if (!z)
		return -1;
	put32(ihdr, width);
	put32(ihdr + 4, height);
	ihdr[8] = 8; /* bit depth */
	ihdr[9] = 3; /* palette */
	ihdr[10] = ihdr[11] = ihdr[12] = 0;
	memcpy(plte, palette, ncolors * 3);
	if (fwrite(sig, 1, 8, f) == 8 && !chunk(f, "IHDR", ihdr, 13) &&
	    !chunk(f, "PLTE", plte, ncolors * 3) && !chunk(f, "IDAT", z, (uint32_t)zlen) &&
	    !chunk(f, "IEND", NULL, 0))
		rc = 0;
	free(z);
	return rc;
}
