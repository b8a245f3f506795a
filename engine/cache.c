/*
 * engine/cache.c: opening, flushing, closing, counters and error codes of a cache.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define MIN_PAGE       ((size_t)4096)
#define MAX_PAGE       ((size_t)2 << 20)
#define MAX_STAGE      64u
#define MAX_ROUND      1024u /* pages a write-back round writes at most (write_listed) */
#define ROUND_BOUNCE   ((size_t)4 << 20) /* copy mode: bytes a round's page copies take at most */
#define DEFAULT_WINDOW ((uint64_t)64 << 20) /* README 1.1: a window_budget of 0 */

/* Steps:
 * 1. An awecache code (AWC_ERROR_MAP; 0 among them) is passed through unchanged.
 * 2. An AWE or platform code becomes the awecache code for the same condition: the platform's
 *    "file locked by another writer" is AWC_ELOCKED, the frame limit and the open-file limit are
 *    AWC_ENOMEM, a directory is AWC_EINVAL. The codes awecache.h shares with awe.h and plat.h
 *    (EINVAL, ENOMEM, EIO, ENOSPC, ENOENT, EEXIST, EACCES, EPERM, EFBIG) mean the same in every
 *    namespace, so step 1 passed them through.
 * 3. Anything else (a frame or window the engine got wrong, a NULL, an unsupported feature, an
 *    unknown value) is the engine's I/O failing: AWC_EIO. */
int eng_err(int rc)
{
    /* Step 1 */
    switch (rc) {
#define AWC_SAME_(name, value, text) case AWC_##name:
        AWC_ERROR_MAP(AWC_SAME_)
#undef AWC_SAME_
        return rc;
    default:
        break;
    }

    /* Step 2 */
    switch (rc) {
    case PLAT_ELOCKED:
        return AWC_ELOCKED;
    case PLAT_EDQUOT:
    case PLAT_EMFILE:
        return AWC_ENOMEM;
    case PLAT_EISDIR:
        return AWC_EINVAL;
    default:
        /* Step 3 */
        return AWC_EIO;
    }
}

/* Closed handles stay allocated (a late call on one must see AWC_ECLOSED) and on this list, so
 * that a leak checker finds them reachable. */
static struct awc *_Atomic closed_handles;

int eng_check(const struct awc *c)
{
    if (c == NULL)
        return AWC_EINVAL;
    return c->magic == AWC_MAGIC ? AWC_OK : AWC_ECLOSED;
}

AWC_API const char *awc_strerror(int err)
{
    switch (err) {
#define AWC_TEXT_(name, value, text)                                                               \
    case AWC_##name:                                                                               \
        return text;
        AWC_ERROR_MAP(AWC_TEXT_)
#undef AWC_TEXT_
    default:
        return awe_strerror(err); /* an AWE_E* code, or "unknown error" */
    }
}

AWC_API const char *awc_err_name(int err)
{
    switch (err) {
#define AWC_NAME_(name, value, text)                                                               \
    case AWC_##name:                                                                               \
        return "AWC_" #name;
        AWC_ERROR_MAP(AWC_NAME_)
#undef AWC_NAME_
    default:
        return awe_err_name(err); /* an AWE_E* code's name, or "unknown" */
    }
}

static unsigned log2u(size_t v)
{
    unsigned s = 0;

    while (((size_t)1 << s) < v)
        s++;
    return s;
}

/* Releases whatever open() had set up; `c` itself stays (a closed handle). */
static void teardown(struct awc *c)
{
    if (c->window != NULL)
        awe_window_release(c->window);
    if (c->frames != NULL) {
        size_t n = c->nframes;

        if (n > 0)
            awe_frames_free(&n, c->frames);
    }
    file_close(c);
    table_free(c);
    free(c->frames);
    free(c->bufs);
    free(c->slots);
    c->window = NULL;
    c->frames = NULL;
    c->bufs = NULL;
    c->slots = NULL;
    plat_mutex_destroy(&c->mu);
    plat_mutex_destroy(&c->flush_mu);
    plat_mutex_destroy(&c->ck_mu);
}

