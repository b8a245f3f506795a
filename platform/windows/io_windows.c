/*
 * platform/windows/io_windows.c: files for the page cache on Windows (platform/plat_io.h). The
 * file mapping and cache dropping of plat_proc.h are filemap_windows.c's (awecache_platform_tool).
 *
 * Layout
 * ------
 *
 *   struct plat_file
 *   +-- h           CreateFileW, FILE_FLAG_OVERLAPPED; FILE_FLAG_NO_BUFFERING when direct;
 *   |               writable: holds the write lock (LockFileEx on one byte, see below)
 *   +-- mu -------> free_slots: slot -> slot -> NULL
 *                               each slot: QUEUE_DEPTH OVERLAPPED structures, a manual-reset
 *                               event for each, and the per-entry progress of the batch on it
 *
 * A batch (and a single read or write, which is a batch of one) takes a slot off the free list
 * (making one when the list is empty), runs on it alone and puts it back, so that batches from
 * different threads never share an OVERLAPPED or an event; the list grows to the number of
 * batches that ever ran at once, and the lock is held only to pop and push. A batch keeps up to
 * `depth` transfers in flight (QUEUE_DEPTH, or 1 with PLAT_FILE_NO_URING) and waits for the
 * oldest first. plat_file_info.uring is always false on Windows; queue_depth says what a batch
 * keeps in flight.
 *
 * The write lock. Linux's flock is advisory; Windows' byte-range locks are mandatory: a locked
 * byte cannot be read or written through another handle. So the lock covers one byte at offset
 * INT64_MAX, which no transfer can reach (plat_io.h: off + len <= INT64_MAX), and only opens
 * that take the lock conflict, in this process or another, as with flock. Windows releases it
 * when the handle closes, also when the process dies.
 *
 * Opening (plat_file_open), in steps:
 *   1. Check the flags; turn the UTF-8 path into UTF-16 (invalid UTF-8 is PLAT_EINVAL).
 *   2. Open with sharing for read, write and delete (the lock, not sharing, keeps writers
 *      apart). With CREATE and without EXCL: OPEN_EXISTING first, else CREATE_NEW, so we know
 *      whether this open created the file (a failed open later removes it); a file created
 *      meanwhile by someone else is opened. DIRECT adds FILE_FLAG_NO_BUFFERING; a file system
 *      that refuses it (ERROR_INVALID_PARAMETER) is opened buffered. A directory cannot be
 *      opened this way (ERROR_ACCESS_DENIED): its attributes tell PLAT_EISDIR from PLAT_EACCES.
 *   3. The type: a directory is PLAT_EISDIR; anything but a disk file is PLAT_EINVAL (block
 *      devices, \\.\PhysicalDriveN, are not supported here: block_device is always false).
 *   4. Writable: the lock (ERROR_LOCK_VIOLATION: another open holds it: PLAT_ELOCKED).
 *   5. Direct: the alignment is the larger of the volume's logical sector size and its physical
 *      sector size for performance (FileStorageInfo, Windows 8), else the bytes per sector of
 *      GetDiskFreeSpaceW, else 4096; buffers, offsets and lengths must be multiples of it.
 *
 * What Windows does differently:
 *   - new files get the directory's inherited ACL, not mode 0600 less the umask;
 *   - the first sync of a created file does not sync its directory: Windows has no such call
 *     for an unprivileged process (NTFS logs the name in its journal);
 *   - sync on a read-only handle does nothing (FlushFileBuffers needs write access; nothing was
 *     written through that handle);
 *   - a file with a mapped view (plat_file_map) cannot be resized (PLAT_ELOCKED).
 */
#include "io_windows.h"

#include "common/io_common.h"
#include "os_windows.h"
#include "plat_io.h"
#include "plat_sync.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* MAX_OP_BYTES (one ReadFile / WriteFile moves at most this), the alignments, OFF_LIMIT,
 * RESULT_PENDING, NO_ENTRY and struct io_prog: common/io_common.h */
#define QUEUE_DEPTH 64u       /* transfers in flight per batch */
#define LOCK_OFFSET OFF_LIMIT /* the byte the write lock covers */
/* SHARE_ALL: io_windows.h */

