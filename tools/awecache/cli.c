/*
 * tools/awecache/cli.c: what the awecache tool and awecache-bench share (cli.h): messages,
 * numbers, options, the progress display, tables and JSON.
 */
#include "cli.h"

#include "plat_proc.h"
#include "plat_sync.h"

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool cli_quiet;
const char *cli_program = "awecache";

/* ---- Messages ---------------------------------------------------------------------------- */

/* "awecache replay: ", or "awecache-bench: " for a program without subcommands (cmd NULL). */
static void print_prefix(const char *cmd)
{
    fprintf(stderr, "%s%s%s: ", cli_program, cmd != NULL ? " " : "", cmd != NULL ? cmd : "");
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    print_prefix(cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_note(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    if (cli_quiet)
        return;
    print_prefix(cmd);
    fputs("note: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- Stop requests (SIGINT, SIGTERM) --------------------------------------------------------- */

static atomic_int cli_stop; /* set by cli_on_signal while installed */

static void cli_on_signal(int sig)
{
    (void)sig;
    atomic_store_explicit(&cli_stop, 1, memory_order_relaxed);
}

void cli_signals_install(struct cli_signals *s)
{
    atomic_store_explicit(&cli_stop, 0, memory_order_relaxed);
    s->old_int = signal(SIGINT, cli_on_signal);
    if (s->old_int == SIG_IGN)
        signal(SIGINT, SIG_IGN);
    s->old_term = signal(SIGTERM, cli_on_signal);
    if (s->old_term == SIG_IGN)
        signal(SIGTERM, SIG_IGN);
}

bool cli_signals_restore(const struct cli_signals *s)
{
    if (s->old_int != SIG_ERR)
        signal(SIGINT, s->old_int);
    if (s->old_term != SIG_ERR)
        signal(SIGTERM, s->old_term);
    return cli_stopping();
}

bool cli_stopping(void)
{
    return atomic_load_explicit(&cli_stop, memory_order_relaxed) != 0;
}

/* ---- Numbers ----------------------------------------------------------------------------- */

/* Splits s into a non-negative decimal number (digits, optional fraction) and the rest; -1 if
 * there is no number. The number is exact below 2^53 and as close as a double gets above. */
static int parse_number(const char *s, double *v, const char **rest)
{
    const char *p = s;
    double x = 0, scale = 1;
    bool digits = false;

    if (s == NULL)
        return -1;
    while (isdigit((unsigned char)*p)) {
        x = x * 10 + (*p++ - '0');
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            scale /= 10;
            x += (*p++ - '0') * scale;
            digits = true;
        }
    }
    if (!digits)
        return -1;
    *v = x;
    *rest = p;
    return 0;
}

/* Whole-number parse for values that must stay exact: digits only, overflow checked. */
static int parse_u64(const char *s, uint64_t *v, const char **rest)
{
    uint64_t x = 0;
    const char *p = s;

    if (s == NULL || !isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p++ - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    *rest = p;
    return 0;
}

static bool ieq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

/* Scales an exact integer or a fraction by mult, with the 2^63 - 1 bound. */
static int scale(const char *s, uint64_t mult, uint64_t *out)
{
    uint64_t whole;
    const char *rest;
    double v;

    if (parse_u64(s, &whole, &rest) == 0 && *rest != '.') {
        if (whole != 0 && mult > (uint64_t)INT64_MAX / whole)
            return -1;
        *out = whole * mult;
        return 0;
    }
    if (parse_number(s, &v, &rest) != 0 || v * (double)mult >= 9.2e18)
        return -1;
    *out = (uint64_t)(v * (double)mult);
    return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *a, *b, *c;
        uint64_t mult;
    } units[] = {
        {"", "b", "b", 1},
        {"k", "kb", "kib", 1ull << 10},
        {"m", "mb", "mib", 1ull << 20},
        {"g", "gb", "gib", 1ull << 30},
        {"t", "tb", "tib", 1ull << 40},
        {"p", "pb", "pib", 1ull << 50}, /* cli_fmt_size prints these too */
        {"e", "eb", "eib", 1ull << 60},
    };
    const char *rest;
    char num[64];
    double v;

    if (out == NULL || parse_number(s, &v, &rest) != 0 || (size_t)(rest - s) >= sizeof(num))
        return -1;
    memcpy(num, s, (size_t)(rest - s));
    num[rest - s] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ieq(rest, units[i].a) || ieq(rest, units[i].b) || ieq(rest, units[i].c))
            return scale(num, units[i].mult, out);
    return -1;
}

int cli_parse_count(const char *s, uint64_t *out)
{
    const char *rest;
    char num[64];
    uint64_t mult;
    double v;

    if (out == NULL || parse_number(s, &v, &rest) != 0 || (size_t)(rest - s) >= sizeof(num))
        return -1;
    if (*rest == '\0')
        mult = 1;
    else if (ieq(rest, "k"))
        mult = 1000;
    else if (ieq(rest, "m"))
        mult = 1000000;
    else if (ieq(rest, "g"))
        mult = 1000000000;
    else
        return -1;
    memcpy(num, s, (size_t)(rest - s));
    num[rest - s] = '\0';
    if (mult == 1 && strchr(num, '.') != NULL)
        return -1; /* a fraction of one operation */
    return scale(num, mult, out);
}

int cli_parse_duration(const char *s, uint64_t *ns)
{
    const char *rest;
    double v, mult;

    if (ns == NULL || parse_number(s, &v, &rest) != 0)
        return -1;
    if (*rest == '\0' || ieq(rest, "s"))
        mult = 1e9;
    else if (ieq(rest, "ms"))
        mult = 1e6;
    else if (ieq(rest, "m") || ieq(rest, "min"))
        mult = 60e9;
    else if (ieq(rest, "h"))
        mult = 3600e9;
    else
        return -1;
    if (v * mult >= 9.2e18)
        return -1;
    *ns = (uint64_t)(v * mult);
    return 0;
}

int cli_parse_real(const char *s, double lo, double hi, double *out)
{
    const char *rest;
    double v;

    if (out == NULL || parse_number(s, &v, &rest) != 0)
        return -1;
    if (*rest == '%') {
        v /= 100;
        rest++;
    }
    if (*rest != '\0' || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

bool cli_page_size_ok(uint64_t v)
{
    return v >= CLI_PAGE_MIN && v <= CLI_PAGE_MAX && (v & (v - 1)) == 0;
}

const char *cli_fmt_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    unsigned u = 0;
    double v = (double)bytes;

    while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0 || v == floor(v))
        snprintf(buf, len, "%.0f %s", v, unit[u]);
    else
        snprintf(buf, len, v < 10 ? "%.2f %s" : (v < 100 ? "%.1f %s" : "%.0f %s"), v, unit[u]);
    return buf;
}

const char *cli_fmt_si(double v, char *buf, size_t len)
{
    static const char *const prefix[] = {"", " k", " M", " G", " T", " P"};
    unsigned p = 0;

    if (!isfinite(v)) {
        snprintf(buf, len, "-");
        return buf;
    }
    while (fabs(v) >= 999.5 && p + 1 < sizeof(prefix) / sizeof(prefix[0])) {
        v /= 1000;
        p++;
    }
    snprintf(buf, len, fabs(v) < 9.995 ? "%.2f%s" : (fabs(v) < 99.95 ? "%.1f%s" : "%.0f%s"), v,
             prefix[p]);
    return buf;
}

/* ---- Options ----------------------------------------------------------------------------- */

void cli_parser_init(struct cli_parser *p, const char *cmd, const char *usage,
                     const char *description, const struct cli_opt *opts, int argc, char **argv)
{
    p->cmd = cmd;
    p->usage = usage;
    p->description = description;
    p->opts = opts;
    p->argc = argc;
    p->argv = argv;
    p->i = 1;
}

/* Steps: 1. past "--" every argument is positional; 2. "-h"/"--help" prints the help;
 * 3. "--name" or "--name=value": find the option, take its value from the same or the next
 * argument; 4. anything else starting with '-' (but "-" alone) is unknown; 5. positional. */
int cli_next(struct cli_parser *p, const char **arg)
{
    static bool dashdash; /* one parser runs at a time in this program */
    const char *a, *eq;
    size_t n;

    if (p->i == 1)
        dashdash = false;
    if (p->i >= p->argc)
        return CLI_NEXT_END;
    a = p->argv[p->i++];
    /* Step 1 */
    if (dashdash || a[0] != '-' || strcmp(a, "-") == 0) {
        *arg = a;
        return CLI_NEXT_POSITIONAL;
    }
    if (strcmp(a, "--") == 0) {
        dashdash = true;
        return cli_next(p, arg);
    }
    /* Step 2 */
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        cli_print_help(p, stdout);
        return CLI_NEXT_HELP;
    }
    if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
        cli_quiet = true;
        return cli_next(p, arg);
    }
    /* Step 3 */
    if (a[1] == '-') {
        eq = strchr(a + 2, '=');
        n = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        for (const struct cli_opt *o = p->opts; o != NULL && o->name != NULL; o++) {
            if (strlen(o->name) != n || strncmp(o->name, a + 2, n) != 0)
                continue;
            if (o->arg_name == NULL) {
                if (eq != NULL) {
                    cli_error(p->cmd, "--%s takes no value (try --help)", o->name);
                    return CLI_NEXT_ERROR;
                }
                *arg = NULL;
            } else if (eq != NULL) {
                *arg = eq + 1;
            } else if (p->i < p->argc) {
                *arg = p->argv[p->i++];
            } else {
                cli_error(p->cmd, "--%s needs a value: --%s %s", o->name, o->name, o->arg_name);
                return CLI_NEXT_ERROR;
            }
            return o->id;
        }
    }
    /* Step 4 */
    cli_error(p->cmd, "unknown option '%s' (try '%s%s%s --help')", a, cli_program,
              p->cmd != NULL ? " " : "", p->cmd != NULL ? p->cmd : "");
    return CLI_NEXT_ERROR;
}

