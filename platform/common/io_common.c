/*
 * platform/common/io_common.c: the parts of plat_io.h that are the same on every OS (see
 * io_common.h for the split): argument checks, and the bookkeeping of a batch that does not
 * depend on how its transfers reach the OS. Compiled on every OS; it includes no OS header. The
 * texts of the error codes are common/errors.c's.
 */
#include "io_common.h"

#include <assert.h>

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
