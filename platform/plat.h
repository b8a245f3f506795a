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
 * The platform's headers: plat.h (this one: AWE, plain virtual memory, aligned heap memory, and
 * the error codes of every platform call), plat_io.h (files: open, resize, sync, reads and writes
 * in batches), plat_sync.h (waiting on a word, clocks, the processor count, mutexes, threads),
 * plat_proc.h (process and machine facts, a file mapped through the OS page cache, a memory limit:
 * for the tools, not the engine; in awecache_platform_tool, not libawecache), plat_ramdisk.h (a
 * RAM disk private to the process, for awecache-bench; awecache_platform_tool too) and
 * plat_testing.h (fault injection and test hooks; in the test-only library awecache_testing,
 * never installed). Private to platform/: common/awe_common.h, common/io_common.h and
 * common/testing_common.h (the OS-independent halves of AWE, of files and of the test hooks),
 * linux/os_linux.h and windows/os_windows.h (each OS's gate to its system calls),
 * linux/io_linux.h and windows/io_windows.h (the open file, which filemap_<os>.c reads too).
 *
 * Conventions (for every function below):
 * - Returns 0 on success or a negative error code (PLAT_E*, which are negative errno values, see
 *   below). Partial results go through out-parameters and are described per function. Any call
 *   but plat_aligned_* may also fail with the error that keeps the platform from starting
 *   (PLAT_EIO; plat_get_caps says so).
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
 * Error codes: a fallible call returns one of PLAT_ERROR_MAP's codes below (and nothing else).
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

/* The error codes of every platform call (this header's and plat_io.h's), each listed once:
 * XX(name, value, win32, win32_name, text) is the code PLAT_<name> == value, a negated errno value
 * (PLAT_OK is 0); win32 is the Win32 error code for the same condition, ERROR_<win32_name> in
 * Windows' headers: for the AWE codes the GetLastError() value the Windows-compatible API
 * reports (awe.h's AWE_E* are these codes), for the file codes one that the Windows side turns
 * into it; text is what plat_strerror() says. Where the OSes differ, the text says which. */
#define PLAT_ERROR_MAP(XX)                                                                         \
    XX(OK, 0, 0, SUCCESS, "success")                                                               \
    /* bad argument, flags or range, misaligned direct I/O, a frame in use */                      \
    XX(EINVAL, -EINVAL, 87, INVALID_PARAMETER,                                                     \
       "invalid argument (flags, range, a frame in use, or misaligned direct I/O)")                \
    /* a frame number not owned: never allocated, freed, zero */                                   \
    XX(ENXIO, -ENXIO, 487, INVALID_ADDRESS, "frame number not owned by this process")              \
    /* not a window base, or the wanted address is taken */                                        \
    XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, 487, INVALID_ADDRESS,                                        \
       "address is not a window base, or the wanted range is taken")                               \
    /* no AWE frames: the privilege is not held, or the OS has stubs only (Windows) */             \
    XX(EPERM, -EPERM, 1314, PRIVILEGE_NOT_HELD,                                                    \
       "AWE frames are not available: the \"Lock pages in memory\" privilege is not held "         \
       "(Windows: secpol.msc > Local Policies > User Rights Assignment > Lock pages in memory, "   \
       "then log off and on), or the system has only AWE stubs (Wine)")                            \
    /* no frame at all, no memory, the kernel mapping budget */                                    \
    XX(ENOMEM, -ENOMEM, 1450, NO_SYSTEM_RESOURCES,                                                 \
       "out of memory, or the kernel mapping budget (Linux's vm.max_map_count)")                   \
    /* the process frame limit is already reached */                                               \
    XX(EDQUOT, -EDQUOT, 1455, COMMITMENT_LIMIT, "the process frame limit is already reached")      \
    /* a NULL pointer where memory is needed */                                                    \
    XX(EFAULT, -EFAULT, 998, NOACCESS, "a NULL pointer where memory is needed")                    \
    /* the system lacks the feature (huge frames, MEM_PHYSICAL, sync, frame copies) */             \
    XX(ENOTSUP, -ENOTSUP, 50, NOT_SUPPORTED, "not supported here")                                 \
    /* the OS or the device failed unexpectedly */                                                 \
    XX(EIO, -EIO, 1117, IO_DEVICE, "the operating system or the device failed")                    \
    /* files (plat_io.h): no such file, or a path component is not a directory */                  \
    XX(ENOENT, -ENOENT, 2, FILE_NOT_FOUND, "no such file")                                         \
    /* the file exists and PLAT_FILE_EXCL was given */                                             \
    XX(EEXIST, -EEXIST, 80, FILE_EXISTS, "the file exists")                                        \
    /* permission denied, a read-only file or handle */                                            \
    XX(EACCES, -EACCES, 5, ACCESS_DENIED, "permission denied (or the file is open read-only)")     \
    /* the path names a directory */                                                               \
    XX(EISDIR, -EISDIR, 5, ACCESS_DENIED, "the path names a directory")                            \
    /* another open file holds the write lock (Windows: or a mapped view blocks a resize) */       \
    XX(ELOCKED, -EWOULDBLOCK, 33, LOCK_VIOLATION,                                                  \
       "the file is locked: another open file holds its write lock (Windows: or a mapped view "    \
       "keeps it from being resized)")                                                             \
    /* no space left on the device, or the disk quota is used */                                   \
    XX(ENOSPC, -ENOSPC, 112, DISK_FULL, "no space left on the device")                             \
    /* beyond the largest file the file system allows */                                           \
    XX(EFBIG, -EFBIG, 223, FILE_TOO_LARGE, "beyond the largest file the file system allows")       \
    /* too many open files (this process or the system) */                                         \
    XX(EMFILE, -EMFILE, 4, TOO_MANY_OPEN_FILES, "too many open files")

