/*
 * fuzz/fuzz_cli.c: the awecache tool's number and option parsing (tools/awecache/cli.h), checked
 * against an independent reading of what cli.h documents (README.md).
 *
 * The input's first byte chooses. Even: the rest (up to a NUL) is a string given to
 * cli_parse_size, cli_parse_count, cli_parse_duration and cli_parse_real:
 * - a plain decimal with a valid unit must be accepted with exactly the value it names (sizes
 *   and counts up to 2^63 - 1, durations while exact in a double), and rejected beyond;
 * - a number with a fraction must come out within a rounding of the exact value;
 * - anything not of the documented form must be rejected;
 * - an accepted size, printed by cli_fmt_size (the tool's canonical form, "1.5 GiB") and parsed
 *   again without the space, gives the same value when the form is exact ("3 KiB"), else one
 *   within the form's 3 significant digits.
 * Odd: the rest is an argument vector (NUL-separated) for cli_next, whose answers are compared
 * with a model of its documented steps (options, values, "--", --quiet, --help, positionals).
 */
#include "cli.h"
#include "fuzz_util.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STR  512
#define MAX_ARGS 32

/* ---- Numbers ----------------------------------------------------------------------------- */

/* A number as the documentation reads it: digits, optionally '.' and digits, at least one digit;
 * `unit` is what follows. */
struct number {
    bool ok;           /* the number part is well formed */
    bool fraction;     /* it has a '.' */
    size_t len;        /* characters of the number part */
    bool whole_fits;   /* without a fraction: the digits fit 64 bits, in `whole` */
    uint64_t whole;    /* the value of the digits (no fraction) */
    long double value; /* the value, close (a long double) */
    const char *unit;
};

static struct number read_number(const char *s)
{
    struct number n = {.whole_fits = true};
    const char *p = s;
    bool digits = false;

    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');

        if (n.whole > (UINT64_MAX - d) / 10)
            n.whole_fits = false;
        else
            n.whole = n.whole * 10 + d;
        p++;
        digits = true;
    }
    if (*p == '.') {
        n.fraction = true;
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits = true;
        }
    }
    n.ok = digits;
    n.len = (size_t)(p - s);
    n.unit = p;
    if (digits) {
        char num[MAX_STR + 1];

        memcpy(num, s, n.len);
        num[n.len] = '\0';
        n.value = strtold(num, NULL);
    }
    return n;
}

