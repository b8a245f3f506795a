/*
 * platform/windows/ramdisk_windows.c: plat_ramdisk.h on Windows: not supported. Windows has no
 * RAM disk a program can make and be sure to see gone when it is killed (ImDisk and the like
 * are drivers to install), so `awecache-bench --medium ram` says so and uses the disk.
 */
#include "plat_ramdisk.h"

#include <stdio.h>

int plat_ramdisk_create(uint64_t bytes, struct plat_ramdisk **out, char *why, size_t whylen)
{
    (void)bytes;
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "a RAM disk is not supported on Windows");
    if (out == NULL)
        return PLAT_EFAULT;
    *out = NULL;
    return PLAT_ENOTSUP;
}

/* No RAM disk can exist, so these are never called with one: they answer for NULL. */
const char *plat_ramdisk_dir(const struct plat_ramdisk *rd)
{
    (void)rd;
    return "";
}

const char *plat_ramdisk_describe(const struct plat_ramdisk *rd)
{
    (void)rd;
    return "";
}

uint64_t plat_ramdisk_size(const struct plat_ramdisk *rd)
{
    (void)rd;
    return 0;
}

int plat_ramdisk_destroy(struct plat_ramdisk *rd)
{
    (void)rd;
    return 0;
}