/* The slots a remapping window may have (README 1): each can cost a VMA, and half the kernel
 * mapping budget is left to the rest of the process, less the staging slots. */
static uint64_t vma_clamp(const struct awe_caps *caps, uint64_t nslot)
{
    uint64_t limit;

    if (caps->vma_budget == 0)
        return nslot;
    limit = caps->vma_budget / 2 > MAX_STAGE + 8 ? caps->vma_budget / 2 - MAX_STAGE - 8 : 1;
    return nslot < limit ? nslot : limit;
}

/* Copy mode needs the platform to copy frames without mapping them (awe_frames_read: Linux; not
 * Windows' native AWE). Where it cannot, the slots' frames become buffers again and the window
 * goes back to remapping, clamped to the kernel mapping budget as in step 2. */
static int copy_mode_probe(struct awc *c, const struct awe_caps *caps, uint64_t *nbuf,
                           uint64_t *nslot, size_t *window_bytes)
{
    void *probe = malloc(c->awe_page);
    int rc;

    if (probe == NULL)
        return AWC_ENOMEM;
    rc = awe_frames_read(c->frames, 1, probe);
    free(probe);
    if (rc == AWE_OK) {
        c->copy = 1;
        return AWC_OK;
    }
    if (rc != AWE_ENOTSUP)
        return eng_err(rc);
    *nbuf += *nslot;
    *nslot = vma_clamp(caps, *nslot);
    c->nbuf = *nbuf;
    c->nslot = *nslot;
    *window_bytes = (size_t)((*nslot + c->nstage) * c->page_size);
    return AWC_OK;
}

/* Identity mode (README 4.4): the window is as large as the frames, so every buffer is shown in
 * its own slot, mapped once at open (frames allocated together are consecutive: a run or a few)
 * and never changed. Where the platform refuses that mapping (its mapping budget), the window
 * goes back to remapping, clamped to the budget as in step 2. */
static void identity_probe(struct awc *c, const struct awe_caps *caps, uint64_t *nslot)
{
    if (awe_map(c->window, (size_t)(c->nbuf * c->k), c->frames) == AWE_OK) {
        c->identity = 1;
        return;
    }
    *nslot = vma_clamp(caps, *nslot);
    c->nslot = *nslot;
}

/* The window of a configuration that leaves it to the cache (README 1.1): as large as the frames
 * up to 64 MiB of them (identity mode, 4.4), else a quarter of them up to 64 MiB (copy mode,
 * 4.3, where the platform copies). */
static uint64_t default_window(uint64_t frame_budget)
{
    if (frame_budget <= DEFAULT_WINDOW)
        return frame_budget;
    return frame_budget / 4 < DEFAULT_WINDOW ? frame_budget / 4 : DEFAULT_WINDOW;
}

/* Steps:
 * 1. Check the configuration (README 1): page size, budgets (a window of 0: default_window),
 *    flags.
 * 2. Size the window to the kernel mapping budget: each slot can cost one VMA, and half the
 *    budget is left to the rest of the process (other caches, other AWE users).
 * 3. Open the backing file (file_open: format, superblocks, checksums).
 * 4. Allocate every frame (committed) and reserve the window with its staging slots.
 * 5. Build the descriptors and the page table. */