static bool same_word(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

/* The multiplier of a unit among the n names of names[] (0: not one). */
static uint64_t unit_mult(const char *unit, const char *const *names, const uint64_t *mults,
                          size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (same_word(unit, names[i]))
            return mults[i];
    return 0;
}

/* Checks a parse of an integer-valued quantity (size, count): rc and *got against the number n
 * times mult, with the bound 2^63 - 1. */
static void check_scaled(const char *what, const char *s, int rc, uint64_t got,
                         const struct number *n, uint64_t mult)
{
    if (!n->ok || mult == 0) {
        if (rc == 0)
            fuzz_fail("%s accepts \"%s\" (%llu): not of the documented form", what, s,
                      (unsigned long long)got);
        return;
    }
    if (n->len >= 64)
        return; /* a 64-character number: the parsers' buffer limit, not checked here */
    if (!n->fraction) {
        bool fits = n->whole_fits && (n->whole == 0 || mult <= (uint64_t)INT64_MAX / n->whole);

        if (fits && rc != 0)
            fuzz_fail("%s rejects \"%s\" (%llu x %llu)", what, s, (unsigned long long)n->whole,
                      (unsigned long long)mult);
        if (!fits && rc == 0)
            fuzz_fail("%s accepts \"%s\" (%llu): beyond 2^63 - 1", what, s,
                      (unsigned long long)got);
        if (fits && got != n->whole * mult)
            fuzz_fail("%s reads \"%s\" as %llu, not %llu", what, s, (unsigned long long)got,
                      (unsigned long long)(n->whole * mult));
        return;
    }
    long double exact = n->value * (long double)mult;

    if (rc != 0) {
        if (exact < 9.1e18L)
            fuzz_fail("%s rejects \"%s\" (%.3Lf)", what, s, exact);
        return;
    }
    if (exact > 9.3e18L)
        fuzz_fail("%s accepts \"%s\" (%llu): beyond 2^63 - 1", what, s, (unsigned long long)got);
    if (fabsl((long double)got - floorl(exact)) > 1 + exact * 1e-12L)
        fuzz_fail("%s reads \"%s\" as %llu, not %.3Lf rounded down", what, s,
                  (unsigned long long)got, exact);
}

static void check_size(const char *s)
{
    static const char *const names[] = {"",    "b",  "k",   "kb",  "kib", "m",  "mb",
                                        "mib", "g",  "gb",  "gib", "t",   "tb", "tib",
                                        "p",   "pb", "pib", "e",   "eb",  "eib"};
    static const uint64_t mults[] = {1,          1,          1u << 10,   1u << 10,   1u << 10,
                                     1u << 20,   1u << 20,   1u << 20,   1u << 30,   1u << 30,
                                     1u << 30,   1ull << 40, 1ull << 40, 1ull << 40, 1ull << 50,
                                     1ull << 50, 1ull << 50, 1ull << 60, 1ull << 60, 1ull << 60};
    struct number n = read_number(s);
    uint64_t got = 0, mult = n.ok ? unit_mult(n.unit, names, mults, 20) : 0;
    int rc = cli_parse_size(s, &got);

    check_scaled("cli_parse_size", s, rc, got, &n, mult);
    if (rc == 0) {
        char text[64], *sp;
        uint64_t again = 0, unit;
        double tol;

        /* The canonical form, "1.5 GiB", without its space. */
        cli_fmt_size(got, text, sizeof(text));
        if ((sp = strchr(text, ' ')) != NULL)
            memmove(sp, sp + 1, strlen(sp));
        if (cli_parse_size(text, &again) != 0 && got < 9100000000000000000ull)
            fuzz_fail("cli_parse_size accepts \"%s\" (%llu) but not its canonical form \"%s\"", s,
                      (unsigned long long)got, text);
        /* Exact when the value is a whole number of the unit printed (cli_fmt_size's loop). */
        for (unit = 1; unit <= (1ull << 50) && (double)got / (double)unit >= 1024;)
            unit <<= 10;
        tol = got % unit == 0 ? 0 : (double)got * 0.006 + 1;
        if (got >= 9100000000000000000ull)
            return; /* "7.99 EiB" may round up past what parses (2^63 - 1) */
        if (fabs((double)again - (double)got) > tol)
            fuzz_fail("cli_parse_size: \"%s\" is %llu, its canonical form \"%s\" %llu", s,
                      (unsigned long long)got, text, (unsigned long long)again);
    }
}

static void check_count(const char *s)
{
    static const char *const names[] = {"", "k", "m", "g"};
    static const uint64_t mults[] = {1, 1000, 1000000, 1000000000};
    struct number n = read_number(s);
    uint64_t got = 0, mult = n.ok ? unit_mult(n.unit, names, mults, 4) : 0;
    int rc = cli_parse_count(s, &got);

    if (n.ok && n.fraction && mult == 1 && rc == 0)
        fuzz_fail("cli_parse_count accepts \"%s\": a fraction of one", s);
    if (!(n.fraction && mult == 1))
        check_scaled("cli_parse_count", s, rc, got, &n, mult);
}

static void check_duration(const char *s)
{
    static const char *const names[] = {"", "s", "ms", "m", "min", "h"};
    static const uint64_t mults[] = {1000000000ull,  1000000000ull,  1000000ull,
                                     60000000000ull, 60000000000ull, 3600000000000ull};
    struct number n = read_number(s);
    uint64_t got = 0, mult = n.ok ? unit_mult(n.unit, names, mults, 6) : 0;
    int rc = cli_parse_duration(s, &got);
    long double exact = n.value * (long double)mult;

    if (!n.ok || mult == 0) {
        if (rc == 0)
            fuzz_fail("cli_parse_duration accepts \"%s\": not of the documented form", s);
        return;
    }
    if (rc != 0) {
        if (exact < 9.1e18L)
            fuzz_fail("cli_parse_duration rejects \"%s\" (%.0Lf ns)", s, exact);
        return;
    }
    if (exact > 9.3e18L)
        fuzz_fail("cli_parse_duration accepts \"%s\": beyond 2^63 - 1 ns", s);
    if (!n.fraction && n.whole_fits && exact < 9007199254740992.0L) {
        if (got != n.whole * mult)
            fuzz_fail("cli_parse_duration reads \"%s\" as %llu ns, not %llu", s,
                      (unsigned long long)got, (unsigned long long)(n.whole * mult));
    } else if (fabsl((long double)got - floorl(exact)) > 1 + exact * 1e-12L) {
        fuzz_fail("cli_parse_duration reads \"%s\" as %llu ns, not %.0Lf", s,
                  (unsigned long long)got, exact);
    }
}

static void check_real(const char *s, unsigned which)
{
    static const double range[][2] = {{0, 1}, {0, 100}, {0.5, 0.99}, {0, 1e9}};
    double lo = range[which % 4][0], hi = range[which % 4][1], got = -1;
    struct number n = read_number(s);
    bool percent = n.ok && n.unit[0] == '%';
    bool form = n.ok && n.unit[percent ? 1 : 0] == '\0';
    long double v = percent ? n.value / 100 : n.value;
    int rc = cli_parse_real(s, lo, hi, &got);

    if (!form) {
        if (rc == 0)
            fuzz_fail("cli_parse_real accepts \"%s\": not of the documented form", s);
        return;
    }
    if (fabsl(v - lo) <= 1e-9L * (1 + fabsl(lo)) || fabsl(v - hi) <= 1e-9L * (1 + fabsl(hi)))
        return; /* at a bound: a rounding either way */
    if ((rc == 0) != (v >= lo && v <= hi))
        fuzz_fail("cli_parse_real(\"%s\", %g, %g) %s it", s, lo, hi,
                  rc == 0 ? "accepts" : "rejects");
    if (rc == 0 && fabsl((long double)got - v) > 1e-12L * fabsl(v))
        fuzz_fail("cli_parse_real reads \"%s\" as %.17g, not %.17Lg", s, got, v);
}

/* ---- Options ----------------------------------------------------------------------------- */

static const struct cli_opt opts[] = {
    {"frames", 1, "SIZE", "frames"},
    {"window", 2, "SIZE", "window"},
    {"json", 3, NULL, "json"},
    {"seed", 4, "N", "seed"},
    {"f", 5, NULL, "f"},
    {NULL, 0, NULL, NULL},
};

/* The model of cli_next's steps (cli.c): the next answer, its argument in *arg. */
static int model_next(int argc, char **argv, int *i, bool *dashdash, bool *quiet, const char **arg)
{
    for (;;) {
        const char *a, *eq;
        size_t n;

        if (*i >= argc)
            return CLI_NEXT_END;
        a = argv[(*i)++];
        if (*dashdash || a[0] != '-' || strcmp(a, "-") == 0) {
            *arg = a;
            return CLI_NEXT_POSITIONAL;
        }
        if (strcmp(a, "--") == 0) {
            *dashdash = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return CLI_NEXT_HELP;
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            *quiet = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return CLI_NEXT_ERROR;
        eq = strchr(a + 2, '=');
        n = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
        for (const struct cli_opt *o = opts; o->name != NULL; o++) {
            if (strlen(o->name) != n || memcmp(o->name, a + 2, n) != 0)
                continue;
            if (o->arg_name == NULL) {
                *arg = NULL;
                return eq != NULL ? CLI_NEXT_ERROR : o->id;
            }
            if (eq != NULL)
                *arg = eq + 1;
            else if (*i < argc)
                *arg = argv[(*i)++];
            else
                return CLI_NEXT_ERROR;
            return o->id;
        }
        return CLI_NEXT_ERROR;
    }
}

static void check_options(const uint8_t *d, size_t size)
{
    static char text[4096 + 1];
    char *argv[MAX_ARGS + 1];
    int argc = 1, i = 1;
    bool dashdash = false, quiet = false;
    struct cli_parser p;

    if (size > sizeof(text) - 1)
        size = sizeof(text) - 1;
    memcpy(text, d, size);
    text[size] = '\0';
    argv[0] = "fuzz";
    for (size_t at = 0; at < size && argc < MAX_ARGS; at += strlen(text + at) + 1)
        argv[argc++] = text + at;
    argv[argc] = NULL;
    cli_quiet = false;
    cli_parser_init(&p, "fuzz", "fuzz [OPTIONS]", NULL, opts, argc, argv);
    for (int step = 0; step <= argc; step++) {
        const char *got_arg = NULL, *want_arg = NULL;
        int got = cli_next(&p, &got_arg);
        int want = model_next(argc, argv, &i, &dashdash, &quiet, &want_arg);

        if (got != want)
            fuzz_fail("cli_next: answer %d at argument %d, the documented steps %d", got, p.i,
                      want);
        if (got >= 0 && got_arg != want_arg)
            fuzz_fail("cli_next: answer %d at argument %d has argument \"%s\", not \"%s\"", got,
                      p.i, got_arg != NULL ? got_arg : "(none)",
                      want_arg != NULL ? want_arg : "(none)");
        if (cli_quiet != quiet)
            fuzz_fail("cli_next: --quiet %s", quiet ? "not taken" : "taken where not given");
        if (got < 0)
            return;
    }
    fuzz_fail("cli_next: no end after %d arguments", argc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[MAX_STR + 1];
    size_t n;

    fuzz_name = "fuzz_cli";
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        check_options(data + 1, size - 1);
        return 0;
    }
    n = size - 1 < MAX_STR ? size - 1 : MAX_STR;
    memcpy(s, data + 1, n);
    s[n] = '\0';
    check_size(s);
    check_count(s);
    check_duration(s);
    check_real(s, data[0] >> 1);
    return 0;
}
