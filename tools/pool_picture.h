/* SPDX-License-Identifier: MIT */
/* daxfs-ctl picture: the pool's blocks coloured by pfn state. */
#ifndef DAXFS_POOL_PICTURE_H
#define DAXFS_POOL_PICTURE_H

/* Writes a PNG to png_path, or draws on stdout when png_path is NULL.
 * Returns the exit status. */
int pool_picture(const char *mountpoint, const char *png_path, unsigned width);

#endif
