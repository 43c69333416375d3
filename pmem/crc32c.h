/* SPDX-License-Identifier: MIT */
#ifndef DAXFS_CRC32C_H
#define DAXFS_CRC32C_H
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