AWC_API int awc_open(const struct awc_config *cfg, awc_t **out)
{
    struct awe_caps caps;
    struct awc *c;
    uint64_t nbuf, nslot, window;
    size_t nframes = 0, got, frame_bytes = 0, window_bytes = 0; /* set in step 4 */
    bool copy, identity;
    int rc;

    /* Step 1 */
    if (cfg == NULL || out == NULL || cfg->path == NULL || cfg->path[0] == '\0')
        return AWC_EINVAL;
    if (cfg->page_size < MIN_PAGE || cfg->page_size > MAX_PAGE ||
        (cfg->page_size & (cfg->page_size - 1)) != 0)
        return AWC_EINVAL;
    if ((cfg->flags & ~(AWC_CREATE | AWC_EXCL | AWC_READONLY | AWC_NO_DIRECT | AWC_NO_URING |
                        AWC_CLOCK_COMPAT | AWC_MAP_WINDOW)) != 0 ||
        ((cfg->flags & AWC_EXCL) && !(cfg->flags & AWC_CREATE)) ||
        ((cfg->flags & AWC_READONLY) && (cfg->flags & AWC_CREATE)))
        return AWC_EINVAL;
    nbuf = cfg->frame_budget / cfg->page_size;
    window = cfg->window_budget != 0 ? cfg->window_budget : default_window(cfg->frame_budget);
    nslot = window / cfg->page_size;
    if (nbuf == 0 || nslot == 0 || window > cfg->frame_budget || nbuf >= NO_BUF)
        return AWC_EINVAL;
    rc = awe_get_caps(&caps);
    if (rc != AWE_OK)
        return eng_err(rc);
    if (cfg->page_size % caps.page_size != 0)
        return AWC_EINVAL;

    /* Step 2: copy mode (README 4.3) when the window is at most a quarter of the frames: the
     * slots get frames of their own out of the budget, mapped once (one run, one VMA); identity
     * mode (README 4.4) when it is as large as the frames; else the window is clamped to the
     * kernel mapping budget. */
    copy = nslot <= nbuf / 4 && (cfg->flags & (AWC_MAP_WINDOW | AWC_CLOCK_COMPAT)) == 0;
    identity = nslot == nbuf; /* README 4.4: each buffer shown in its own slot, for good */
    if (copy)
        nbuf -= nslot;
    else if (!identity)
        nslot = vma_clamp(&caps, nslot);

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return AWC_ENOMEM;
    c->flags = cfg->flags;
    c->usage_max = ((cfg->flags & AWC_CLOCK_COMPAT) != 0 ? 1 : USAGE_MAX) * ST_USAGE_ONE;
    c->page_size = cfg->page_size;
    c->page_shift = log2u(cfg->page_size);
    c->awe_page = caps.page_size;
    c->k = cfg->page_size / caps.page_size;
    c->nbuf = nbuf;
    c->nslot = nslot;
    c->nstage = nbuf < MAX_STAGE ? nbuf : MAX_STAGE;
    plat_mutex_init(&c->mu);
    plat_mutex_init(&c->flush_mu);
    plat_mutex_init(&c->ck_mu);

    /* Step 3 */
    rc = file_open(c, cfg);

    /* Step 4: the frame list and the window must fit the address space (size_t is 32 bits in a
     * 32-bit build, whose frames may still total far more than 4 GiB). */
    if (rc == AWC_OK && ((nbuf + (copy ? nslot : 0)) * c->k > caps.frame_limit ||
                         !eng_size_mul(nbuf + (copy ? nslot : 0), c->k, &nframes) ||
                         !eng_size_mul(nframes, sizeof(*c->frames), &frame_bytes) ||
                         !eng_size_mul(nslot + c->nstage, c->page_size, &window_bytes)))
        rc = AWC_ENOMEM;
    if (rc == AWC_OK) {
        c->frames = malloc(frame_bytes);
        rc = c->frames == NULL ? AWC_ENOMEM : AWC_OK;
    }
    if (rc == AWC_OK) {
        got = nframes;
        rc = eng_err(awe_frames_alloc(&got, c->frames, AWE_FRAMES_POPULATE, -1));
        if (rc == AWC_OK && got < nframes) {
            if (got > 0)
                awe_frames_free(&got, c->frames);
            rc = AWC_ENOMEM;
        }
        if (rc != AWC_OK) {
            free(c->frames);
            c->frames = NULL;
        } else {
            c->nframes = nframes;
        }
    }
    if (rc == AWC_OK && copy)
        rc = copy_mode_probe(c, &caps, &nbuf, &nslot, &window_bytes);
    if (rc == AWC_OK)
        rc = eng_err(
            awe_window_reserve(NULL, window_bytes, AWE_WINDOW_POPULATE, (void **)&c->window));
    if (rc == AWC_OK && c->copy) /* every slot shows its own frames, for good: one run */
        rc = eng_err(awe_map(c->window, (size_t)(nslot * c->k), c->frames + nbuf * c->k));
    if (rc == AWC_OK && identity)
        identity_probe(c, &caps, &nslot);

    /* Step 5 */
    if (rc == AWC_OK) {
        c->bufs = calloc((size_t)nbuf, sizeof(*c->bufs));
        c->slots = calloc((size_t)nslot, sizeof(*c->slots));
        rc = c->bufs == NULL || c->slots == NULL ? AWC_ENOMEM : table_init(c);
    }
    if (rc != AWC_OK) {
        teardown(c);
        free(c);
        return rc;
    }
    for (uint64_t i = 0; i < nbuf; i++)
        atomic_store_explicit(&c->bufs[i].page, NO_PAGE, memory_order_relaxed);
    for (uint64_t i = 0; i < nslot; i++)
        c->slots[i].buf = NO_BUF;
    for (uint64_t i = 0; c->identity && i < nbuf; i++) {
        atomic_store_explicit(&c->bufs[i].state, ST_MAPPED | (i << ST_SLOT_SHIFT),
                              memory_order_relaxed);
        c->slots[i].buf = (uint32_t)i;
    }
    c->slot_fill = c->identity ? nslot : 0;
    c->magic = AWC_MAGIC;
    *out = c;
    return AWC_OK;
}

