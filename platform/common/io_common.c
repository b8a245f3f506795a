/*
 * platform/common/io_common.c: the parts of plat_io.h that are the same on every OS (see
 * io_common.h for the split): the one table of error texts, argument checks, and the bookkeeping
 * of a batch that does not depend on how its transfers reach the OS. Compiled on every OS; it
 * includes no OS header.
 */
#include "io_common.h"

#include <assert.h>

/* ---- Errors ------------------------------------------------------------------------------- */

/* The one table of texts for every code the platform returns (plat.h's and plat_io.h's). Where
 * the OSes differ (PLAT_EPERM happens on Windows alone; the mapping budget is Linux's), the text
 * says which. */
const char *plat_io_strerror(int err)
{
    switch (err) {
    case PLAT_OK:
        return "success";
    case PLAT_EINVAL:
        return "invalid argument (flags, range, or misaligned direct I/O)";
    case PLAT_ENXIO:
        return "frame number not owned by this process";
    case PLAT_EADDRNOTAVAIL:
        return "address is not a window base, or the wanted range is taken";
    case PLAT_EPERM:
        return "AWE frames are not available: the \"Lock pages in memory\" privilege is not "
               "held (Windows: secpol.msc > Local Policies > User Rights Assignment > Lock pages "
               "in memory, then log off and on), or the system has only AWE stubs (Wine)";
    case PLAT_ENOMEM:
        return "out of memory, or the kernel mapping budget (Linux's vm.max_map_count)";
    case PLAT_EDQUOT:
        return "the process frame limit is already reached";
    case PLAT_EFAULT:
        return "a NULL pointer where memory is needed";
    case PLAT_ENOTSUP:
        return "not supported here";
    case PLAT_EIO:
        return "the operating system or the device failed";
    case PLAT_ENOENT:
        return "no such file";
    case PLAT_EEXIST:
        return "the file exists";
    case PLAT_EACCES:
        return "permission denied (or the file is open read-only)";
    case PLAT_EISDIR:
        return "the path names a directory";
    case PLAT_EBUSY:
        return "another open file holds the file's write lock";
    case PLAT_ENOSPC:
        return "no space left on the device";
    case PLAT_EFBIG:
        return "beyond the largest file the file system allows";
    case PLAT_EMFILE:
        return "too many open files";
    default:
        return "unknown error";
    }
}

/* ---- Arguments ---------------------------------------------------------------------------- */

int io_check_args(size_t align, const void *buf, size_t len, uint64_t off)
{
    if (len == 0)
        return 0;
    if (buf == NULL)
        return PLAT_EFAULT;
    if (off > OFF_LIMIT || (uint64_t)len > OFF_LIMIT - off)
        return PLAT_EINVAL;
    if (((uintptr_t)buf | len | off) & (align - 1))
        return PLAT_EINVAL;
    return 0;
}

/* ---- Batches ------------------------------------------------------------------------------ */

size_t io_batch_check(struct plat_io *ios, size_t n, bool readonly_write, size_t align)
{
    size_t pending = 0;

    for (size_t i = 0; i < n; i++) {
        struct plat_io *io = &ios[i];

        io->result = readonly_write ? PLAT_EACCES : io_check_args(align, io->buf, io->len, io->off);
        if (io->result == 0 && io->len > 0) {
            io->result = RESULT_PENDING;
            pending++;
        }
    }
    return pending;
}

size_t io_next_entry(struct io_cursor *c, const struct io_prog *prog)
{
    size_t i = c->redo;

    if (i != NO_ENTRY) {
        c->redo = prog[i].next;
        return i;
    }
    while (c->cursor < c->n && c->ios[c->cursor].result != RESULT_PENDING)
        c->cursor++;
    return c->cursor < c->n ? c->cursor++ : NO_ENTRY;
}

bool io_more_entries(struct io_cursor *c)
{
    while (c->cursor < c->n && c->ios[c->cursor].result != RESULT_PENDING)
        c->cursor++;
    return c->redo != NO_ENTRY || c->cursor < c->n;
}

int io_batch_result(const struct plat_io *ios, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert(ios[i].result <= 0);
        if (ios[i].result != 0)
            return ios[i].result;
    }
    return 0;
}
