/*
 * awe/awe.c: the native AWE API. Every rule lives in the platform layer (which on Windows is the
 * operating system itself); this file gives it the public names, checks that the public
 * constants and structures agree with the platform's, and describes the error codes.
 */
#include "awe.h"

#include "plat.h"

#include <assert.h>
#include <string.h>

/* The public header repeats the platform's constants so that it can be installed alone: every
 * AWE code is the platform code of the same name, with the same Win32 number. */
enum {
#define WIN32_OF_PLAT_(name, value, win32, win32_name, text) win32_of_plat_##name = (win32),
    PLAT_ERROR_MAP(WIN32_OF_PLAT_)
#undef WIN32_OF_PLAT_
};
#define AWE_SAME_AS_PLAT_(name, value, win32, win32_name, text)                                    \
    static_assert((int)AWE_##name == (int)PLAT_##name && (win32) == win32_of_plat_##name,          \
                  "AWE_" #name " must equal PLAT_" #name ", with the same Win32 number");
AWE_ERROR_MAP(AWE_SAME_AS_PLAT_)
#undef AWE_SAME_AS_PLAT_
static_assert(AWE_FRAMES_HUGE == PLAT_FRAMES_HUGE && AWE_FRAMES_POPULATE == PLAT_FRAMES_POPULATE &&
                  AWE_WINDOW_HUGE == PLAT_WINDOW_HUGE &&
                  AWE_WINDOW_POPULATE == PLAT_WINDOW_POPULATE,
              "awe.h flags must equal plat.h's");
static_assert(AWE_PROT_READ == PLAT_PROT_READ && AWE_PROT_WRITE == PLAT_PROT_WRITE &&
                  AWE_PROT_EXEC == PLAT_PROT_EXEC && AWE_PROT_NONE == PLAT_PROT_NONE,
              "awe.h protections must equal plat.h's");
static_assert(sizeof(awe_frame_t) == sizeof(plat_frame_t), "frame numbers differ in width");

AWE_API const char *awe_strerror(int err)
{
    switch (err) {
#define AWE_TEXT_(name, value, win32, win32_name, text)                                            \
    case AWE_##name:                                                                               \
        return text;
        AWE_ERROR_MAP(AWE_TEXT_)
#undef AWE_TEXT_
    default:
        return "unknown error";
    }
}

AWE_API const char *awe_err_name(int err)
{
    switch (err) {
#define AWE_NAME_(name, value, win32, win32_name, text)                                            \
    case AWE_##name:                                                                               \
        return "AWE_" #name;
        AWE_ERROR_MAP(AWE_NAME_)
#undef AWE_NAME_
    default:
        return "unknown";
    }
}

AWE_API int awe_get_caps(struct awe_caps *caps)
{
    struct plat_caps pc;
    int rc;

    if (caps == NULL)
        return AWE_EFAULT;
    rc = plat_get_caps(&pc);
    if (rc != 0)
        return rc;
    memset(caps, 0, sizeof(*caps));
    caps->page_size = pc.page_size;
    caps->huge_page_size = pc.huge_page_size;
    caps->alloc_granularity = pc.alloc_granularity;
    caps->frame_limit = pc.frame_limit;
    caps->huge_frames_free = pc.huge_frames_free;
    caps->vma_budget = pc.vma_budget;
    caps->max_map_count = pc.max_map_count;
    caps->processor_count = pc.processor_count;
    caps->min_app_address = pc.min_app_address;
    caps->max_app_address = pc.max_app_address;
    return AWE_OK;
}

AWE_API int awe_frames_alloc(size_t *count, awe_frame_t *frames, unsigned flags, int numa_node)
{
    return plat_frames_alloc(count, frames, flags, numa_node);
}

AWE_API int awe_frames_free(size_t *count, const awe_frame_t *frames)
{
    return plat_frames_free(count, frames);
}

AWE_API int awe_set_frame_limit(uint64_t limit)
{
    return plat_set_frame_limit(limit);
}

AWE_API int awe_window_reserve(void *want, size_t size, unsigned flags, void **base)
{
    return plat_window_reserve(want, size, flags, base);
}

AWE_API int awe_window_release(void *base)
{
    return plat_window_release(base);
}

AWE_API int awe_window_find(const void *va, void **base, size_t *size)
{
    return plat_window_find(va, base, size);
}

AWE_API int awe_map(void *va, size_t count, const awe_frame_t *frames)
{
    return plat_map(va, count, frames);
}

AWE_API int awe_unmap(void *va, size_t count)
{
    return plat_map(va, count, NULL);
}

AWE_API int awe_map_scatter(void *const *vas, size_t count, const awe_frame_t *frames)
{
    return plat_map_scatter(vas, count, frames);
}

AWE_API int awe_frames_read(const awe_frame_t *frames, size_t count, void *buf)
{
    return plat_frames_copy(frames, count, buf, 0);
}

AWE_API int awe_frames_write(const awe_frame_t *frames, size_t count, const void *buf)
{
    return plat_frames_copy(frames, count, (void *)(uintptr_t)buf, 1);
}

AWE_API int awe_query(const void *va, awe_frame_t *frame)
{
    if (frame == NULL)
        return AWE_EFAULT;
    return plat_query(va, frame);
}

AWE_API int awe_get_stats(struct awe_stats *stats)
{
    struct plat_stats ps;
    int rc;

    if (stats == NULL)
        return AWE_EFAULT;
    rc = plat_get_stats(&ps);
    if (rc != 0)
        return rc;
    stats->map_calls = ps.map_calls;
    stats->scatter_calls = ps.scatter_calls;
    stats->failed_calls = ps.failed_calls;
    stats->pages_mapped = ps.pages_mapped;
    stats->pages_unmapped = ps.pages_unmapped;
    stats->runs = ps.runs;
    stats->vmas_in_use = ps.vmas_in_use;
    stats->vmas_peak = ps.vmas_peak;
    stats->frames_allocated = ps.frames_allocated;
    stats->huge_frames_allocated = ps.huge_frames_allocated;
    stats->frames_peak = ps.frames_peak;
    stats->windows = ps.windows;
    return AWE_OK;
}

AWE_API int awe_vm_reserve(void *want, size_t size, void **base)
{
    return plat_vm_reserve(want, size, base);
}

AWE_API int awe_vm_commit(void *addr, size_t size, unsigned prot)
{
    return plat_vm_commit(addr, size, prot);
}

AWE_API int awe_vm_protect(void *addr, size_t size, unsigned prot)
{
    return plat_vm_protect(addr, size, prot);
}

AWE_API int awe_vm_decommit(void *addr, size_t size)
{
    return plat_vm_decommit(addr, size);
}

AWE_API int awe_vm_release(void *base, size_t size)
{
    return plat_vm_release(base, size);
}