/* ---- Flush (README 5.5) ------------------------------------------------------------------ */

/* How the flush holds a listed buffer. */
#define HELD_BUSY   1 /* unpinned: taken BUSY, so nothing else touches it */
#define HELD_PIN    2 /* pinned by others: the flush adds a pin of its own, so it stays mapped */
#define HELD_FAILED 4 /* flag: its write failed, so it is dirty again when let go */

/* The pages of write_listed's bounce area: one for each listed page written from a copy (a pinned
 * one; in copy mode one in no slot), up to what one round may copy: the nstage staging slots'
 * worth, in copy mode ROUND_BOUNCE (a full round of 4 KiB pages), and never more than a
 * round's `cap` pages. 0 when nothing needs a copy (the remapping window's unpinned round). The
 * listed buffers are held, so that none enters or leaves a slot meanwhile. */
static size_t bounce_pages(const struct awc *c, const uint32_t *bl, const uint8_t *held, size_t n,
                           size_t cap)
{
    size_t want = 0, limit = (size_t)c->nstage;

    if (c->copy && (ROUND_BOUNCE >> c->page_shift) > limit)
        limit = ROUND_BOUNCE >> c->page_shift;
    if (limit > cap)
        limit = cap;
    for (size_t i = 0; i < n && want < limit; i++) {
        uint64_t s = atomic_load_explicit(&c->bufs[bl[i]].state, memory_order_acquire);

        want += held[i] == HELD_PIN || (c->copy && (s & ST_MAPPED) == 0);
    }
    return want;
}

/* Writes the dirty buffers listed in bl[0..n), all held the same way (README 5.5), in rounds of up
 * to MAX_ROUND pages, one file_write_pages each (the round's checksum blocks in one batch, then
 * its pages in one batch). Where each page is written from:
 * - a buffer held BUSY that is shown in a slot: the slot;
 * - one held BUSY in no slot, in copy mode (README 4.3 item 4): a copy of its frames in the
 *   bounce area (eng_write_source: awe_frames_read, no mapping change, so no TLB shootdown for
 *   the process's other threads, README 10); a copy that fails fails that page alone;
 * - one held BUSY in no slot, in the remapping window: its frames mapped in a staging slot (one
 *   awe_map_scatter for the round's, unmapped after the round: a slot may need the frames);
 * - a pinned one: a copy in the bounce area taken under its content latch, taken shared without
 *   waiting, so that no writer changes it while it is copied and the checksum and the data
 *   written agree. A page the calling thread itself holds exclusively is copied without the
 *   latch (nobody else can write it). A page another thread holds exclusively is left dirty for
 *   a later flush: it is being changed in place, so no consistent copy of it exists, and waiting
 *   for it could deadlock (its holder may be waiting for this flush, or for a page this thread
 *   holds).
 * A round ends early at the first page that finds the bounce area (bounce_pages) or the nstage
 * staging slots used up. Every page that can be written is: a page whose copy or write fails is
 * marked HELD_FAILED in held[] (and stays dirty), the others go on; the first error is
 * returned. Caller holds flush_mu and no BUSY. */
