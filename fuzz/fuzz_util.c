/*
 * fuzz/fuzz_util.c: scratch files, failure reports, the input reader and the damage operations
 * (fuzz_util.h; the encoding is in README.md).
 */
#include "fuzz_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *fuzz_name = "fuzz";

/* ---- Failures ---------------------------------------------------------------------------- */

static char damage_log[8192];
static size_t damage_log_len;

void fuzz_log_reset(void)
{
    damage_log_len = 0;
    damage_log[0] = '\0';
}

void fuzz_log(const char *fmt, ...)
{
    va_list ap;
    int n;

    if (damage_log_len + 2 >= sizeof(damage_log))
        return;
    va_start(ap, fmt);
    n = vsnprintf(damage_log + damage_log_len, sizeof(damage_log) - damage_log_len - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    damage_log_len += (size_t)n;
    if (damage_log_len > sizeof(damage_log) - 2)
        damage_log_len = sizeof(damage_log) - 2;
    damage_log[damage_log_len++] = '\n';
    damage_log[damage_log_len] = '\0';
}

static void fuzz_cleanup(void);

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    const char *keep = getenv("FUZZ_KEEP_FILES");

    fprintf(stderr, "\n%s: FAIL: ", fuzz_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s: the input's damage:\n%s", fuzz_name,
            damage_log_len > 0 ? damage_log : "  (none)\n");
    /* abort() skips atexit: the scratch files go now, unless kept for a look. */
    if (keep != NULL && keep[0] != '\0' && strcmp(keep, "0") != 0)
        fprintf(stderr, "%s: scratch files kept (FUZZ_KEEP_FILES)\n", fuzz_name);
    else
        fuzz_cleanup();
    fflush(stderr);
    abort();
}

bool fuzz_code_in(int err, const int *allowed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (err == allowed[i])
            return true;
    return false;
}

/* ---- Scratch files ----------------------------------------------------------------------- */

#define MAX_PATHS 8

static char paths[MAX_PATHS][512];
static size_t npaths;

static void fuzz_cleanup(void)
{
    for (size_t i = 0; i < npaths; i++)
        unlink(paths[i]);
}

const char *fuzz_path(const char *tag)
{
    const char *dir = getenv("TMPDIR");

    if (access("/dev/shm", W_OK) == 0)
        dir = "/dev/shm";
    else if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    if (npaths == MAX_PATHS)
        fuzz_fail("more than %d scratch files", MAX_PATHS);
    if (npaths == 0)
        atexit(fuzz_cleanup);
    snprintf(paths[npaths], sizeof(paths[npaths]), "%s/awecache-%s-%ld-%s", dir, fuzz_name,
             (long)getpid(), tag);
    unlink(paths[npaths]);
    return paths[npaths++];
}

void fuzz_write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL || (len > 0 && fwrite(buf, 1, len, f) != len) || fclose(f) != 0)
        fuzz_fail("cannot write the scratch file %s", path);
}

uint8_t *fuzz_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (b = malloc((size_t)n + 1)) == NULL ||
        fread(b, 1, (size_t)n, f) != (size_t)n)
        fuzz_fail("cannot read the scratch file %s", path);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- Input reader ------------------------------------------------------------------------ */

uint8_t fuzz_u8(struct fuzz_in *in)
{
    return in->at < in->len ? in->p[in->at++] : (in->at = in->len + 1, 0);
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
    uint16_t v = fuzz_u8(in);

    return (uint16_t)(v | fuzz_u8(in) << 8);
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
    uint32_t v = fuzz_u16(in);

    return v | (uint32_t)fuzz_u16(in) << 16;
}

bool fuzz_in_end(const struct fuzz_in *in)
{
    return in->at >= in->len;
}

