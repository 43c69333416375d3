/* SPDX-License-Identifier: MIT */
/*
 * daxfs-stress --mixed-pins: WRITE and STABLE pins on shared blocks, with
 * writes that bounce and truncates that recall, and the oracle that no
 * store a device makes through a WRITE pin before its recall is lost
 * (mixed_pins.c).
 */
#ifndef DAXFS_MIXED_PINS_H
#define DAXFS_MIXED_PINS_H

#include "stress.h"

/* Through the mount o->mount_dir: o->devices devices, each for o->rounds
 * transfers (0: no limit) or o->seconds, whichever ends first, and
 * o->mutators mutators (at least one) until the devices are done.  Prints
 * one summary line; returns the exit code (0, 1 on a violation, 2 on a
 * setup error). */
int mixed_pins_run(const struct stress_opts *o);

#endif