struct io_slot {
    struct io_slot *next;       /* free list link */
    OVERLAPPED ov[QUEUE_DEPTH]; /* one per transfer in flight */
    HANDLE ev[QUEUE_DEPTH];     /* manual-reset events of the first `depth` of them */
    size_t entry[QUEUE_DEPTH];  /* the entry ov[k] carries */
    struct io_prog *prog;       /* one per entry of the running batch */
    size_t prog_cap;            /* entries prog has room for */
};

/* struct plat_file is io_windows.h's (filemap_windows.c reads it too). */

/* The argument checks (io_check_args) are in common/io_common.c; plat_strerror, the one table of
 * texts, in common/errors.c (plat.h's PLAT_ERROR_MAP). */

/* ---- Slots -------------------------------------------------------------------------------- */

static void slot_free(struct io_slot *s)
{
    for (unsigned k = 0; k < QUEUE_DEPTH; k++)
        if (s->ev[k] != NULL)
            CloseHandle(s->ev[k]);
    free(s->prog);
    free(s);
}

/* Takes a slot for one batch: a free one, or a new one; NULL when none can be made. */
static struct io_slot *slot_take(struct plat_file *f)
{
    struct io_slot *s;

    plat_mutex_lock(&f->mu);
    s = f->free_slots;
    if (s != NULL)
        f->free_slots = s->next;
    plat_mutex_unlock(&f->mu);
    if (s != NULL)
        return s;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    for (unsigned k = 0; k < f->depth; k++) {
        s->ev[k] = CreateEventW(NULL, TRUE, FALSE, NULL);
        if (s->ev[k] == NULL) {
            slot_free(s);
            return NULL;
        }
    }
    return s;
}

static void slot_put(struct plat_file *f, struct io_slot *s)
{
    plat_mutex_lock(&f->mu);
    s->next = f->free_slots;
    f->free_slots = s;
    plat_mutex_unlock(&f->mu);
}

/* ---- Batches ------------------------------------------------------------------------------ */

/* One batch on one slot. */
struct batch {
    struct io_cursor q; /* the entries; the redo list holds short transfers */
    struct plat_file *f;
    struct io_slot *s;
    bool write;
    unsigned head;     /* the oldest transfer in flight: ov[head] */
    unsigned inflight; /* transfers in flight: ov[head], ov[head + 1], ... (mod depth) */
};

/* The next entry to start: a continuation first, then a new entry; NO_ENTRY if none. */
static size_t next_entry(struct batch *b)
{
    return io_next_entry(&b->q, b->s->prog);
}

/* Zero-fills the rest of entry i (a read that met the end of the file) and finishes it. */
static void read_to_eof(struct batch *b, size_t i)
{
    struct plat_io *io = &b->q.ios[i];
    size_t done = b->s->prog[i].done;

    memset((char *)io->buf + done, 0, io->len - done);
    io->result = 0;
}

/* Finishes entry i after one transfer: `err` is its Win32 error (0: it moved `moved` bytes).
 * A read that meets the end of the file (ERROR_HANDLE_EOF, zero bytes, or a direct read that
 * stops inside a sector, which only happens at the end of the file) reads zeros beyond it; a
 * short transfer goes on the redo list. */
static void complete_entry(struct batch *b, size_t i, DWORD err, DWORD moved)
{
    struct plat_io *io = &b->q.ios[i];
    struct io_prog *pg = &b->s->prog[i];

    if (err == ERROR_HANDLE_EOF && !b->write) {
        read_to_eof(b, i);
    } else if (err != 0) {
        io->result = os_to_plat(err);
    } else if (moved == 0) {
        if (b->write)
            io->result = PLAT_EIO; /* the system took nothing and said nothing */
        else
            read_to_eof(b, i);
    } else {
        pg->done += moved;
        if (pg->done == io->len) {
            io->result = 0;
        } else if (!b->write && b->f->direct && ((io->off + pg->done) & (b->f->align - 1)) != 0) {
            read_to_eof(b, i);
        } else {
            pg->next = b->q.redo;
            b->q.redo = i;
        }
    }
}