int cli_take_positional(const struct cli_parser *p, const char *what, const char **slot,
                        const char *arg)
{
    if (*slot != NULL) {
        cli_error(p->cmd, "one %s only ('%s' is extra)", what, arg);
        return -1;
    }
    *slot = arg;
    return 0;
}

/* Prints text wrapped at 79 columns: the first line after `col` columns already written, the
 * next ones indented by `indent`. A '\n' in the text starts a new line. */
static void print_wrapped(FILE *f, const char *text, int col, int indent)
{
    const char *w = text;

    while (*w != '\0') {
        size_t n = strcspn(w, " \n");

        if (col > indent && col + 1 + (int)n > 79) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(w, 1, n, f);
        col += (int)n;
        w += n;
        if (*w == '\n') {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        }
        while (*w == ' ' || *w == '\n')
            w++;
    }
    fputc('\n', f);
}

void cli_print_help(const struct cli_parser *p, FILE *f)
{
    fprintf(f, "usage: %s\n", p->usage);
    if (p->description != NULL) {
        fputc('\n', f);
        print_wrapped(f, p->description, 0, 0);
    }
    fprintf(f, "\noptions:\n");
    for (const struct cli_opt *o = p->opts; o != NULL && o->name != NULL; o++) {
        char left[64];

        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg_name != NULL ? " " : "",
                 o->arg_name != NULL ? o->arg_name : "");
        if (strlen(left) <= 24)
            fprintf(f, "  %-24s ", left);
        else
            fprintf(f, "  %s\n  %-24s ", left, "");
        print_wrapped(f, o->help, 27, 27);
    }
    fprintf(f, "  %-24s %s\n  %-24s %s\n", "--quiet", "no progress display and no notes", "--help",
            "this help");
}

