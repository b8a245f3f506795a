/*
 * awe/awe.h: the native C API of awecache's Address Windowing Extensions (AWE) layer.
 *
 * AWE separates memory from address space. A *frame* is a page of physical memory that this
 * process owns; it has no address of its own. A *window* is a reserved range of addresses with
 * nothing behind it. Mapping puts frames into window pages (and takes them out again) cheaply,
 * without copying, so a process can hold far more memory than it can address at once and look at
 * any part of it through a small window. The rules are those of Windows AWE, on every OS:
 *
 *   - a frame is mapped at one page at most at a time; mapping it elsewhere needs an unmap first;
 *   - a window page shows one frame or nothing (touching it then faults);
 *   - every call is all or nothing (frame freeing excepted: it stops at the first bad entry);
 *   - releasing a window never frees frames; freeing a mapped frame unmaps it first.
 *
 * Conventions: every fallible function returns AWE_OK (0) or a negative error code below;
 * awe_strerror() describes a code. Partial results go through out-parameters. Any call may also
 * fail with the error that keeps the platform from starting (AWE_EIO; awe_get_caps says so). All
 * functions are thread-safe (see awe/README.md for what they serialize). NULL where memory is
 * needed gives AWE_EFAULT. Frame numbers are opaque, nonzero and process-wide; 0 means "no frame".
 *
 * Linux notes: frames are pages of one memfd; a window is a PROT_NONE reservation; a map call
 * costs one mmap per *run* (adjacent pages that receive consecutive frames), so mapping a
 * contiguous range of frames costs about the same as mapping one page. Each run is one kernel
 * mapping (VMA) and the kernel allows vm.max_map_count of them per process: awe counts them and
 * refuses a call that would exceed its budget (AWE_ENOMEM) before touching anything.
 */
#ifndef AWECACHE_AWE_H
#define AWECACHE_AWE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifndef EDQUOT /* mingw-w64's errno.h lacks it: Winsock's WSAEDQUOT, as platform/plat.h */
#define EDQUOT 10069
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(AWECACHE_SHARED)
#define AWE_API __declspec(dllimport)
#elif defined(__GNUC__)
#define AWE_API __attribute__((visibility("default")))
#else
#define AWE_API
#endif

/* The error codes, each listed once: XX(name, value, win32, win32_name, text) is the code
 * AWE_<name> == value (a negated errno value; AWE_OK is 0); win32 is the GetLastError() value the
 * Windows-compatible API reports for it, ERROR_<win32_name> in Windows' headers (which situation
 * gives which: docs/awe-semantics.md); text is what awe_strerror() says. The values never change
 * (they are ABI). Any X-macro of five arguments walks the list, e.g. a switch:
 *     #define CASE(name, value, win32, win32_name, text) case AWE_##name: return win32;
 *     switch (rc) { AWE_ERROR_MAP(CASE) }
 */
#define AWE_ERROR_MAP(XX)                                                                          \
    XX(OK, 0, 0, SUCCESS, "success")                                                               \
    XX(EINVAL, -EINVAL, 87, INVALID_PARAMETER,                                                     \
       "invalid argument (flags, count, range outside one window, or frame in use)")               \
    XX(ENXIO, -ENXIO, 487, INVALID_ADDRESS,                                                        \
       "frame number not owned by this process (never allocated, freed, or zero)")                 \
    XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, 487, INVALID_ADDRESS,                                        \
       "address is not a window base, or the wanted range is taken")                               \
    XX(EPERM, -EPERM, 1314, PRIVILEGE_NOT_HELD,                                                    \
       "AWE frames are not available to this process: the \"Lock pages in memory\" privilege "     \
       "(SeLockMemoryPrivilege) is not held; grant it with secpol.msc > Local Policies > User "    \
       "Rights Assignment > Lock pages in memory, then log off and on again (or the system "       \
       "implements AWE only as stubs, as Wine does)")                                              \
    XX(ENOMEM, -ENOMEM, 1450, NO_SYSTEM_RESOURCES,                                                 \
       "not enough system resources (no frame, or the kernel mapping budget)")                     \
    XX(EDQUOT, -EDQUOT, 1455, COMMITMENT_LIMIT, "the process frame limit is already reached")      \
    XX(EFAULT, -EFAULT, 998, NOACCESS, "a required pointer argument is NULL")                      \
    XX(ENOTSUP, -ENOTSUP, 50, NOT_SUPPORTED,                                                       \
       "not supported on this system (no huge page pool configured?)")                             \
    XX(EIO, -EIO, 1117, IO_DEVICE, "the operating system failed unexpectedly")

