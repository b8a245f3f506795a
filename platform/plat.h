/*
 * platform/plat.h: the operating-system layer of awecache, one contract for every OS.
 *
 * This header is the only interface between awecache and the operating system. It provides the
 * full Address Windowing Extensions (AWE) primitive set: physical frames, virtual windows, and
 * mapping frames into windows, one page at a time or scattered. On Windows the primitives are the
 * operating system's own AWE calls; on Linux they are built from a memfd (the "physical memory")
 * mapped with mmap into reserved address ranges (the "windows"), with exactly the Windows rules
 * (docs/awe-semantics.md; awe/README.md summarises them).
 *
 * Conventions (for every function below):
 * - Returns 0 on success or a negative error code (PLAT_E*, which are negative errno values, see
 *   below). Partial results go through out-parameters and are described per function.
 * - All or nothing: a failed call changes nothing, unless its contract says otherwise (only
 *   plat_frames_free, which stops at the first bad entry, as Windows does).
 * - Every function may be called from any thread at any time; locking is described in
 *   platform/README.md. No call ever blocks on another thread's page fault.
 * - Pointers that are NULL where the contract needs memory give PLAT_EFAULT. Other bad pointers
 *   are not detectable and are the caller's bug.
 * - Frame numbers are opaque, nonzero, distinct and belong to this process alone; 0 means "no
 *   frame" (unmap) where a contract says so.
 * - Counts and sizes are size_t; frame numbers are plat_frame_t (uintptr_t, the width of
 *   Windows' ULONG_PTR). File offsets and byte totals are 64-bit even in 32-bit builds.
 *
 * Error codes: a fallible call returns one of these (and nothing else). The Windows-compatible
 * API turns each into exactly one GetLastError() value, given on the right.
 */
#ifndef AWECACHE_PLATFORM_PLAT_H
#define AWECACHE_PLATFORM_PLAT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* mingw-w64's errno.h has no EDQUOT (Windows' C runtime never reports it): Winsock's number for
 * "disk quota exceeded" (WSAEDQUOT) stands in, so that the codes below stay distinct negative
 * values on every OS. */
#ifndef EDQUOT
#define EDQUOT 10069
#endif

/* The error codes. ERROR_* names are the Win32 codes the compatibility API reports. */
#define PLAT_OK            0
#define PLAT_EINVAL        (-EINVAL)        /* bad argument, flags, range, frame in use: 87 */
#define PLAT_ENXIO         (-ENXIO)         /* frame number not owned (never, freed, zero): 487 */
#define PLAT_EADDRNOTAVAIL (-EADDRNOTAVAIL) /* not a window base, or the address is taken: 487 */
#define PLAT_EPERM         (-EPERM)         /* no AWE frames: privilege not held, or stubs: 1314 */
#define PLAT_ENOMEM        (-ENOMEM)        /* no frame at all / kernel mapping budget: 1450 */
#define PLAT_EDQUOT        (-EDQUOT)        /* the process frame limit is already reached: 1455 */
#define PLAT_EFAULT        (-EFAULT)        /* a NULL pointer where memory is needed: 998 */
#define PLAT_ENOTSUP       (-ENOTSUP)       /* the system lacks the feature (huge frames): 50 */
#define PLAT_EIO           (-EIO)           /* the OS failed unexpectedly: 1117 */

/* Capabilities, filled once at first use. Callers branch on these, never on the OS. */
struct plat_caps {
    size_t page_size;          /* bytes of one small frame and one window page (4096) */
    size_t huge_page_size;     /* bytes of one huge frame (2 MiB); 0: this OS has none */
    size_t alloc_granularity;  /* window bases are multiples of this (65536, as Windows) */
    uint64_t frame_limit;      /* small frames this process may hold at once */
    uint64_t huge_frames_free; /* huge frames the system could give now (0: none) */
    uint64_t vma_budget;       /* kernel mappings AWE may use at once; 0: no such limit */
    uint64_t max_map_count;    /* the system's mapping limit (Linux vm.max_map_count) */
    unsigned processor_count;  /* online processors */
    uintptr_t min_app_address; /* lowest address a window may have */
    uintptr_t max_app_address; /* highest address a window may reach */
};

/* Fills *caps. Cannot fail once the platform initialised; PLAT_EFAULT for NULL, PLAT_EIO when
 * the platform cannot initialise (no memfd support, say). */
int plat_get_caps(struct plat_caps *caps);

/* ---- Frames ------------------------------------------------------------------------------- */

typedef uintptr_t plat_frame_t;

#define PLAT_FRAMES_HUGE     0x1u /* huge frames (caps.huge_page_size bytes each) */
#define PLAT_FRAMES_POPULATE 0x2u /* commit the memory now, not on first touch */

