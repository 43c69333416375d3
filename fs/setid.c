/* SPDX-License-Identifier: MIT */
/* The set-id rules of setid.h. */
#include "setid.h"

bool setid_keeps_sgid(const struct daxfs_cred *cr, gid_t gid)
{
	if (!cr || !cr->lacks_fsetid || cr->gid == gid)
		return true;
	for (size_t i = 0; i < cr->ngroups; i++)
		if (cr->groups[i] == gid)
			return true;
	return false;
}

mode_t setid_bits_to_kill(mode_t mode, gid_t gid, const struct daxfs_cred *cr)
{
	mode_t kill = mode & S_ISUID;

	if (S_ISDIR(mode))
		return 0;
	/* With group execute the bit is a privilege, and goes whoever
	 * writes; without, it goes only from a writer outside the group. */
	if ((mode & S_ISGID) && ((mode & S_IXGRP) || !setid_keeps_sgid(cr, gid)))
		kill |= S_ISGID;
	return kill;
}