/* Starts the next part of entry i in the next free OVERLAPPED. A refusal at once finishes the
 * entry (an injected failure included: it fails the one entry that made it). */
static void start_entry(struct batch *b, size_t i)
{
    struct plat_io *io = &b->q.ios[i];
    size_t done = b->s->prog[i].done, left = io->len - done;
    DWORD chunk = (DWORD)(left < MAX_OP_BYTES ? left : MAX_OP_BYTES);
    uint64_t off = io->off + done;
    unsigned k = (b->head + b->inflight) % b->f->depth;
    OVERLAPPED *ov = &b->s->ov[k];
    DWORD err;

    ZeroMemory(ov, sizeof(*ov));
    ov->Offset = (DWORD)off;
    ov->OffsetHigh = (DWORD)(off >> 32);
    ov->hEvent = b->s->ev[k];
    err = os_start_io(b->f->h, (char *)io->buf + done, chunk, ov, b->write);
    if (err != 0) {
        complete_entry(b, i, err, 0);
        return;
    }
    b->s->entry[k] = i;
    b->inflight++;
}

/* Steps:
 *   1. Check every entry's arguments; entries that fail, or need no I/O, are finished now.
 *   2. Take a slot (none to be had: every pending entry fails with PLAT_ENOMEM).
 *   3. Start continuations, then new entries, until `depth` transfers are in flight.
 *   4. Wait for the oldest (GetOverlappedResult) and finish it: done, failed, end of file, or
 *      short (continued in step 3). Repeat from step 3 until nothing is in flight.
 *   5. Return the result of the lowest-indexed entry that failed. */
static int batch(struct plat_file *f, struct plat_io *ios, size_t n, bool write)
{
    struct batch b = {{ios, n, 0, NO_ENTRY}, f, NULL, write, 0, 0};
    size_t pending, i;

    if (f == NULL || (ios == NULL && n > 0))
        return PLAT_EFAULT;
    /* Step 1 */
    pending = io_batch_check(ios, n, write && f->readonly, f->align);
    /* Step 2 */
    if (pending > 0) {
        b.s = slot_take(f);
        if (b.s != NULL && b.s->prog_cap < n) {
            struct io_prog *p = realloc(b.s->prog, n * sizeof(*p));

            if (p == NULL) {
                slot_put(f, b.s);
                b.s = NULL;
            } else {
                b.s->prog = p;
                b.s->prog_cap = n;
            }
        }
        if (b.s == NULL) {
            for (i = 0; i < n; i++)
                if (ios[i].result == RESULT_PENDING)
                    ios[i].result = PLAT_ENOMEM;
            pending = 0;
        }
    }
    if (pending > 0) {
        for (i = 0; i < n; i++)
            b.s->prog[i].done = 0;
        for (;;) {
            /* Step 3 */
            while (b.inflight < f->depth && (i = next_entry(&b)) != NO_ENTRY)
                start_entry(&b, i);
            if (b.inflight == 0)
                break;
            /* Step 4 */
            {
                unsigned k = b.head;
                DWORD moved = 0, err = 0;

                if (!GetOverlappedResult(f->h, &b.s->ov[k], &moved, TRUE))
                    err = GetLastError();
                b.head = (b.head + 1) % f->depth;
                b.inflight--;
                complete_entry(&b, b.s->entry[k], err, moved);
            }
        }
        slot_put(f, b.s);
    }
    /* Step 5 */
    return io_batch_result(ios, n);
}

int plat_file_read_batch(struct plat_file *f, struct plat_io *ios, size_t n)
{
    return batch(f, ios, n, false);
}

int plat_file_write_batch(struct plat_file *f, struct plat_io *ios, size_t n)
{
    return batch(f, ios, n, true);
}

int plat_file_read(struct plat_file *f, void *buf, size_t len, uint64_t off)
{
    struct plat_io io = {buf, len, off, 0};

    if (f == NULL)
        return PLAT_EFAULT;
    return batch(f, &io, 1, false);
}

int plat_file_write(struct plat_file *f, const void *buf, size_t len, uint64_t off)
{
    struct plat_io io = {(void *)(uintptr_t)buf, len, off, 0};

    if (f == NULL)
        return PLAT_EFAULT;
    if (f->readonly)
        return PLAT_EACCES;
    return batch(f, &io, 1, true);
}