/* The codes: AWE_OK, AWE_EINVAL, AWE_ENXIO, AWE_EADDRNOTAVAIL, AWE_EPERM, AWE_ENOMEM, AWE_EDQUOT,
 * AWE_EFAULT, AWE_ENOTSUP, AWE_EIO. */
enum awe_error {
#define AWE_ERROR_ENUM_(name, value, win32, win32_name, text) AWE_##name = (value),
    AWE_ERROR_MAP(AWE_ERROR_ENUM_)
#undef AWE_ERROR_ENUM_
};

/* A short English description of an AWE_E* code, or "unknown error"; never NULL. */
AWE_API const char *awe_strerror(int err);

/* The name of an AWE_E* code ("AWE_EINVAL"), or "unknown" for any other value; never NULL. */
AWE_API const char *awe_err_name(int err);

/* An opaque frame number: nonzero, as wide as a pointer (Windows' ULONG_PTR). */
typedef uintptr_t awe_frame_t;

/* What this machine offers. */
struct awe_caps {
    size_t page_size;          /* bytes of a frame and of a window page (4096) */
    size_t huge_page_size;     /* bytes of a huge frame (2 MiB); 0 if the OS has none */
    size_t alloc_granularity;  /* window bases are multiples of this (65536) */
    uint64_t frame_limit;      /* small frames this process may hold at once */
    uint64_t huge_frames_free; /* huge frames the system could give now; 0: none configured */
    uint64_t vma_budget;       /* kernel mappings awe may use at once (0: unlimited) */
    uint64_t max_map_count;    /* the system's per-process mapping limit (0: none) */
    unsigned processor_count;  /* online processors */
    uintptr_t min_app_address; /* lowest address a window or reservation may have */
    uintptr_t max_app_address; /* highest address one may reach */
};

/* Fills *caps. Cannot fail once the platform started. Errors: AWE_EFAULT (caps NULL), AWE_EIO
 * (the platform cannot start: no memfd support, say). */
AWE_API int awe_get_caps(struct awe_caps *caps);

/* ---- Frames ------------------------------------------------------------------------------- */

#define AWE_FRAMES_HUGE     0x1u /* huge frames (caps.huge_page_size bytes; hugetlb on Linux) */
#define AWE_FRAMES_POPULATE 0x2u /* commit the memory now rather than on first touch */

/* Allocates up to *count frames into frames[0..*count); numa_node is a preference (-1: none; on
 * Linux it is checked against the machine's nodes but not yet applied: the kernel's default
 * policy places the memory, usually on the node of the thread that first touches it).
 * May allocate fewer than asked: returns AWE_OK and lowers *count. On error nothing is allocated
 * and *count is unchanged. *count == 0 succeeds. New frames read as zeros.
 * Errors: AWE_EFAULT (count NULL, or frames NULL with *count > 0), AWE_EINVAL (unknown flags,
 * node out of range), AWE_EDQUOT (the frame limit is already reached), AWE_ENOMEM (not one frame
 * could be had), AWE_ENOTSUP (huge frames asked and the system has no huge page pool; Linux:
 * vm.nr_hugepages is 0), AWE_EPERM (this process cannot have AWE frames at all: on Windows the
 * "Lock pages in memory" privilege is not held, or the system implements AWE only as stubs, as
 * Wine does; awe_strerror says how to grant it; never on Linux), AWE_EIO (the OS failed
 * unexpectedly). */
AWE_API int awe_frames_alloc(size_t *count, awe_frame_t *frames, unsigned flags, int numa_node);

/* Frees frames[0..*count) in array order. Mapped frames are unmapped first; windows stay. Stops
 * at the first entry that is not an owned frame (never allocated, freed, 0, or repeated earlier):
 * the entries before it stay freed, *count becomes their number, the call returns AWE_ENXIO.
 * Errors: AWE_EFAULT (count or frames NULL), AWE_EINVAL (*count == 0, or no frame was ever
 * allocated), AWE_ENXIO (as above), AWE_ENOMEM (unmapping needed kernel mappings beyond the
 * budget, or memory for the call: the frames before the one that needed it are freed, *count
 * says how many), AWE_EIO (the OS failed part way: *count says how many were freed). */
