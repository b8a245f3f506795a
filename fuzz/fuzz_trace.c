/*
 * fuzz/fuzz_trace.c: the replay trace parser, trace_load (tools/awecache/trace.c), against
 * an independent reading of the format its header documents (README.md):
 *
 *   text, one request per line: the page number as an unsigned decimal integer with optional
 *   blanks (spaces, tabs, a carriage return; also a vertical tab or form feed) around it; blank
 *   lines are skipped; a line longer than 256 characters is not a page number, whatever it
 *   holds; a number beyond 2^64 - 1, any other line (a NUL byte included: the file is text) and a
 *   trace with no request are errors.
 *
 * The input is written to a scratch file and loaded; the harness checks that both readings
 * accept the same inputs and give the same page numbers, and that a rejection has a message.
 */
#include "trace.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

#define LINE_MAX_CHARS 256u

static bool blank(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The reference reading: 0 and the numbers in *out (at most `cap`; *n of them), or -1. */
static int reference(const uint8_t *d, size_t size, uint64_t *out, size_t cap, size_t *n)
{
    size_t at = 0;

    *n = 0;
    while (at < size) {
        size_t end = at, i;
        uint64_t v = 0;
        bool digits = false;

        while (end < size && d[end] != '\n')
            end++;
        if (end - at > LINE_MAX_CHARS || memchr(d + at, '\0', end - at) != NULL)
            return -1;
        for (i = at; i < end && blank(d[i]); i++)
            ;
        for (; i < end && d[i] >= '0' && d[i] <= '9'; i++) {
            unsigned dig = (unsigned)(d[i] - '0');

            if (v > (UINT64_MAX - dig) / 10)
                return -1;
            v = v * 10 + dig;
            digits = true;
        }
        for (; i < end && blank(d[i]); i++)
            ;
        if (i != end)
            return -1;
        if (digits) {
            if (*n == cap)
                fuzz_fail("the reference reading has no room for %zu numbers", cap + 1);
            out[(*n)++] = v;
        }
        at = end + 1;
    }
    return *n > 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path;
    static uint64_t want[1 << 16];
    uint64_t *got = NULL;
    size_t n_got = 0, n_want = 0;
    char err[512] = "";
    int rc, ref;

    if (path == NULL) {
        fuzz_name = "fuzz_trace";
        path = fuzz_path("trace.txt");
    }
    if (size > sizeof(want) / sizeof(want[0]))
        return 0; /* more lines than the reference keeps */
    fuzz_log_reset();
    fuzz_write_file(path, data, size);
    rc = trace_load(path, &got, &n_got, err, sizeof(err));
    ref = reference(data, size, want, sizeof(want) / sizeof(want[0]), &n_want);
    if (rc != ref)
        fuzz_fail("trace_load %s the trace (%s), the documented format %s it",
                  rc == 0 ? "accepts" : "rejects", rc == 0 ? "no error" : err,
                  ref == 0 ? "accepts" : "rejects");
    if (rc != 0) {
        if (err[0] == '\0')
            fuzz_fail("trace_load rejects the trace with no message");
        return 0;
    }
    if (n_got != n_want)
        fuzz_fail("trace_load reads %zu requests, the documented format %zu", n_got, n_want);
    for (size_t i = 0; i < n_got; i++)
        if (got[i] != want[i])
            fuzz_fail("request %zu: trace_load reads %llu, the documented format %llu", i,
                      (unsigned long long)got[i], (unsigned long long)want[i]);
    free(got);
    return 0;
}