/* ---- Open, close, size, sync -------------------------------------------------------------- */

#define KNOWN_FLAGS                                                                                \
    (PLAT_FILE_CREATE | PLAT_FILE_EXCL | PLAT_FILE_READONLY | PLAT_FILE_DIRECT | PLAT_FILE_NO_URING)

/* Step 1 of the open: the path in UTF-16, malloc'd. */
static int widen(const char *path, wchar_t **out)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
    wchar_t *w;

    if (n <= 0)
        return PLAT_EINVAL;
    w = malloc((size_t)n * sizeof(*w));
    if (w == NULL)
        return PLAT_ENOMEM;
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n) != n) {
        free(w);
        return PLAT_EINVAL;
    }
    *out = w;
    return 0;
}

/* Step 2 of the open: opens or creates wpath; *created says whether this call created it.
 * Returns 0 or a Win32 error. */
static DWORD open_path(const wchar_t *wpath, unsigned flags, DWORD attrs, HANDLE *h, bool *created)
{
    DWORD access = GENERIC_READ | ((flags & PLAT_FILE_READONLY) ? 0 : GENERIC_WRITE);
    DWORD err;

    *created = false;
    for (;;) {
        if (!(flags & PLAT_FILE_EXCL)) {
            err = os_create_file(wpath, access, SHARE_ALL, OPEN_EXISTING, attrs, h);
            if (err != ERROR_FILE_NOT_FOUND || !(flags & PLAT_FILE_CREATE))
                return err;
        }
        err = os_create_file(wpath, access, SHARE_ALL, CREATE_NEW, attrs, h);
        if (err == 0)
            *created = true;
        if ((err != ERROR_FILE_EXISTS && err != ERROR_ALREADY_EXISTS) || (flags & PLAT_FILE_EXCL))
            return err;
        /* Someone created it since we looked: open theirs. */
    }
}

/* Step 5 of the open: the alignment direct I/O needs on h. */
static size_t dio_alignment(HANDLE h, const wchar_t *wpath)
{
    FILE_STORAGE_INFO si;
    wchar_t root[MAX_PATH + 1];
    DWORD spc, bps, nfree, total;
    size_t a = DEF_DIO_ALIGN;

    if (GetFileInformationByHandleEx(h, FileStorageInfo, &si, sizeof(si))) {
        a = si.LogicalBytesPerSector > si.PhysicalBytesPerSectorForPerformance
                ? si.LogicalBytesPerSector
                : si.PhysicalBytesPerSectorForPerformance;
    } else if (GetVolumePathNameW(wpath, root, MAX_PATH + 1) &&
               GetDiskFreeSpaceW(root, &spc, &bps, &nfree, &total)) {
        a = bps;
    }
    if (a == 0 || (a & (a - 1)) != 0)
        a = DEF_DIO_ALIGN;
    return a < MIN_DIO_ALIGN ? MIN_DIO_ALIGN : a;
}