AWE_API int awe_frames_free(size_t *count, const awe_frame_t *frames);

/* Sets the most small frames this process may hold at once (at most the machine's memory).
 * Frames already held are kept. Errors: AWE_EINVAL (`limit` exceeds what the machine has). */
AWE_API int awe_set_frame_limit(uint64_t limit);

/* ---- Windows ------------------------------------------------------------------------------ */

#define AWE_WINDOW_HUGE     0x1u /* the window takes huge frames (2 MiB aligned and sized) */
#define AWE_WINDOW_POPULATE 0x2u /* map calls fault the pages in: no first-touch faults later */

/* Reserves a window of `size` bytes (rounded up to whole pages; to whole huge pages for a huge
 * window) and stores its base in *base. `want` is NULL or a wanted address (rounded down to the
 * allocation granularity; the range must be free). Nothing is mapped: touching it faults.
 * Errors: AWE_EFAULT (base NULL), AWE_EINVAL (size 0, unknown flags), AWE_EADDRNOTAVAIL (the
 * wanted range is taken, or leaves the application's addresses), AWE_ENOMEM (no address space,
 * or the kernel mapping budget), AWE_ENOTSUP (a huge window where the OS has no huge pages; or an
 * OS whose AWE is only stubs and refuses the reservation, as Wine does), AWE_EIO (the OS failed
 * unexpectedly). */
AWE_API int awe_window_reserve(void *want, size_t size, unsigned flags, void **base);

/* Releases the window whose base is `base`: its pages are unmapped, its frames stay allocated
 * with their contents. Errors (nothing changed): AWE_EADDRNOTAVAIL (`base` is not the base of a
 * window: inside one, or none), AWE_ENOMEM (the kernel mapping budget), AWE_EIO (the OS
 * refused). */
AWE_API int awe_window_release(void *base);

/* Stores the base and size of the window containing `va`. Errors: AWE_EFAULT (base or size
 * NULL), AWE_EADDRNOTAVAIL (`va` is in no window). */
AWE_API int awe_window_find(const void *va, void **base, size_t *size);

/* ---- Mapping ------------------------------------------------------------------------------ */

/* Maps frames[i] at va + i * page_size for i < count (va is rounded down to its page); the
 * range must lie inside one window. frames == NULL unmaps the range; a 0 entry unmaps its page. A
 * frame already at a target page is replaced (it becomes unmapped). Every frame to map must be
 * owned, currently unmapped (even at its own target) and listed once. All or nothing; the first
 * bad entry decides the error. On return every thread sees the new mappings.
 * Errors: AWE_EINVAL (count 0; range outside one window; frame mapped, listed twice or of the
 * wrong size; no frame ever allocated), AWE_ENXIO (frame not owned), AWE_ENOMEM (the kernel
 * mapping budget would be exceeded, or memory for the call), AWE_EIO (the OS refused; nothing
 * changed). */
AWE_API int awe_map(void *va, size_t count, const awe_frame_t *frames);

/* Unmaps count pages from va: the same as awe_map(va, count, NULL). */
AWE_API int awe_unmap(void *va, size_t count);

/* Entry i maps frames[i] at the page holding vas[i]; entries may be in any order and in
 * different windows; frames[i] == 0 unmaps that page, frames == NULL unmaps every listed page.
 * count == 0 succeeds. The rules of awe_map per entry, plus: a page listed twice is AWE_EINVAL.
 * All or nothing across the whole array. Adjacent pages receiving consecutive frames are mapped
 * by one OS call, whatever their order in the array. Errors: AWE_EFAULT (vas NULL with count >
 * 0), AWE_EINVAL (a page in no window or listed twice; frame mapped, listed twice or of the wrong
 * size; no frame ever allocated), AWE_ENXIO, AWE_ENOMEM, AWE_EIO (as awe_map). */
AWE_API int awe_map_scatter(void *const *vas, size_t count, const awe_frame_t *frames);

/* Stores the frame mapped at the page holding `va` in *frame (0: that window page is unmapped).
 * Errors: AWE_EFAULT (frame NULL), AWE_EINVAL (`va` is in no window). */
AWE_API int awe_query(const void *va, awe_frame_t *frame);

