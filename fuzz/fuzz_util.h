/*
 * fuzz/fuzz_util.h: what the harnesses share: scratch files, the failure report, a byte reader
 * over the fuzzer's input, and the damage operations (README.md, "Damage operations") that the
 * file harnesses apply to a copy of a valid file.
 *
 * Conventions: a harness checks answers, not only survival; a wrong answer calls fuzz_fail(),
 * which prints what was wrong (and the damage applied) and aborts, so that libFuzzer saves the
 * input as a crash. Nothing here uses the engine's private headers: the file layout comes from
 * awc_get_file_info(), so the harnesses follow the format when it changes.
 */
#ifndef AWECACHE_FUZZ_UTIL_H
#define AWECACHE_FUZZ_UTIL_H

#include "awecache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Failures ---------------------------------------------------------------------------- */

/* Prints "<harness>: FAIL: <message>" and the damage log (fuzz_log), removes the scratch files
 * (unless the environment sets FUZZ_KEEP_FILES=1: then the damaged file stays for a look, its
 * path in fuzz_path's form) and aborts. */
_Noreturn void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Appends a line to the log fuzz_fail prints (the damage an input applied); reset per input. */
void fuzz_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fuzz_log_reset(void);
/* The harness's name, for the messages (set once by each harness). */
extern const char *fuzz_name;

/* True when err is one of the n codes of `allowed`. */
bool fuzz_code_in(int err, const int *allowed, size_t n);
#define FUZZ_CODE_IN(err, ...)                                                                     \
    fuzz_code_in((err), (const int[]){__VA_ARGS__},                                                \
                 sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

/* ---- Scratch files ----------------------------------------------------------------------- */

/* A path for a scratch file named `tag` of this process: in /dev/shm when it exists (tmpfs:
 * fast), else $TMPDIR or /tmp. Removed by fuzz_cleanup (registered with atexit). */
const char *fuzz_path(const char *tag);
/* Writes buf[0..len) as the whole file at path (replacing it); aborts on an I/O error. */
void fuzz_write_file(const char *path, const void *buf, size_t len);
/* Reads the whole file at path into a new buffer (*len bytes); aborts on an error. */
uint8_t *fuzz_read_file(const char *path, size_t *len);

/* ---- Input reader ------------------------------------------------------------------------ */

/* Reads the input from the front; past its end every read gives zeros and `end` is set. */
struct fuzz_in {
    const uint8_t *p;
    size_t len;
    size_t at;
};
uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
bool fuzz_in_end(const struct fuzz_in *in);

/* splitmix64's step: the page patterns, the values, the garbage. */
uint64_t fuzz_mix64(uint64_t x);

/* ---- Damage operations ------------------------------------------------------------------- */

/* A file image being damaged: bytes, length, and the layout of the valid file it came from. */
struct fuzz_image {
    uint8_t *b;
    size_t len;
    size_t cap;
    struct awc_file_info info; /* of the valid file (awc_get_file_info) */
    uint64_t page_slots;       /* pages the valid file's segments hold */
};

/* A write through the page cache (op 7, for the key-value harnesses): bytes at `off` in page
 * `page`, made with awc_pin/awc_unpin, so the page's checksum stays valid. */
struct fuzz_logical {
    uint64_t page;
    size_t off;
    size_t n;
    uint8_t bytes[256];
};

#define FUZZ_MAX_OPS     32
#define FUZZ_MAX_LOGICAL 8
#define FUZZ_MAX_EXTEND  (2u << 20) /* bytes a file may grow by */

/* Sets img to a copy of the valid file src[0..len) whose layout is info. */
void fuzz_image_init(struct fuzz_image *img, const uint8_t *src, size_t len,
                     const struct awc_file_info *info);
void fuzz_image_free(struct fuzz_image *img);
/* Decodes `in` as damage operations and applies them to img (README.md says the encoding).
 * Logical writes (op 7) go to logical[0..*nlogical) when logical is not NULL (at most
 * FUZZ_MAX_LOGICAL), else they are read and ignored. Each operation is logged (fuzz_log). */
void fuzz_damage(struct fuzz_image *img, struct fuzz_in *in, struct fuzz_logical *logical,
                 size_t *nlogical);

#endif /* AWECACHE_FUZZ_UTIL_H */