int plat_file_open(const char *path, unsigned flags, struct plat_file **out)
{
    struct plat_file *f;
    BY_HANDLE_FILE_INFORMATION bi;
    wchar_t *wpath = NULL;
    bool created = false, direct = (flags & PLAT_FILE_DIRECT) != 0;
    DWORD attrs, err;
    int rc;

    /* Step 1 */
    if (path == NULL || out == NULL)
        return PLAT_EFAULT;
    if ((flags & ~KNOWN_FLAGS) != 0 || ((flags & PLAT_FILE_EXCL) && !(flags & PLAT_FILE_CREATE)) ||
        ((flags & PLAT_FILE_CREATE) && (flags & PLAT_FILE_READONLY)))
        return PLAT_EINVAL;
    rc = widen(path, &wpath);
    if (rc != 0)
        return rc;
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        free(wpath);
        return PLAT_ENOMEM;
    }
    f->h = INVALID_HANDLE_VALUE;
    f->readonly = (flags & PLAT_FILE_READONLY) != 0;
    f->align = 1;
    f->depth = (flags & PLAT_FILE_NO_URING) ? 1 : QUEUE_DEPTH;
    rc = plat_mutex_init(&f->mu);
    if (rc != 0) {
        free(f);
        free(wpath);
        return rc;
    }

    /* Step 2 */
    attrs = FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED;
    err = open_path(wpath, flags, attrs | (direct ? FILE_FLAG_NO_BUFFERING : 0), &f->h, &created);
    if (err == ERROR_INVALID_PARAMETER && direct) {
        direct = false; /* the file system refuses unbuffered I/O: buffered */
        err = open_path(wpath, flags, attrs, &f->h, &created);
    }
    rc = os_to_plat(err);
    if (err == ERROR_ACCESS_DENIED) {
        DWORD a = GetFileAttributesW(wpath);

        if (a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY) != 0)
            rc = PLAT_EISDIR;
    }
    /* Step 3 */
    if (rc == 0) {
        if (!GetFileInformationByHandle(f->h, &bi))
            rc = PLAT_EINVAL; /* not something with file information: a device, a pipe */
        else if ((bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0)
            rc = PLAT_EISDIR;
        else if (GetFileType(f->h) != FILE_TYPE_DISK)
            rc = PLAT_EINVAL;
    }
    /* Step 4 */
    if (rc == 0 && !f->readonly) {
        rc = os_to_plat(os_lock_file(f->h, LOCK_OFFSET, 1));
        f->locked = rc == 0;
    }
    /* Step 5 */
    if (rc == 0 && direct) {
        f->direct = true;
        f->align = dio_alignment(f->h, wpath);
    }
    if (rc != 0) {
        if (f->h != INVALID_HANDLE_VALUE)
            CloseHandle(f->h);
        if (created)
            DeleteFileW(wpath);
        plat_mutex_destroy(&f->mu);
        free(f);
        free(wpath);
        return rc;
    }
    free(wpath);
    *out = f;
    return 0;
}

int plat_file_close(struct plat_file *f)
{
    BOOL ok;

    if (f == NULL)
        return 0;
    if (f->locked) {
        OVERLAPPED ov;

        ZeroMemory(&ov, sizeof(ov));
        ov.Offset = (DWORD)LOCK_OFFSET;
        ov.OffsetHigh = (DWORD)(LOCK_OFFSET >> 32);
        UnlockFileEx(f->h, 0, 1, 0, &ov); /* closing releases it anyway */
    }
    while (f->free_slots != NULL) {
        struct io_slot *s = f->free_slots;

        f->free_slots = s->next;
        slot_free(s);
    }
    ok = CloseHandle(f->h);
    plat_mutex_destroy(&f->mu);
    free(f);
    return ok ? 0 : PLAT_EIO;
}

int plat_file_get_info(struct plat_file *f, struct plat_file_info *out)
{
    uint64_t size;
    DWORD err;

    if (f == NULL || out == NULL)
        return PLAT_EFAULT;
    err = os_file_size(f->h, &size);
    if (err != 0)
        return os_to_plat(err) == PLAT_ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    memset(out, 0, sizeof(*out));
    out->size = size;
    out->max_size = OFF_LIMIT; /* NTFS and ReFS hold files far past any page number in use */
    out->align = f->align;
    out->queue_depth = f->depth;
    out->direct = f->direct;
    out->uring = false; /* Windows: overlapped I/O, queue_depth in flight */
    out->block_device = false;
    out->readonly = f->readonly;
    return 0;
}

int plat_file_resize(struct plat_file *f, uint64_t size)
{
    if (f == NULL)
        return PLAT_EFAULT;
    if (f->readonly)
        return PLAT_EACCES;
    if (size > OFF_LIMIT)
        return PLAT_EINVAL;
    return os_to_plat(os_set_file_size(f->h, size));
}

int plat_file_sync(struct plat_file *f)
{
    int rc;

    if (f == NULL)
        return PLAT_EFAULT;
    if (f->readonly)
        return 0; /* nothing was written through this handle (and FlushFileBuffers needs write
                   * access) */
    rc = os_to_plat(os_flush_file(f->h));
    return rc == PLAT_EINVAL ? PLAT_ENOTSUP : rc;
}