/* Copies the contents of frames[0..count) into buf (awe_frames_read), or buf into them
 * (awe_frames_write), frame after frame: count * the frames' page size bytes, without mapping
 * them, so at no window change and no TLB flush. Every frame must be owned by this process and of
 * one size; mapped frames are fine (the copy sees, and is seen by, their mappings). An extension
 * of this library: Windows' native AWE has no such call, and there it is AWE_ENOTSUP (map the
 * frames instead). Errors: AWE_EFAULT (frames or buf NULL), AWE_EINVAL (count 0, a frame never
 * allocated, frames of two sizes), AWE_ENXIO (a frame not owned), AWE_ENOMEM (the system is short
 * of memory), AWE_ENOTSUP (Windows), AWE_EIO (the OS failed; a failed write may have written some
 * of the frames). */
AWE_API int awe_frames_read(const awe_frame_t *frames, size_t count, void *buf);
AWE_API int awe_frames_write(const awe_frame_t *frames, size_t count, const void *buf);

/* ---- Counters ----------------------------------------------------------------------------- */

struct awe_stats {
    uint64_t map_calls;             /* awe_map / awe_unmap calls that succeeded */
    uint64_t scatter_calls;         /* awe_map_scatter calls that succeeded */
    uint64_t failed_calls;          /* map, scatter, alloc and free calls that failed */
    uint64_t pages_mapped;          /* page mappings made */
    uint64_t pages_unmapped;        /* page mappings removed (replaced, unmapped, freed) */
    uint64_t runs;                  /* OS mapping calls made (each maps or unmaps one run) */
    uint64_t vmas_in_use;           /* kernel mappings (VMAs) the windows span now, per window:
                                     * one the kernel merged across two adjacent windows counts
                                     * for each, so this never undercounts (Linux) */
    uint64_t vmas_peak;             /* the most they ever held */
    uint64_t frames_allocated;      /* small frames held now */
    uint64_t huge_frames_allocated; /* huge frames held now */
    uint64_t frames_peak;           /* the most small frames held at once */
    uint64_t windows;               /* windows reserved now */
};

/* Fills *stats with a consistent snapshot of the process-wide counters. Errors: AWE_EFAULT
 * (stats NULL). */
AWE_API int awe_get_stats(struct awe_stats *stats);

/* ---- Plain virtual memory ---------------------------------------------------------------- */
/* Address space that is not an AWE window: reserve it, commit pages with a protection, change the
 * protection, decommit (the memory goes back; a later commit reads zeros), release. The
 * Windows-compatible VirtualAlloc family is built on these. */

#define AWE_PROT_NONE  0x0u
#define AWE_PROT_READ  0x1u
#define AWE_PROT_WRITE 0x2u
#define AWE_PROT_EXEC  0x4u

/* Reserves `size` bytes (whole pages), inaccessible, at `want` (rounded down to the allocation
 * granularity; must be free) or anywhere granularity-aligned when `want` is NULL.
 * Errors: AWE_EFAULT (base NULL), AWE_EINVAL (size 0, or one that wraps when rounded up to
 * whole pages), AWE_EADDRNOTAVAIL (taken), AWE_ENOMEM (no address space), AWE_EIO. */
AWE_API int awe_vm_reserve(void *want, size_t size, void **base);

/* Commits [addr, addr + size) of a reservation with protection `prot` (AWE_PROT_*).
 * Errors: AWE_EINVAL (unknown protection bits, size 0, a size that wraps when rounded up to
 * whole pages, a range outside a reservation), AWE_ENOMEM, AWE_EIO. */
AWE_API int awe_vm_commit(void *addr, size_t size, unsigned prot);

/* Changes the protection of committed pages. Errors: as awe_vm_commit. */
AWE_API int awe_vm_protect(void *addr, size_t size, unsigned prot);

/* Decommits [addr, addr + size): the pages become inaccessible and their memory is returned (a
 * later commit reads zeros). Errors: AWE_EINVAL (size 0 or one that wraps when rounded up to
 * whole pages), AWE_ENOMEM, AWE_EIO. */
AWE_API int awe_vm_decommit(void *addr, size_t size);

/* Releases a whole reservation made by awe_vm_reserve (`size` as reserved). Errors: AWE_EINVAL
 * (size 0 or one that wraps when rounded up to whole pages), AWE_ENOMEM, AWE_EIO. */
AWE_API int awe_vm_release(void *base, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_AWE_H */