static int write_listed(struct awc *c, const uint32_t *bl, uint8_t *held, size_t n)
{
    size_t cap = n < MAX_ROUND ? (n > 0 ? n : 1) : MAX_ROUND;
    size_t nb = bounce_pages(c, bl, held, n, cap);
    bool staging = !c->copy && !c->identity; /* only the remapping window maps to write */
    uint64_t *pages = malloc(cap * sizeof(*pages));
    void **addrs = malloc(cap * sizeof(*addrs));
    size_t *from = malloc(cap * sizeof(*from));
    int *prc = malloc(cap * sizeof(*prc));
    void **vas = staging ? malloc(c->nstage * c->k * sizeof(*vas)) : NULL;
    awe_frame_t *fr = staging ? malloc(c->nstage * c->k * sizeof(*fr)) : NULL;
    char *bounce = nb > 0 ? plat_aligned_alloc(c->page_size, nb * c->page_size) : NULL;
    char *stage = c->window + (c->nslot << c->page_shift);
    int rc = AWC_OK;

    plat_mutex_assert_held(&c->flush_mu);
    plat_mutex_assert_not_held(&c->mu); /* README 7: I/O with no cache lock held */
    if (pages == NULL || addrs == NULL || from == NULL || prc == NULL ||
        (staging && (vas == NULL || fr == NULL)) || (nb > 0 && bounce == NULL)) {
        for (size_t i = 0; i < n; i++)
            held[i] |= HELD_FAILED;
        rc = AWC_ENOMEM;
        n = 0;
    }
    for (size_t i = 0; i < n;) {
        size_t m = 0, nmap = 0, nbounce = 0;
        int crc = AWC_OK;

        /* A round: up to MAX_ROUND pages, of which at most nb copied and nstage staged. */
        for (; i < n && m < cap; i++) {
            struct buf *b = &c->bufs[bl[i]];
            uint64_t s = atomic_load_explicit(&b->state, memory_order_acquire);
            bool shown = (s & ST_MAPPED) != 0;
            bool copied = held[i] == HELD_PIN || (c->copy && !shown);
            char *at = c->window + (ST_SLOT(s) << c->page_shift);

            if (copied ? nbounce == nb : !shown && nmap == c->nstage)
                break; /* the round is full: this page opens the next one */
            if (held[i] == HELD_PIN) {
                bool latched = latch_try_shared(b);

                if (!latched &&
                    atomic_load_explicit(&b->xowner, memory_order_relaxed) != eng_thread_id())
                    continue; /* held exclusively by another thread: a later flush writes it */
                atomic_fetch_and_explicit(&b->state, ~ST_DIRTY, memory_order_acq_rel);
                memcpy(bounce + nbounce * c->page_size, at, c->page_size);
                if (latched)
                    latch_release(b);
                addrs[m] = bounce + nbounce++ * c->page_size;
            } else if (copied) {
                int r = eng_write_source(c, bl[i], bounce + nbounce * c->page_size, &addrs[m]);

                if (r != AWC_OK) {
                    held[i] |= HELD_FAILED; /* its frames could not be read: it stays dirty */
                    if (rc == AWC_OK)
                        rc = r;
                    continue;
                }
                nbounce++;
            } else if (shown) {
                addrs[m] = at;
            } else {
                assert(staging);
                for (size_t f = 0; f < c->k; f++) {
                    vas[nmap * c->k + f] = stage + (nmap << c->page_shift) + f * c->awe_page;
                    fr[nmap * c->k + f] = c->frames[(size_t)bl[i] * c->k + f];
                }
                addrs[m] = stage + (nmap++ << c->page_shift);
            }
            pages[m] = atomic_load_explicit(&b->page, memory_order_relaxed);
            from[m++] = i;
        }
        if (nmap > 0) {
            crc = eng_err(awe_map_scatter(vas, nmap * c->k, fr));
            if (crc == AWC_OK) {
                atomic_fetch_add_explicit(&c->map_calls, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&c->pages_mapped, nmap, memory_order_relaxed);
            }
        }
        if (crc == AWC_OK && m > 0) {
            crc = file_write_pages(c, pages, addrs, m, prc);
        } else {
            for (size_t j = 0; j < m; j++)
                prc[j] = crc; /* the chunk could not be mapped: none of it written */
        }
        for (size_t j = 0; j < m; j++) {
            if (prc[j] == AWC_OK) {
                atomic_fetch_add_explicit(&c->writebacks, 1, memory_order_relaxed);
                continue;
            }
            held[from[j]] |= HELD_FAILED;
            if (rc == AWC_OK)
                rc = prc[j];
        }
        if (nmap > 0) /* frames must not stay mapped twice: a slot may need them */
            awe_unmap(stage, (size_t)(c->nstage * c->k));
    }
    free(pages);
    free(addrs);
    free(from);
    free(prc);
    free(vas);
    free(fr);
    plat_aligned_free(bounce);
    return rc;
}

