/*
 * tests/install/consumer.c: a program outside the awecache tree that uses an installed awecache.
 * It includes the installed header, calls awe_get_caps() and prints the page size. Exit status 0
 * when the call succeeds and the page size is a nonzero power of two, 1 otherwise.
 */
#include <awe.h>

#include <stdio.h>

int main(void)
{
    struct awe_caps caps;
    int rc = awe_get_caps(&caps);

    if (rc != AWE_OK) {
        fprintf(stderr, "awecache consumer: awe_get_caps failed: %s (%d)\n", awe_strerror(rc), rc);
        return 1;
    }
    if (caps.page_size == 0 || (caps.page_size & (caps.page_size - 1)) != 0) {
        fprintf(stderr, "awecache consumer: bad page size %zu\n", caps.page_size);
        return 1;
    }
    printf("awecache consumer: page size %zu\n", caps.page_size);
    return 0;
}
