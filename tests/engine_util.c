/*
 * tests/engine_util.c: helpers shared by the page-cache tests (contracts in engine_util.h).
 */
#include "engine_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef AWC_TEST_DIR
#error "AWC_TEST_DIR (a scratch directory under the build tree) must be defined"
#endif

/* ---- Scratch directory ------------------------------------------------------------------- */

static char scratch[1024];
static pid_t scratch_owner;

static void mkdir_p(const char *path)
{
    char tmp[1024];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(tmp))
        return;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (tmp[i] == '/') {
            tmp[i] = '\0';
            mkdir(tmp, 0755);
            tmp[i] = '/';
        }
    }
    mkdir(tmp, 0755);
}

void et_init(const char *prog)
{
    const char *base = getenv("AWC_TEST_DIR");

    if (base == NULL || base[0] == '\0')
        base = AWC_TEST_DIR;
    mkdir_p(base);
    if (snprintf(scratch, sizeof(scratch), "%s/%s-XXXXXX", base, prog) >= (int)sizeof(scratch) ||
        mkdtemp(scratch) == NULL) {
        fprintf(stderr, "cannot make a scratch directory under %s: %s\n", base, strerror(errno));
        exit(1);
    }
    scratch_owner = getpid();
    atexit(et_cleanup);
}

const char *et_dir(void)
{
    return scratch;
}

char *et_path(char *buf, size_t len, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", scratch, name);

    assert_true(n > 0 && (size_t)n < len);
    return buf;
}

void et_cleanup(void)
{
    DIR *d;
    struct dirent *e;
    char p[1400];

    if (scratch[0] == '\0' || getpid() != scratch_owner)
        return;
    d = opendir(scratch);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", scratch, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(scratch);
    scratch[0] = '\0';
}

void et_unlink(const char *path)
{
    unlink(path);
}

bool et_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

uint64_t et_file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

void et_pwrite(const char *path, const void *buf, size_t len, uint64_t off)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0600);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