/* Lets go of the listed buffers: BUSY off or the flush's pin dropped; those whose write failed
 * are dirty again. Caller holds c->mu. */
static void release_listed(struct awc *c, const uint32_t *bl, const uint8_t *held, size_t n)
{
    plat_mutex_assert_held(&c->mu);
    for (size_t j = 0; j < n; j++) {
        struct buf *b = &c->bufs[bl[j]];

        if ((held[j] & HELD_FAILED) != 0)
            atomic_fetch_or_explicit(&b->state, ST_DIRTY, memory_order_acq_rel);
        if ((held[j] & HELD_BUSY) != 0)
            buf_publish(b, atomic_load_explicit(&b->state, memory_order_acquire));
        else
            atomic_fetch_sub_explicit(&b->state, 1, memory_order_release);
    }
    wake_word_bump(&c->progress);
}

/* The buffers a flush round looks at, in turn: every buffer when the round covers all pages
 * (`count` >= the buffers: walking them is cheaper than looking pages up), else the buffers the
 * page table shows for pages [first, first + count). NO_BUF when the walk is over; *at is where
 * it stands (0 the first time). Caller holds c->mu (the table does not change meanwhile). */
static uint32_t round_next(struct awc *c, uint64_t first, uint64_t count, uint64_t *at)
{
    plat_mutex_assert_held(&c->mu);
    if (count >= c->nbuf)
        return *at < c->nbuf ? (uint32_t)(*at)++ : NO_BUF;
    while (*at < count) {
        uint32_t i = table_lookup(c, first + (*at)++);

        if (i != NO_BUF)
            return i;
    }
    return NO_BUF;
}

/* One round of a flush over the dirty buffers held as `how` whose pages lie in [first, first +
 * count) (README 5.5):
 * 1. Under the cache lock, list them: HELD_BUSY takes the unpinned ones BUSY and clears DIRTY
 *    (no pin can come meanwhile); HELD_PIN gives the pinned ones a pin of the flush's own (they
 *    cannot be evicted; DIRTY is cleared under their latch when copied). A dirty buffer BUSY
 *    already is in an eviction's write-back: let go of the list, wait for it, list again.
 * 2. Write them (write_listed).
 * 3. Let go of them; those whose write failed are dirty again. */
