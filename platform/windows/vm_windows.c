/*
 * platform/windows/vm_windows.c: plain virtual memory (reserve, commit, protect, decommit,
 * release) with VirtualAlloc, VirtualProtect and VirtualFree, for regions that are not AWE
 * windows; and aligned heap memory (_aligned_malloc, since Windows' C runtimes have no C11
 * aligned_alloc).
 *
 * These are Windows' own calls, so the contract is theirs with the platform's codes: a
 * reservation is MEM_RESERVE with PAGE_NOACCESS (its base a multiple of the allocation
 * granularity), a commit gives pages a protection and reads zeros until written, a decommit
 * returns their memory.
 */
#include "plat.h"

#include "os_windows.h"

#include <malloc.h>

/* The Windows protection for a PLAT_PROT_* combination; false for an unknown bit. Windows has
 * no write-only pages: write implies read, as on Linux's x86 mappings. */
static bool prot_to_os(unsigned prot, DWORD *os)
{
    static const DWORD table[8] = {
        PAGE_NOACCESS,          /* none */
        PAGE_READONLY,          /* read */
        PAGE_READWRITE,         /* write */
        PAGE_READWRITE,         /* read | write */
        PAGE_EXECUTE,           /* exec */
        PAGE_EXECUTE_READ,      /* exec | read */
        PAGE_EXECUTE_READWRITE, /* exec | write */
        PAGE_EXECUTE_READWRITE, /* exec | read | write */
    };

    if ((prot & ~(PLAT_PROT_READ | PLAT_PROT_WRITE | PLAT_PROT_EXEC)) != 0)
        return false;
    *os = table[prot];
    return true;
}

/* Errors of these calls: what the table says, narrowed to the contract's codes. */
static int vm_err(DWORD err)
{
    int rc = os_to_plat(err);

    return rc == 0 || rc == PLAT_ENOMEM || rc == PLAT_EINVAL || rc == PLAT_EADDRNOTAVAIL ? rc
                                                                                         : PLAT_EIO;
}

int plat_vm_reserve(void *want, size_t size, void **base)
{
    void *p = NULL;
    DWORD err;

    if (base == NULL)
        return PLAT_EFAULT;
    if (size == 0)
        return PLAT_EINVAL;
    err = os_virtual_alloc(want, size, MEM_RESERVE, PAGE_NOACCESS, &p);
    if (err != 0)
        return want != NULL && err == ERROR_INVALID_ADDRESS ? PLAT_EADDRNOTAVAIL : vm_err(err);
    *base = p;
    return 0;
}

int plat_vm_commit(void *addr, size_t size, unsigned prot)
{
    DWORD os;
    void *p;

    if (!prot_to_os(prot, &os) || size == 0)
        return PLAT_EINVAL;
    return vm_err(os_virtual_alloc(addr, size, MEM_COMMIT, os, &p));
}

int plat_vm_protect(void *addr, size_t size, unsigned prot)
{
    DWORD os;

    if (!prot_to_os(prot, &os) || size == 0)
        return PLAT_EINVAL;
    return vm_err(os_virtual_protect(addr, size, os));
}

int plat_vm_decommit(void *addr, size_t size)
{
    if (size == 0)
        return PLAT_EINVAL;
    return vm_err(os_virtual_free(addr, size, MEM_DECOMMIT));
}

int plat_vm_release(void *base, size_t size)
{
    if (size == 0)
        return PLAT_EINVAL;
    return vm_err(os_virtual_free(base, 0, MEM_RELEASE)); /* Windows releases whole regions */
}

void *plat_aligned_alloc(size_t align, size_t size)
{
    if (size == 0 || align == 0 || (align & (align - 1)) != 0)
        return NULL;
    return _aligned_malloc(size, align);
}

void plat_aligned_free(void *p)
{
    _aligned_free(p);
}