/* The codes: PLAT_OK, PLAT_EINVAL, PLAT_ENXIO, PLAT_EADDRNOTAVAIL, PLAT_EPERM, PLAT_ENOMEM,
 * PLAT_EDQUOT, PLAT_EFAULT, PLAT_ENOTSUP, PLAT_EIO, and the file codes PLAT_ENOENT, PLAT_EEXIST,
 * PLAT_EACCES, PLAT_EISDIR, PLAT_ELOCKED, PLAT_ENOSPC, PLAT_EFBIG, PLAT_EMFILE. */
enum plat_error {
#define PLAT_ERROR_ENUM_(name, value, win32, win32_name, text) PLAT_##name = (value),
    PLAT_ERROR_MAP(PLAT_ERROR_ENUM_)
#undef PLAT_ERROR_ENUM_
};

/* A constant English description of a PLAT_E* code, or "unknown error"; never NULL. */
const char *plat_strerror(int err);

/* The name of a PLAT_E* code ("PLAT_EINVAL"), or "unknown" for any other value; never NULL. */
const char *plat_err_name(int err);

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

/* Fills *caps. Cannot fail once the platform started. Errors: PLAT_EFAULT (caps NULL), PLAT_EIO
 * (the platform cannot start: no memfd support, say). */
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
 * PLAT_ENOTSUP (huge frames asked and the system has no huge page pool; Linux: vm.nr_hugepages
 * is 0), PLAT_EPERM (this process cannot have AWE frames at all: on Windows the "Lock pages in
 * memory" privilege is not held, or the system implements AWE only as stubs, as Wine does;
 * plat_awe_unavailable_reason() says which; never on Linux), PLAT_EIO (the OS failed
 * unexpectedly). */
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
 * Errors: PLAT_EFAULT (count or frames NULL), PLAT_EINVAL (*count == 0, or no frame was ever
 * allocated), PLAT_ENXIO (as above), PLAT_ENOMEM (unmapping needed kernel mappings beyond the
 * budget, or memory for the call: the frames before the one that needed it are freed, *count
 * says how many), PLAT_EIO (the OS failed part way: *count says how many were freed). */
int plat_frames_free(size_t *count, const plat_frame_t *frames);

/* ---- Windows ------------------------------------------------------------------------------ */

#define PLAT_WINDOW_HUGE     0x1u /* the window takes huge frames; base and size 2 MiB aligned */
#define PLAT_WINDOW_POPULATE 0x2u /* fault pages in at map time (no first-touch faults) */

/* Reserves a window of `size` bytes (rounded up to whole pages) and stores its base in *base.
 * `want` is NULL (anywhere) or a wanted address, rounded down to the allocation granularity; it
 * must be free. Nothing is mapped: touching any byte faults. No privilege is needed.
 * Errors: PLAT_EFAULT (base NULL), PLAT_EINVAL (size 0, unknown flags), PLAT_EADDRNOTAVAIL (the
 * wanted range is taken, or leaves the application's addresses), PLAT_ENOMEM (no address space,
 * or the kernel mapping budget), PLAT_ENOTSUP (a huge window where the OS has no huge pages; or
 * an OS whose AWE is only stubs and refuses the reservation, as Wine does), PLAT_EIO (the OS
 * failed unexpectedly). */
int plat_window_reserve(void *want, size_t size, unsigned flags, void **base);

/* Releases the window that starts at `base`: every page is unmapped and the range is returned to
 * the system; the frames stay allocated and keep their contents. Errors (nothing changed):
 * PLAT_EADDRNOTAVAIL (`base` is not the base of a window: inside one, or none), PLAT_ENOMEM
 * (the kernel mapping budget), PLAT_EIO (the OS refused). */
int plat_window_release(void *base);

/* Stores the base and size of the window containing `va`. Errors: PLAT_EFAULT (base or size
 * NULL), PLAT_EADDRNOTAVAIL (`va` is in no window). */
int plat_window_find(const void *va, void **base, size_t *size);

/* ---- Mapping ------------------------------------------------------------------------------ */