/* ---- Progress ---------------------------------------------------------------------------- */

void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total, const char *unit)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->label, sizeof(p->label), "%s", label);
    p->unit = unit;
    p->total = total;
    p->start_ns = plat_clock_ns();
    p->last_ns = 0;
    p->tty = plat_is_terminal(2);
    p->active = !cli_quiet;
}

static void progress_draw(struct cli_progress *p, uint64_t done, bool final)
{
    uint64_t now = plat_clock_ns();
    double secs = (double)(now - p->start_ns) / 1e9, rate = secs > 0 ? (double)done / secs : 0;
    char r[32], d[32];

    cli_fmt_si(rate, r, sizeof(r));
    cli_fmt_si((double)done, d, sizeof(d));
    if (p->tty) {
        char bar[31];
        double frac = p->total != 0 ? (double)done / (double)p->total : 0;

        if (frac > 1)
            frac = 1;
        for (int i = 0; i < 30; i++)
            bar[i] = i < (int)(frac * 30 + 0.5) ? '#' : '.';
        bar[30] = '\0';
        if (p->total != 0)
            fprintf(stderr, "\r%s [%s] %3.0f%%  %s %s  %s %s/s  %.1fs ", p->label, bar, frac * 100,
                    d, p->unit, r, p->unit, secs);
        else
            fprintf(stderr, "\r%s  %s %s  %s %s/s  %.1fs ", p->label, d, p->unit, r, p->unit, secs);
        if (final)
            fputc('\n', stderr);
    } else {
        if (p->total != 0)
            fprintf(stderr, "%s: %3.0f%%  %s %s  %s %s/s  %.1fs\n", p->label,
                    100.0 * (double)done / (double)p->total, d, p->unit, r, p->unit, secs);
        else
            fprintf(stderr, "%s: %s %s  %s %s/s  %.1fs\n", p->label, d, p->unit, r, p->unit, secs);
    }
    fflush(stderr);
    p->last_ns = now;
}