static int flush_round(struct awc *c, uint32_t *bl, uint8_t *held, int how, uint64_t first,
                       uint64_t count)
{
    size_t n;
    int rc;

    /* Step 1 */
    for (;;) {
        uint32_t wait_buf = NO_BUF, seen = 0, i;
        uint64_t at = 0;

        plat_mutex_lock(&c->mu);
        n = 0;
        while (wait_buf == NO_BUF && (i = round_next(c, first, count, &at)) != NO_BUF) {
            struct buf *b = &c->bufs[i];
            uint64_t s = atomic_load_explicit(&b->state, memory_order_acquire);
            uint64_t page = atomic_load_explicit(&b->page, memory_order_relaxed);

            if ((s & ST_DIRTY) == 0 || page - first >= count)
                continue;
            if ((s & ST_BUSY) != 0) {
                seen = atomic_load_explicit(&b->wake, memory_order_acquire);
                wait_buf = i;
            } else if (how == HELD_PIN && (s & ST_REF_MASK) != 0) {
                /* Pinned, so mapped and not evictable: a pin of our own keeps it so. */
                atomic_fetch_add_explicit(&b->state, 1, memory_order_acq_rel);
                held[n] = HELD_PIN;
                bl[n++] = i;
            } else if (how == HELD_BUSY && (s & ST_REF_MASK) == 0 &&
                       atomic_compare_exchange_strong_explicit(
                           &b->state, &s, (s | ST_BUSY) & ~ST_DIRTY, memory_order_acq_rel,
                           memory_order_relaxed)) {
                b->busy_by = eng_thread_id();
                held[n] = HELD_BUSY;
                bl[n++] = i;
            }
        }
        if (wait_buf == NO_BUF)
            break;
        for (size_t j = 0; how == HELD_BUSY && j < n; j++)
            held[j] |= HELD_FAILED; /* not written: dirty again (DIRTY was cleared to list it) */
        release_listed(c, bl, held, n);
        plat_mutex_unlock(&c->mu);
        buf_wait_unbusy(&c->bufs[wait_buf], seen);
    }
    plat_mutex_unlock(&c->mu);

    /* Step 2 */
    rc = write_listed(c, bl, held, n);

    /* Step 3 */
    plat_mutex_lock(&c->mu);
    release_listed(c, bl, held, n);
    plat_mutex_unlock(&c->mu);
    return rc;
}

/* Steps: the unpinned dirty buffers, then the pinned ones, then those unpinned meanwhile (never
 * both kinds in one round: a round that waits for a latch holds no BUSY anyone could wait for);
 * then the durability point, file_sync. A page that cannot be written stays dirty and does not
 * stop the others: every round runs and the sync makes the rest durable; the first error is
 * returned. */
static int flush_locked(struct awc *c)
{
    uint32_t *bl = malloc((size_t)c->nbuf * sizeof(*bl));
    uint8_t *held = malloc((size_t)c->nbuf);
    int rc = AWC_OK, r_sync;

    if (bl == NULL || held == NULL) {
        free(bl);
        free(held);
        return AWC_ENOMEM;
    }
    for (int round = 0; round < 3; round++) {
        int r = flush_round(c, bl, held, round == 1 ? HELD_PIN : HELD_BUSY, 0, UINT64_MAX);

        if (rc == AWC_OK)
            rc = r;
    }
    free(bl);
    free(held);
    /* Even when some page could not be written: what was written is made durable. */
    r_sync = file_sync(c);
    if (rc == AWC_OK)
        rc = r_sync;
    if (rc == AWC_OK)
        atomic_fetch_add_explicit(&c->flushes, 1, memory_order_relaxed);
    return rc;
}

AWC_API int awc_flush(awc_t *c)
{
    int rc = eng_check(c);

    if (rc != AWC_OK)
        return rc;
    if (c->flags & AWC_READONLY)
        return AWC_OK;
    plat_mutex_assert_not_held(&c->mu); /* README 7: the flush lock before the cache lock */
    plat_mutex_lock(&c->flush_mu);
    rc = flush_locked(c);
    plat_mutex_unlock(&c->flush_mu);
    return rc;
}