uint64_t fuzz_mix64(uint64_t x)
{
    uint64_t z = x + 0x9e3779b97f4a7c15ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- Damage operations ------------------------------------------------------------------- */

void fuzz_image_init(struct fuzz_image *img, const uint8_t *src, size_t len,
                     const struct awc_file_info *info)
{
    uint64_t segs;

    img->cap = len + FUZZ_MAX_EXTEND;
    img->b = malloc(img->cap);
    if (img->b == NULL)
        fuzz_fail("out of memory for a file image");
    memcpy(img->b, src, len);
    img->len = len;
    img->info = *info;
    segs = len > info->data_base
               ? (len - info->data_base + info->segment_bytes - 1) / info->segment_bytes
               : 0;
    img->page_slots = segs * info->segment_pages;
}

void fuzz_image_free(struct fuzz_image *img)
{
    free(img->b);
    img->b = NULL;
}

/* A place in the file, decoded from a kind byte and a 32-bit value (README.md):
 * 0 an absolute offset, 1 in the superblocks (before data_base), 2 in a segment's checksum block,
 * 3 in a page of the valid file's segments, 4 counted back from the end. */
static uint64_t where(const struct fuzz_image *img, struct fuzz_in *in, const char **what)
{
    const struct awc_file_info *fi = &img->info;
    uint8_t kind = fuzz_u8(in);
    uint32_t v = fuzz_u32(in);
    uint64_t nseg = img->page_slots / fi->segment_pages;

    switch (kind % 5) {
    case 0:
        *what = "offset";
        return v % ((uint64_t)img->len + 1);
    case 1:
        *what = "superblocks";
        return v % fi->data_base;
    case 2:
        *what = "checksum block";
        if (nseg == 0)
            return v % fi->data_base;
        return fi->data_base + (v >> 16) % nseg * fi->segment_bytes +
               (v & 0xffffu) % fi->segment_header;
    case 3:
        *what = "page";
        if (img->page_slots == 0)
            return v % fi->data_base;
        return awc_file_page_offset(fi, (v >> 12) % img->page_slots) + (v & 0xfffu) % fi->page_size;
    default:
        *what = "from the end";
        return img->len - v % ((uint64_t)img->len + 1);
    }
}

/* Bytes [off, off + n) clipped to the image. */
static size_t clip(const struct fuzz_image *img, uint64_t off, size_t n)
{
    if (off >= img->len)
        return 0;
    return n < img->len - off ? n : (size_t)(img->len - off);
}

void fuzz_damage(struct fuzz_image *img, struct fuzz_in *in, struct fuzz_logical *logical,
                 size_t *nlogical)
{
    const struct awc_file_info *fi = &img->info;
    const char *what;

    for (int op = 0; op < FUZZ_MAX_OPS && !fuzz_in_end(in); op++) {
        uint8_t code = fuzz_u8(in);

        switch (code % 8) {
        case 0: { /* zero a page of the valid file's segments */
            uint64_t page = img->page_slots > 0 ? fuzz_u16(in) % img->page_slots : 0;
            uint64_t off = awc_file_page_offset(fi, page);
            size_t n = clip(img, off, fi->page_size);

            if (img->page_slots == 0)
                break;
            memset(img->b + off, 0, n);
            fuzz_log("  zero page %llu (%zu bytes at %llu)", (unsigned long long)page, n,
                     (unsigned long long)off);
            break;
        }
        case 1: { /* flip bytes */
            uint64_t off = where(img, in, &what);
            size_t n = clip(img, off, fuzz_u8(in) % 32 + 1);
            uint8_t mask = fuzz_u8(in);

            if (mask == 0)
                mask = 0xff;
            for (size_t i = 0; i < n; i++)
                img->b[off + i] ^= mask;
            fuzz_log("  flip %zu bytes at %llu (%s) with %#x", n, (unsigned long long)off, what,
                     mask);
            break;
        }
        case 2: { /* write the input's bytes */
            uint64_t off = where(img, in, &what);
            size_t want = fuzz_u8(in), n = clip(img, off, want);

            for (size_t i = 0; i < want; i++) {
                uint8_t v = fuzz_u8(in);

                if (i < n)
                    img->b[off + i] = v;
            }
            fuzz_log("  write %zu bytes at %llu (%s)", n, (unsigned long long)off, what);
            break;
        }
        case 3: { /* truncate */
            uint64_t off = where(img, in, &what);

            if (off < img->len)
                img->len = (size_t)off;
            fuzz_log("  truncate to %zu bytes (%s)", img->len, what);
            break;
        }
        case 4: { /* drop the last segment (whole or partial) */
            if (img->len > fi->data_base) {
                uint64_t segs =
                    (img->len - fi->data_base + fi->segment_bytes - 1) / fi->segment_bytes;

                img->len = (size_t)(fi->data_base + (segs - 1) * fi->segment_bytes);
            }
            fuzz_log("  drop the last segment: %zu bytes", img->len);
            break;
        }
        case 5: { /* extend with garbage */
            size_t n = (size_t)fuzz_u16(in) * 32;
            uint8_t seed = fuzz_u8(in);

            if (n > img->cap - img->len)
                n = img->cap - img->len;
            for (size_t i = 0; i < n; i++)
                img->b[img->len + i] =
                    seed == 0 ? 0
                              : (uint8_t)(fuzz_mix64(seed * 0x100000000ull + i / 8) >> (i % 8 * 8));
            img->len += n;
            fuzz_log("  extend by %zu bytes of %s", n, seed == 0 ? "zeros" : "garbage");
            break;
        }
        case 6: { /* zero a range */
            uint64_t off = where(img, in, &what);
            size_t n = clip(img, off, (size_t)fuzz_u16(in) + 1);

            memset(img->b + off, 0, n);
            fuzz_log("  zero %zu bytes at %llu (%s)", n, (unsigned long long)off, what);
            break;
        }
        default: { /* a write through the page cache */
            struct fuzz_logical l;

            l.page = fuzz_u16(in);
            l.off = fuzz_u16(in) % fi->page_size;
            l.n = fuzz_u8(in);
            for (size_t i = 0; i < l.n; i++)
                l.bytes[i] = fuzz_u8(in);
            if (l.off + l.n > fi->page_size)
                l.n = fi->page_size - l.off;
            if (logical == NULL || *nlogical == FUZZ_MAX_LOGICAL)
                break;
            if (img->page_slots > 0)
                l.page %= img->page_slots;
            logical[(*nlogical)++] = l;
            fuzz_log("  logical write of %zu bytes at page %llu + %zu", l.n,
                     (unsigned long long)l.page, l.off);
            break;
        }
        }
    }
}