/* Maps frames[i] at va + i * page for i in [0, count), read/write. `va` is rounded down to its
 * page; the whole range must lie in one window. frames == NULL unmaps the range; an entry 0
 * unmaps its page. A frame mapped at a target page is replaced (and becomes unmapped). Each frame
 * to map must be owned, not mapped anywhere now (not even at its target), and listed once.
 * Huge windows take huge frames, small windows small ones. All or nothing; on success every
 * thread sees the new mappings. The first bad entry in array order gives the error.
 * Errors: PLAT_EINVAL (count 0; range outside one window; frame mapped, listed twice or of the
 * wrong size; no frame ever allocated), PLAT_ENXIO (frame not owned), PLAT_ENOMEM (the kernel
 * mapping budget would be exceeded, or memory for the call), PLAT_EIO (the OS refused; nothing
 * changed). */
int plat_map(void *va, size_t count, const plat_frame_t *frames);

/* Entry i maps frames[i] at the page holding vas[i]; entries may lie in different windows and be
 * in any order; frames[i] == 0 unmaps vas[i]; frames == NULL unmaps every listed page. count == 0
 * succeeds. The same rules as plat_map per entry, plus: a page listed twice is PLAT_EINVAL. All or
 * nothing across the whole array. Errors: PLAT_EFAULT (vas NULL with count > 0), PLAT_EINVAL (a
 * page in no window or listed twice; frame mapped, listed twice or of the wrong size; no frame
 * ever allocated), PLAT_ENXIO, PLAT_ENOMEM, PLAT_EIO (as plat_map). */
int plat_map_scatter(void *const *vas, size_t count, const plat_frame_t *frames);

/* Stores in *frame the frame mapped at the page holding `va`, or 0 when that page of a window is
 * unmapped. Errors: PLAT_EFAULT (frame NULL), PLAT_EINVAL (`va` is in no window). */
int plat_query(const void *va, plat_frame_t *frame);

/* Copies frames[0..count) into buf, frame after frame (to_frames false), or buf into them
 * (to_frames true): count * the frames' page size bytes, without mapping anything, so without any
 * window change or TLB flush. Every frame must be owned by this process and of one size; mapped
 * frames are fine (the copy sees, and is seen by, their mappings). An extension of ours: Windows'
 * AWE has no such call (PLAT_ENOTSUP there; the caller maps instead). Frames are read or written
 * whole or the call fails; a failed write may have written some of them.
 * Errors: PLAT_EFAULT (frames or buf NULL), PLAT_EINVAL (count 0, a frame never allocated,
 * frames of two sizes), PLAT_ENXIO (a frame not owned), PLAT_ENOMEM (the system is short of
 * memory), PLAT_ENOTSUP (Windows), PLAT_EIO (the OS failed; a failed write may have written some
 * of the frames). */
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

/* Fills *stats with a consistent snapshot of the process-wide counters. Errors: PLAT_EFAULT
 * (stats NULL). */
int plat_get_stats(struct plat_stats *stats);

/* Lowers (or raises, up to the system's physical memory) the number of small frames this process
 * may hold. Frames already held stay. Errors: PLAT_EINVAL (`limit` exceeds what the machine
 * has). */
int plat_set_frame_limit(uint64_t limit);

/* ---- Plain virtual memory (for the Windows-compatible VirtualAlloc) ----------------------- */

#define PLAT_PROT_NONE  0x0u
#define PLAT_PROT_READ  0x1u
#define PLAT_PROT_WRITE 0x2u
#define PLAT_PROT_EXEC  0x4u

/* Reserves `size` bytes of address space (whole pages), inaccessible, at `want` (rounded down to
 * the allocation granularity; must be free) or anywhere granularity-aligned when `want` is NULL.
 * Errors: PLAT_EFAULT (base NULL), PLAT_EINVAL (size 0, or one that wraps when rounded up to
 * whole pages), PLAT_EADDRNOTAVAIL (taken), PLAT_ENOMEM (no address space), PLAT_EIO. */
int plat_vm_reserve(void *want, size_t size, void **base);

/* Commits [addr, addr + size) of a reservation with protection `prot` (PLAT_PROT_*): committed
 * memory reads as zeros until written. Errors: PLAT_EINVAL (unknown protection bits, size 0, a
 * size that wraps when rounded up to whole pages, a range outside a reservation), PLAT_ENOMEM,
 * PLAT_EIO. */
int plat_vm_commit(void *addr, size_t size, unsigned prot);

/* Changes the protection of committed pages. Errors: as plat_vm_commit. */
int plat_vm_protect(void *addr, size_t size, unsigned prot);

/* Decommits [addr, addr + size): the pages become inaccessible and their memory is returned (a
 * later commit reads zeros). Errors: PLAT_EINVAL (size 0 or one that wraps when rounded up to
 * whole pages), PLAT_ENOMEM, PLAT_EIO. */
int plat_vm_decommit(void *addr, size_t size);

/* Releases a whole reservation made by plat_vm_reserve (`size` as reserved). Errors: PLAT_EINVAL
 * (size 0 or one that wraps when rounded up to whole pages), PLAT_ENOMEM, PLAT_EIO. */
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