void cli_progress_update(struct cli_progress *p, uint64_t done)
{
    uint64_t now;

    if (!p->active)
        return;
    now = plat_clock_ns();
    if (p->tty) {
        if (now - p->last_ns >= 100000000u)
            progress_draw(p, done, false);
    } else if (p->total != 0) {
        unsigned step = (unsigned)(done * 10 / p->total);

        if (step > p->last_step && step < 10) {
            p->last_step = step;
            progress_draw(p, done, false);
        }
    } else if (now - (p->last_ns != 0 ? p->last_ns : p->start_ns) >= 10000000000u) {
        progress_draw(p, done, false);
    }
}

void cli_progress_end(struct cli_progress *p, uint64_t done)
{
    if (p->active)
        progress_draw(p, done, true);
    p->active = false;
}

/* ---- Tables ------------------------------------------------------------------------------ */

void *cli_table_alloc(const char *cmd, size_t nrows, size_t ncols, size_t cell_len,
                      const char ***cells)
{
    void *text = calloc(nrows * ncols, cell_len);

    *cells = calloc(nrows * ncols, sizeof(**cells));
    if (text == NULL || *cells == NULL) {
        free(text);
        free(*cells);
        *cells = NULL;
        cli_error(cmd, "out of memory for the report");
        return NULL;
    }
    return text;
}

void cli_table_print(FILE *f, size_t ncols, const char *const *header, const char *const *cells,
                     size_t nrows)
{
    size_t w[32] = {0};

    if (ncols > 32)
        ncols = 32;
    for (size_t c = 0; c < ncols; c++) {
        w[c] = strlen(header[c]);
        for (size_t r = 0; r < nrows; r++) {
            const char *s = cells[r * ncols + c];
            size_t n = strlen(s != NULL ? s : "-");
            if (n > w[c])
                w[c] = n;
        }
    }
    for (size_t r = 0; r <= nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = r == 0 ? header[c] : cells[(r - 1) * ncols + c];
            int width = (int)w[c];

            if (s == NULL)
                s = "-";
            if (c == 0)
                fprintf(f, "%-*s", c + 1 == ncols ? 0 : width, s);
            else if (c + 1 == ncols && r > 0 && !isdigit((unsigned char)s[0]))
                fprintf(f, "  %s", s); /* a last column of words (notes) is not padded */
            else
                fprintf(f, "  %*s", width, s);
        }
        fputc('\n', f);
        if (r == 0) {
            size_t total = 0;
            for (size_t c = 0; c < ncols; c++)
                total += w[c] + (c > 0 ? 2 : 0);
            for (size_t i = 0; i < total; i++)
                fputc('-', f);
            fputc('\n', f);
        }
    }
}

/* ---- JSON -------------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* Writes the separator and the key (if any) of the next element. */
static void json_key(struct cli_json *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth])
            fputc(',', j->f);
        fprintf(j->f, "\n%*s", 2 * j->depth, "");
        j->first[j->depth] = false;
    }
    if (key != NULL) {
        json_string(j->f, key);
        fputs(": ", j->f);
    }
}

void cli_json_init(struct cli_json *j, FILE *f)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
}

static void json_open(struct cli_json *j, const char *key, char ch)
{
    json_key(j, key);
    fputc(ch, j->f);
    if (j->depth + 1 < 16) {
        j->depth++;
        j->first[j->depth] = true;
    }
}

static void json_close(struct cli_json *j, char ch)
{
    bool empty = j->first[j->depth];

    if (j->depth > 0)
        j->depth--;
    if (!empty)
        fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(ch, j->f);
}

void cli_json_begin_object(struct cli_json *j, const char *key)
{
    json_open(j, key, '{');
}

void cli_json_end_object(struct cli_json *j)
{
    json_close(j, '}');
}

void cli_json_begin_array(struct cli_json *j, const char *key)
{
    json_open(j, key, '[');
}

void cli_json_end_array(struct cli_json *j)
{
    json_close(j, ']');
}

void cli_json_u64(struct cli_json *j, const char *key, uint64_t v)
{
    json_key(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void cli_json_real(struct cli_json *j, const char *key, double v)
{
    json_key(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.10g", v);
    else
        fputs("null", j->f);
}

void cli_json_str(struct cli_json *j, const char *key, const char *v)
{
    json_key(j, key);
    if (v != NULL)
        json_string(j->f, v);
    else
        fputs("null", j->f);
}

void cli_json_bool(struct cli_json *j, const char *key, bool v)
{
    json_key(j, key);
    fputs(v ? "true" : "false", j->f);
}

void cli_json_finish(struct cli_json *j)
{
    fputc('\n', j->f);
    fflush(j->f);
}
