/*
 * platform/linux/vm_linux.c: plain virtual memory (reserve, commit, protect, decommit,
 * release), the Linux side of Windows' VirtualAlloc family for regions that are not AWE windows;
 * and aligned heap memory (C11 aligned_alloc).
 *
 * A reservation is an anonymous PROT_NONE mapping (MAP_NORESERVE: no memory is charged for it);
 * committing gives pages a protection; decommitting replaces them with fresh PROT_NONE pages, so
 * their memory goes back to the system and a later commit reads zeros.
 */
#include "plat.h"

#include "os_linux.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define VM_GRANULARITY ((uintptr_t)65536)

static int prot_to_os(unsigned prot, int *os)
{
    if ((prot & ~(PLAT_PROT_READ | PLAT_PROT_WRITE | PLAT_PROT_EXEC)) != 0)
        return PLAT_EINVAL;
    *os = ((prot & PLAT_PROT_READ) ? PROT_READ : 0) | ((prot & PLAT_PROT_WRITE) ? PROT_WRITE : 0) |
          ((prot & PLAT_PROT_EXEC) ? PROT_EXEC : 0);
    return 0;
}

static int os_to_plat(int rc)
{
    return rc == -ENOMEM || rc == -EAGAIN ? PLAT_ENOMEM : (rc == -EINVAL ? PLAT_EINVAL : PLAT_EIO);
}

static size_t page_round(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    return (size + page - 1) & ~(page - 1);
}

/* A size that rounds up to whole pages without wrapping to 0 (SIZE_MAX would: "success" with
 * nothing done). */
static bool size_ok(size_t size)
{
    return size != 0 && size <= SIZE_MAX - ((size_t)sysconf(_SC_PAGESIZE) - 1);
}

int plat_vm_reserve(void *want, size_t size, void **base)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    uintptr_t w = (uintptr_t)want & ~(VM_GRANULARITY - 1), a;
    void *p;
    int rc;

    if (base == NULL)
        return PLAT_EFAULT;
    if (size == 0 || size > SIZE_MAX - VM_GRANULARITY)
        return PLAT_EINVAL;
    size = page_round(size);
    if (w != 0) {
        rc = os_mmap((void *)w, size, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1, 0, &p);
        if (rc != 0)
            return rc == -ENOMEM ? PLAT_ENOMEM : PLAT_EADDRNOTAVAIL;
        if ((uintptr_t)p != w) {
            munmap(p, size);
            return PLAT_EADDRNOTAVAIL;
        }
        *base = p;
        return 0;
    }
    /* Over-reserve by one granule and trim, so the base is aligned as on Windows. */
    rc = os_mmap(NULL, size + VM_GRANULARITY, PROT_NONE, flags, -1, 0, &p);
    if (rc != 0)
        return os_to_plat(rc);
    a = ((uintptr_t)p + VM_GRANULARITY - 1) & ~(VM_GRANULARITY - 1);
    if (a > (uintptr_t)p)
        munmap(p, a - (uintptr_t)p);
    if ((uintptr_t)p + VM_GRANULARITY > a)
        munmap((void *)(a + size), (uintptr_t)p + VM_GRANULARITY - a);
    *base = (void *)a;
    return 0;
}

int plat_vm_commit(void *addr, size_t size, unsigned prot)
{
    int os, rc = prot_to_os(prot, &os);

    if (rc != 0)
        return rc;
    if (!size_ok(size))
        return PLAT_EINVAL;
    rc = os_mprotect(addr, page_round(size), os);
    return rc == 0 ? 0 : os_to_plat(rc);
}

int plat_vm_protect(void *addr, size_t size, unsigned prot)
{
    return plat_vm_commit(addr, size, prot);
}

int plat_vm_decommit(void *addr, size_t size)
{
    void *p;
    int rc;

    if (!size_ok(size))
        return PLAT_EINVAL;
    rc = os_mmap(addr, page_round(size), PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0, &p);
    return rc == 0 ? 0 : os_to_plat(rc);
}

int plat_vm_release(void *base, size_t size)
{
    int rc;

    if (!size_ok(size))
        return PLAT_EINVAL;
    rc = os_munmap(base, page_round(size));
    return rc == 0 ? 0 : os_to_plat(rc);
}

void *plat_aligned_alloc(size_t align, size_t size)
{
    if (size == 0 || align == 0 || (align & (align - 1)) != 0 || size > SIZE_MAX - align)
        return NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    /* C11 wants the size a multiple of the alignment. */
    return aligned_alloc(align, (size + align - 1) & ~(align - 1));
}

void plat_aligned_free(void *p)
{
    free(p);
}
