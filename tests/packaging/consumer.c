/*
 * tests/packaging/consumer.c: a program built against the installed Debian packages (headers
 * from libawecache-dev, the library from libawecache0). It uses both public headers: it asks
 * awe_get_caps() for the page size, then puts an item into a key-value cache in the directory
 * argv[1], closes it, reopens it and reads the item back. Prints one line and exits 0 when every
 * step gives what it should, 1 otherwise.
 */
#include <awe.h>
#include <awecache.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "packaging consumer: %s: %s (%d)\n", what, awc_strerror(rc), rc);
    return 1;
}

int main(int argc, char **argv)
{
    static const char key[] = "packaged";
    static const char value[] = "found after a reopen";
    struct awe_caps caps;
    char path[4096];
    char buf[64];
    size_t len = 0;
    awc_kv_t *kv;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: consumer DIR\n");
        return 2;
    }
    if ((rc = awe_get_caps(&caps)) != AWE_OK)
        return fail("awe_get_caps", rc);
    if ((size_t)snprintf(path, sizeof(path), "%s/items.awc", argv[1]) >= sizeof(path))
        return fail("path too long", AWC_EINVAL);

    struct awc_kv_config cfg = {
        .path = path,
        .capacity = 64u * caps.page_size, /* the smallest log: 64 pages */
        .frame_budget = 1u << 20,
        .flags = AWC_CREATE | AWC_EXCL,
    };
    if ((rc = awc_kv_open(&cfg, &kv)) != AWC_OK)
        return fail("awc_kv_open (create)", rc);
    if ((rc = awc_kv_put(kv, key, strlen(key), value, strlen(value), 0)) != AWC_OK)
        return fail("awc_kv_put", rc);
    if ((rc = awc_kv_close(kv)) != AWC_OK)
        return fail("awc_kv_close", rc);

    cfg.capacity = 0; /* the file's own */
    cfg.flags = 0;
    if ((rc = awc_kv_open(&cfg, &kv)) != AWC_OK)
        return fail("awc_kv_open (reopen)", rc);
    rc = awc_kv_get(kv, key, strlen(key), buf, sizeof(buf), &len);
    if (rc != AWC_OK)
        return fail("awc_kv_get", rc);
    if (len != strlen(value) || memcmp(buf, value, len) != 0) {
        fprintf(stderr, "packaging consumer: read back '%.*s'\n", (int)len, buf);
        return 1;
    }
    if ((rc = awc_kv_close(kv)) != AWC_OK)
        return fail("awc_kv_close", rc);
    printf("packaging consumer: page size %zu, item %.*s\n", caps.page_size, (int)len, buf);
    return 0;
}
