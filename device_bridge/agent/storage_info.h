// The block device under a directory and its request-queue settings, for the `info` record:
// stat(dir).st_dev -> /sys/dev/block/MAJ:MIN, then from a partition to its disk and from a
// device-mapper or md device (Android's encrypted /data) through its slaves/ to the disk that
// holds it, whose queue/ files say how reads are scheduled.
#pragma once

#include <filesystem>

#include "record_writer.h"

namespace darkroom::agent {

// {path, filesystem, mount_device, stack, device, rotational, scheduler, read_ahead_kb,
//  nr_requests, logical_block_bytes, physical_block_bytes, max_sectors_kb, free_bytes,
//  total_bytes} (device fields null when the directory is on no block device, e.g. tmpfs).
Json storageInfo(const std::filesystem::path& dir);

}  // namespace darkroom::agent
