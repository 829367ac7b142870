/* Total memory without generating and parsing /proc/meminfo, where that is provably
 * the same number.  Header-only, included by _core.pyx. */
#ifndef SF_MEM_H
#define SF_MEM_H

#include <sys/vfs.h>
#include <sys/sysinfo.h>

#define SF_PROC_SUPER_MAGIC 0x9fa0

/* MemTotal of /proc/meminfo in bytes, taken from sysinfo(2): returns 1 with *bytes set
 * when `path` is a file of the kernel's own procfs, else 0 (LXCFS's FUSE file, a file
 * bind-mounted over it, a test tree, a failed call) and the caller reads the file.
 * procfs prints MemTotal as totalram_pages() << (PAGE_SHIFT - 10) kB, and sysinfo(2)
 * reports the same counter as totalram * mem_unit bytes: equal to the byte. */
static int sf_procfs_memtotal(const char *path, unsigned long long *bytes)
{
    struct statfs fs;
    struct sysinfo si;
    unsigned __int128 total;

    if (statfs(path, &fs) != 0 || fs.f_type != SF_PROC_SUPER_MAGIC)
        return 0;
    if (sysinfo(&si) != 0 || si.mem_unit == 0)
        return 0;
    total = (unsigned __int128)si.totalram * si.mem_unit;
    if (total >> 64)
        return 0;
    *bytes = (unsigned long long)total;
    return 1;
}

#endif
