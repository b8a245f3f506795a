/*
 * tools/awecache/trace.c: reading a trace file (trace.h: trace_load).
 *
 * A trace is text: one request per line, the page number as an unsigned decimal integer, with
 * optional blanks (spaces, tabs, a carriage return; also a vertical tab or form feed) around it;
 * blank lines are skipped. A line holding a NUL byte is not text, so not a request. The file
 * is read as a stream, a line at a time, into an array that doubles as it fills, so a trace of
 * any length costs 8 bytes a request and one pass. (fuzz/fuzz_trace.c checks this reading
 * against the description.)
 */
#include "trace.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest line taken as a request: 20 digits and generous blanks. A longer line is not a
 * page number, whatever it holds. */
#define LINE_MAX_CHARS 256

/* What parse_line found. */
enum line_kind {
    LINE_BLANK,  /* nothing but blanks */
    LINE_NUMBER, /* a number, in *v */
    LINE_JUNK,   /* anything else */
    LINE_RANGE,  /* digits only, but beyond 2^64 - 1 */
};

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Parses one line (without the limits of strtoull: no sign, no leading blanks inside, no
 * base prefixes, and overflow reported rather than clamped). */
static enum line_kind parse_line(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    bool range = false;

    while (is_blank(*s))
        s++;
    if (*s == '\0')
        return LINE_BLANK;
    if (*s < '0' || *s > '9')
        return LINE_JUNK;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (x > (UINT64_MAX - d) / 10)
            range = true;
        else
            x = x * 10 + d;
    }
    while (is_blank(*s))
        s++;
    if (*s != '\0')
        return LINE_JUNK;
    if (range)
        return LINE_RANGE;
    *v = x;
    return LINE_NUMBER;
}

/* Steps:
 * 1. Open the file (the OS's reason on failure).
 * 2. Read it a line at a time; a line that does not fit the buffer, or holds a NUL byte, is
 *    junk (its rest is skipped so that the line count stays right, though the first junk line
 *    ends the read).
 * 3. Skip blank lines; append numbers, doubling the array when full; stop at the first junk
 *    line with its number.
 * 4. A read error (the OS's reason) or no request at all is an error; otherwise hand the array
 *    over. */
int trace_load(const char *path, uint64_t **out, size_t *len, char *err, size_t errlen)
{
    char line[LINE_MAX_CHARS + 2];
    uint64_t *a = NULL, v = 0;
    size_t n = 0, cap = 0;
    unsigned long long lineno = 0;
    FILE *f;

    /* Step 1 */
    errno = 0;
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open the trace %s: %s", path,
                 errno != 0 ? strerror(errno) : "unknown error");
        return -1;
    }

    /* Step 2: the bytes fgets does not write keep the '\n' the buffer is filled with, so a NUL
     * after the first one means the line held a NUL byte (the first one ended it early). */
    memset(line, '\n', sizeof(line));
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t l = strlen(line);
        enum line_kind k;

        lineno++;
        if (l + 1 < sizeof(line) && memchr(line + l + 1, '\0', sizeof(line) - l - 1) != NULL) {
            k = LINE_JUNK; /* a NUL byte: not text */
        } else if (l > 0 && line[l - 1] != '\n' && !feof(f)) {
            k = LINE_JUNK; /* longer than any number */
        } else {
            /* Step 3 */
            k = parse_line(line, &v);
        }
        memset(line, '\n', l + 1);
        if (k == LINE_BLANK)
            continue;
        if (k != LINE_NUMBER) {
            snprintf(err, errlen, "%s, line %llu: %s", path, lineno,
                     k == LINE_RANGE ? "the page number is beyond 2^64 - 1"
                                     : "not a page number (one unsigned decimal number a line)");
            goto fail;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? 4096 : cap * 2;
            uint64_t *na = ncap > SIZE_MAX / sizeof(*a) ? NULL : realloc(a, ncap * sizeof(*a));

            if (na == NULL) {
                snprintf(err, errlen, "%s: out of memory after %zu requests", path, n);
                goto fail;
            }
            a = na;
            cap = ncap;
        }
        a[n++] = v;
    }

    /* Step 4 */
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read the trace %s: %s", path,
                 errno != 0 ? strerror(errno) : "read error");
        goto fail;
    }
    if (n == 0) {
        snprintf(err, errlen, "the trace %s holds no request", path);
        goto fail;
    }
    fclose(f);
    *out = a;
    *len = n;
    return 0;

fail:
    fclose(f);
    free(a);
    return -1;
}