void et_pread(const char *path, void *buf, size_t len, uint64_t off)
{
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

void et_flip_byte(const char *path, uint64_t off)
{
    unsigned char b;

    et_pread(path, &b, 1, off);
    b ^= 0xff;
    et_pwrite(path, &b, 1, off);
}

void et_truncate(const char *path, uint64_t size)
{
    assert_int_equal(truncate(path, (off_t)size), 0);
}

/* ---- The file layout --------------------------------------------------------------------- */

uint64_t et_page_offset(size_t ps, uint64_t page)
{
    return ET_DATA_BASE + page / ET_SEG_PAGES * (4096 + ET_SEG_PAGES * (uint64_t)ps) + 4096 +
           page % ET_SEG_PAGES * (uint64_t)ps;
}

uint64_t et_ck_offset(size_t ps, uint64_t page)
{
    return ET_DATA_BASE + page / ET_SEG_PAGES * (4096 + ET_SEG_PAGES * (uint64_t)ps) +
           page % ET_SEG_PAGES * 16;
}

/* ---- Configuration ----------------------------------------------------------------------- */

struct awc_config et_cfg(const char *path, size_t page_size, uint64_t frames, uint64_t slots,
                         unsigned flags)
{
    struct awc_config cfg = {
        .path = path,
        .page_size = page_size,
        .frame_budget = frames * page_size,
        .window_budget = slots * page_size,
        .flags = flags,
    };
    return cfg;
}

static awc_t **kept;
static size_t nkept, capkept;

void et_keep(awc_t *c)
{
    if (nkept == capkept) {
        capkept = capkept ? 2 * capkept : 64;
        kept = realloc(kept, capkept * sizeof(*kept));
        assert_non_null(kept);
    }
    kept[nkept++] = c;
}

unsigned et_close_all(void)
{
    unsigned n = 0;

    for (size_t i = 0; i < nkept; i++) {
        int rc = awc_close(kept[i]);

        n += rc != AWC_ECLOSED && rc != AWC_EBUSY;
    }
    return n;
}

awc_t *et_open(const struct awc_config *cfg)
{
    awc_t *c = NULL;

    ET_EXPECT(awc_open(cfg, &c), AWC_OK);
    assert_non_null(c);
    et_keep(c);
    return c;
}

void et_close(awc_t *c)
{
    ET_EXPECT(awc_close(c), AWC_OK);
}

struct awc_stats et_stats(awc_t *c)
{
    struct awc_stats st;

    ET_EXPECT(awc_get_stats(c, &st), AWC_OK);
    return st;
}

/* ---- Page contents ----------------------------------------------------------------------- */

#define ET_MAGIC UINT64_C(0x4157435445535431) /* "AWCTEST1" */
#define ET_HDR   4                            /* header words: magic, page, version, checksum */

uint64_t et_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static uint64_t seed_of(uint64_t page, uint64_t version)
{
    return et_mix64(page * UINT64_C(0x9e3779b97f4a7c15) ^ et_mix64(version + 0x1234567));
}

/* The body word i of (page, version), and the running checksum step. */
#define BODY(seed, i) et_mix64((seed) + (uint64_t)(i)*UINT64_C(0x9e3779b97f4a7c15))
#define CK_STEP(h, w) (((h) ^ (w)) * UINT64_C(0x100000001b3) + 0x51)

void et_fill(void *p, size_t len, uint64_t page, uint64_t version)
{
    uint64_t *w = p, seed = seed_of(page, version), h = 0;
    size_t n = len / 8;

    for (size_t i = ET_HDR; i < n; i++) {
        w[i] = BODY(seed, i);
        h = CK_STEP(h, w[i]);
    }
    w[0] = ET_MAGIC;
    w[1] = page;
    w[2] = version;
    w[3] = h;
}

bool et_is_zero(const void *p, size_t len)
{
    const uint64_t *w = p;

    for (size_t i = 0; i < len / 8; i++)
        if (w[i] != 0)
            return false;
    return true;
}

enum et_verdict et_check(const void *p, size_t len, uint64_t page, uint64_t *version)
{
    const uint64_t *w = p;
    uint64_t seed, h = 0;
    size_t n = len / 8;
    bool body_ok = true;

    if (w[0] != ET_MAGIC) {
        if (!et_is_zero(p, len))
            return ET_BAD_MAGIC;
        *version = 0;
        return ET_GOOD;
    }
    if (w[1] != page)
        return ET_WRONG_PAGE;
    seed = seed_of(page, w[2]);
    for (size_t i = ET_HDR; i < n; i++) {
        body_ok = body_ok && w[i] == BODY(seed, i);
        h = CK_STEP(h, w[i]);
    }
    if (h != w[3])
        return ET_BAD_CHECKSUM;
    if (!body_ok)
        return ET_BAD_BODY;
    *version = w[2];
    return ET_GOOD;
}

const char *et_check_str(enum et_verdict v)
{
    switch (v) {
    case ET_GOOD:
        return "good";
    case ET_BAD_MAGIC:
        return "not a test pattern (and not zeros)";
    case ET_WRONG_PAGE:
        return "the pattern of another page";
    case ET_BAD_BODY:
        return "body does not match its header";
    case ET_BAD_CHECKSUM:
        return "body checksum mismatch";
    }
    return "?";
}

/* ---- Small things ------------------------------------------------------------------------ */

uint64_t et_env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    char *end;
    unsigned long long v;

    if (s == NULL || s[0] == '\0')
        return dflt;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return dflt;
    return (uint64_t)v;
}

uint64_t et_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545f4914f6cdd1d);
}

uint64_t et_rand_below(uint64_t *state, uint64_t n)
{
    return (et_rand(state) >> 11) % n;
}

uint64_t et_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void et_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- Key-value test values --------------------------------------------------------------- */

#define ET_GOLD UINT64_C(0x9e3779b97f4a7c15)

static uint64_t value_check_word(uint64_t id, uint64_t version, size_t len)
{
    return et_mix64(id * ET_GOLD ^ et_mix64(version) ^ ((uint64_t)len << 20) ^ UINT64_C(0xc4a54));
}

/* The bytes after the header: word n of the body is et_mix64(check + n * ET_GOLD). With `cmp`
 * they are compared with b instead of written; returns false on the first difference. */
static bool value_body(uint8_t *b, const uint8_t *cmp, size_t len, uint64_t check)
{
    for (size_t i = ET_VHDR, n = 0; i < len; n++) {
        uint64_t w = et_mix64(check + n * ET_GOLD);
        size_t k = len - i < 8 ? len - i : 8;

        if (cmp != NULL && memcmp(cmp + i, &w, k) != 0)
            return false;
        if (cmp == NULL)
            memcpy(b + i, &w, k);
        i += k;
    }
    return true;
}

void et_value_make(uint8_t *b, size_t len, uint64_t id, uint64_t version)
{
    uint64_t h[3] = {id, version, value_check_word(id, version, len)};

    memcpy(b, h, ET_VHDR);
    value_body(b, NULL, len, h[2]);
}

bool et_value_ok(const uint8_t *b, size_t len, uint64_t id, uint64_t *version)
{
    uint64_t h[3];

    if (len < ET_VHDR)
        return false;
    memcpy(h, b, ET_VHDR);
    if (h[0] != id || h[2] != value_check_word(id, h[1], len) || !value_body(NULL, b, len, h[2]))
        return false;
    *version = h[1];
    return true;
}