AWC_API int awc_writeback(awc_t *c)
{
    return awc_writeback_range(c, 0, UINT64_MAX);
}

AWC_API int awc_writeback_range(awc_t *c, uint64_t first, uint64_t count)
{
    uint32_t *bl;
    uint8_t *held;
    uint64_t listed;
    int rc = eng_check(c);

    if (rc != AWC_OK)
        return rc;
    if ((c->flags & AWC_READONLY) || count == 0)
        return AWC_OK;
    if (count > UINT64_MAX - first)
        count = UINT64_MAX - first; /* to the last page, never round to the pages before first */
    /* A round lists at most one buffer per page of the range (the write-behind's ranges are a
     * few hundred pages; the buffers may be hundreds of thousands). */
    listed = count < c->nbuf ? count : c->nbuf;
    bl = malloc((size_t)listed * sizeof(*bl));
    held = malloc((size_t)listed);
    if (bl == NULL || held == NULL) {
        free(bl);
        free(held);
        return AWC_ENOMEM;
    }
    /* One round over the unpinned dirty buffers in the range, as a flush's first (README 5.5); no
     * sync. */
    plat_mutex_assert_not_held(&c->mu); /* README 7: the flush lock before the cache lock */
    plat_mutex_lock(&c->flush_mu);
    rc = flush_round(c, bl, held, HELD_BUSY, first, count);
    plat_mutex_unlock(&c->flush_mu);
    free(bl);
    free(held);
    return rc;
}

AWC_API int awc_close(awc_t *c)
{
    int rc = eng_check(c);

    if (rc != AWC_OK)
        return rc;
    for (uint64_t i = 0; i < c->nbuf; i++)
        if ((atomic_load_explicit(&c->bufs[i].state, memory_order_acquire) & ST_REF_MASK) != 0)
            return AWC_EBUSY;
    rc = awc_flush(c);
    c->magic = AWC_DEAD;
    teardown(c);
    c->next_closed = atomic_load_explicit(&closed_handles, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&closed_handles, &c->next_closed, c,
                                                  memory_order_release, memory_order_relaxed))
        ;
    return rc;
}

AWC_API int awc_get_stats(awc_t *c, struct awc_stats *st)
{
    uint64_t hits = 0;
    int rc = eng_check(c);

    if (rc != AWC_OK)
        return rc;
    if (st == NULL)
        return AWC_EINVAL;
    for (int i = 0; i < STRIPES; i++)
        hits += atomic_load_explicit(&c->stripe[i].hits, memory_order_relaxed);
    memset(st, 0, sizeof(*st));
    st->window_hits = hits;
    st->frame_hits = atomic_load(&c->frame_hits);
    st->misses = atomic_load(&c->misses);
    st->window_evictions = atomic_load(&c->window_evictions);
    st->frame_evictions = atomic_load(&c->frame_evictions);
    st->writebacks = atomic_load(&c->writebacks);
    st->writebacks_ahead = atomic_load(&c->writebacks_ahead);
    st->map_calls = atomic_load(&c->map_calls);
    st->pages_mapped = atomic_load(&c->pages_mapped);
    st->bytes_read = atomic_load(&c->bytes_read);
    st->bytes_written = atomic_load(&c->bytes_written);
    st->checksum_failures = atomic_load(&c->checksum_failures);
    st->flushes = atomic_load(&c->flushes);
    plat_mutex_lock(&c->ck_mu);
    st->pages_in_file = c->pages;
    plat_mutex_unlock(&c->ck_mu);
    st->page_limit = c->fs_max_page + 1;
    st->checksum_bytes = file_checksum_bytes(c);
    st->frames = c->nbuf;
    st->slots = c->nslot;
    st->window_copies = atomic_load(&c->window_copies);
    st->copy_window = c->copy;
    st->identity_window = c->identity;
    st->direct_io = c->direct_io;
    st->io_uring = c->io_uring;
    return AWC_OK;
}