/* Allocates up to *count frames into frames[0..*count). May allocate fewer than asked: returns 0
 * and lowers *count. On error allocates nothing and leaves *count as it was. *count == 0 returns 0.
 * New frames read as zeros. `numa_node` is a preference (-1: none). Errors: PLAT_EFAULT (count
 * NULL, or frames NULL with *count > 0), PLAT_EINVAL (unknown flags, node out of range),
 * PLAT_EDQUOT (the frame limit is already reached), PLAT_ENOMEM (not one frame could be had),
 * PLAT_ENOTSUP (huge frames asked and the system has no huge page pool), PLAT_EPERM (this process
 * cannot have AWE frames at all: on Windows the "Lock pages in memory" privilege is not held, or
 * the system implements AWE only as stubs, as Wine does; plat_awe_unavailable_reason() says
 * which; never on Linux). */
int plat_frames_alloc(size_t *count, plat_frame_t *frames, unsigned flags, int numa_node);

/* Why AWE cannot be used in this process, as one line of English for a person (what the OS
 * answered, and what to do about it), or NULL while nothing says so. Set once the privilege could
 * not be enabled, or a frame allocation or window reservation found AWE missing (PLAT_EPERM,
 * PLAT_ENOTSUP); a constant string afterwards. Always NULL on Linux. */
const char *plat_awe_unavailable_reason(void);

/* Frees frames[0..*count) in array order, stopping at the first entry that is not an owned frame
 * (never allocated, freed, zero, or repeated earlier in the array): the entries before it stay
 * freed, *count becomes how many were freed, and the call returns PLAT_ENXIO. A frame that is
 * mapped is unmapped first (its window stays). On success *count is unchanged. Freed frames'
 * memory goes back to the system; a frame number may be handed out again later.
 * Errors: PLAT_EFAULT, PLAT_EINVAL (*count == 0, or this process never allocated frames),
 * PLAT_ENXIO (as above), PLAT_ENOMEM (unmapping needed kernel mappings beyond the budget: the
 * frames before the one that needed it are freed, *count says how many). */
int plat_frames_free(size_t *count, const plat_frame_t *frames);

/* ---- Windows ------------------------------------------------------------------------------ */

#define PLAT_WINDOW_HUGE     0x1u /* the window takes huge frames; base and size 2 MiB aligned */
#define PLAT_WINDOW_POPULATE 0x2u /* fault pages in at map time (no first-touch faults) */

/* Reserves a window of `size` bytes (rounded up to whole pages) and stores its base in *base.
 * `want` is NULL (anywhere) or a wanted address, rounded down to the allocation granularity; it
 * must be free. Nothing is mapped: touching any byte faults. No privilege is needed.
 * Errors: PLAT_EFAULT (base NULL), PLAT_EINVAL (size 0, unknown flags), PLAT_EADDRNOTAVAIL (the
 * wanted range is taken), PLAT_ENOMEM (no address space), PLAT_ENOTSUP (huge window, no huge
 * pages in this OS; or an OS whose AWE is only stubs and refuses the reservation, as Wine). */
int plat_window_reserve(void *want, size_t size, unsigned flags, void **base);

/* Releases the window that starts at `base`: every page is unmapped and the range is returned to
 * the system; the frames stay allocated and keep their contents. Errors: PLAT_EADDRNOTAVAIL
 * (`base` is not the base of a window: inside one, or none), nothing changed. */
int plat_window_release(void *base);

/* Describes the window containing `va`: its base and size. PLAT_EADDRNOTAVAIL if none. */
int plat_window_find(const void *va, void **base, size_t *size);

/* ---- Mapping ------------------------------------------------------------------------------ */

/* Maps frames[i] at va + i * page for i in [0, count), read/write. `va` is rounded down to its
 * page; the whole range must lie in one window. frames == NULL unmaps the range; an entry 0
 * unmaps its page. A frame mapped at a target page is replaced (and becomes unmapped). Each frame
 * to map must be owned, not mapped anywhere now (not even at its target), and listed once.
 * Huge windows take huge frames, small windows small ones. All or nothing; on success every
 * thread sees the new mappings. The first bad entry in array order gives the error.
 * Errors: PLAT_EINVAL (count 0, range not in one window, frame mapped or listed twice, frame of
 * the wrong size, never allocated), PLAT_ENXIO (frame not owned), PLAT_ENOMEM (kernel mapping
 * budget), PLAT_EIO (the OS failed; nothing changed). */
int plat_map(void *va, size_t count, const plat_frame_t *frames);

/* Entry i maps frames[i] at the page holding vas[i]; entries may lie in different windows and be
 * in any order; frames[i] == 0 unmaps vas[i]; frames == NULL unmaps every listed page. count == 0
 * succeeds. The same rules as plat_map per entry, plus: a page listed twice is PLAT_EINVAL. All or
 * nothing across the whole array. Errors: as plat_map, and PLAT_EINVAL for a page in no window. */
int plat_map_scatter(void *const *vas, size_t count, const plat_frame_t *frames);

/* Stores in *frame the frame mapped at the page holding `va`, or 0 when that page of a window is
 * unmapped. PLAT_EINVAL if `va` is in no window. */
int plat_query(const void *va, plat_frame_t *frame);

/* Copies frames[0..count) into buf, frame after frame (to_frames false), or buf into them
 * (to_frames true): count * the frames' page size bytes, without mapping anything, so without any
 * window change or TLB flush. Every frame must be owned by this process and of one size; mapped
 * frames are fine (the copy sees, and is seen by, their mappings). An extension of ours: Windows'
 * AWE has no such call (PLAT_ENOTSUP there; the caller maps instead). Frames are read or written
 * whole or the call fails; a failed write may have written some of them.
 * Errors: PLAT_EFAULT (frames or buf NULL), PLAT_EINVAL (count 0, a frame never allocated,
 * frames of two sizes), PLAT_ENXIO (a frame not owned), PLAT_ENOTSUP, PLAT_EIO. */
int plat_frames_copy(const plat_frame_t *frames, size_t count, void *buf, int to_frames);

/* ---- Counters ----------------------------------------------------------------------------- */

struct plat_stats {
    uint64_t map_calls;        /* plat_map calls that succeeded */
    uint64_t scatter_calls;    /* plat_map_scatter calls that succeeded */
    uint64_t failed_calls;     /* map, scatter, alloc and free calls that returned an error */
    uint64_t pages_mapped;     /* page mappings made */
    uint64_t pages_unmapped;   /* page mappings removed (replaced, unmapped, freed, released) */
    uint64_t runs;             /* OS mapping calls made for the above (coalesced runs) */
    uint64_t vmas_in_use;      /* kernel mappings the windows span, per window (a VMA the kernel
                                * merged across adjacent windows counts for each); Linux only */
    uint64_t vmas_peak;        /* the most they ever held */
    uint64_t frames_allocated; /* frames held now */
    uint64_t huge_frames_allocated; /* huge frames held now */
    uint64_t frames_peak;           /* the most small frames ever held at once */
    uint64_t windows;               /* windows reserved now */
};

/* Fills *stats with a consistent snapshot. PLAT_EFAULT for NULL. */
int plat_get_stats(struct plat_stats *stats);

/* Lowers (or raises, up to the system's physical memory) the number of small frames this process
 * may hold. Frames already held stay. PLAT_EINVAL when `limit` exceeds what the system has. */
int plat_set_frame_limit(uint64_t limit);

/* ---- Plain virtual memory (for the Windows-compatible VirtualAlloc) ----------------------- */

#define PLAT_PROT_NONE  0x0u
#define PLAT_PROT_READ  0x1u
#define PLAT_PROT_WRITE 0x2u
#define PLAT_PROT_EXEC  0x4u

/* Reserves `size` bytes of address space (whole pages) at `want` (rounded down to the allocation
 * granularity; must be free) or anywhere, inaccessible. Errors: PLAT_EFAULT, PLAT_EINVAL,
 * PLAT_EADDRNOTAVAIL, PLAT_ENOMEM. */
int plat_vm_reserve(void *want, size_t size, void **base);

/* Commits [addr, addr + size) of a reservation with protection `prot`: committed memory reads as
 * zeros until written. Errors: PLAT_EINVAL (bad prot), PLAT_ENOMEM. */
int plat_vm_commit(void *addr, size_t size, unsigned prot);

/* Changes the protection of committed pages. Errors: PLAT_EINVAL, PLAT_ENOMEM. */
int plat_vm_protect(void *addr, size_t size, unsigned prot);

/* Decommits [addr, addr + size): the pages become inaccessible and their memory is returned. */
int plat_vm_decommit(void *addr, size_t size);

/* Releases a whole reservation made by plat_vm_reserve (`size` as reserved). */
int plat_vm_release(void *base, size_t size);

/* ---- Aligned heap memory ------------------------------------------------------------------ */

/* Allocates `size` bytes (size > 0) aligned to `align` (a power of two), or returns NULL (out of
 * memory, or bad arguments). C11's aligned_alloc is missing from Windows' C runtimes, which have
 * _aligned_malloc instead, whose memory must not go to free(): so memory from here goes back
 * through plat_aligned_free alone. */
void *plat_aligned_alloc(size_t align, size_t size);

/* Frees memory from plat_aligned_alloc; NULL is a no-op. */
void plat_aligned_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_PLATFORM_PLAT_H */
