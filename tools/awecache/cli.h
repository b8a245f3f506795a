/*
 * tools/awecache/cli.h: what every subcommand of the awecache tool, and awecache-bench
 * (bench/awecache-bench/), share: option parsing, number parsing and formatting, one-line
 * errors, the progress display, tables and JSON. Built, with datafile.c and trace.c, into the
 * static library awecache_cli that both programs link (CMakeLists.txt); and the stop request
 * that SIGINT and SIGTERM become while a command must end cleanly.
 *
 * Conventions:
 * - A subcommand is `int cmd_<name>(int argc, char **argv)` (argv[0] is the subcommand's name)
 *   and returns an exit status: CLI_EXIT_OK, CLI_EXIT_FAIL (the work failed, or found a problem:
 *   a bad page, say) or CLI_EXIT_USAGE (the command line was wrong). awecache-bench has no
 *   subcommands: its command is the program (argv[0] its name, cmd NULL below).
 * - Errors are one line on stderr, "awecache <cmd>: <what is wrong>" (or "awecache-bench: <what
 *   is wrong>"), printed by cli_error(); nothing else is printed for them. A subcommand that
 *   fails leaves nothing half-written: a file it was creating is removed.
 * - Results go to stdout; progress and notes go to stderr, so that `--json > file` is clean.
 */
#ifndef AWECACHE_TOOLS_CLI_H
#define AWECACHE_TOOLS_CLI_H

#include "plat_proc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

/* printf-style checking in the C library's own dialect (platform/plat_proc.h). */
#define CLI_PRINTF(f, a) PLAT_PRINTF(f, a)

/* The awecache tool's subcommands (one file each). */
int cmd_replay(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_check(int argc, char **argv);

/* ---- Messages ---------------------------------------------------------------------------- */

/* The program's name, first in every message and in the help's pointers: "awecache" (the
 * default) or "awecache-bench", set by its main before anything else. */
extern const char *cli_program;
/* Prints "<program> <cmd>: <message>\n" on stderr ("<program>: <message>\n" with cmd NULL). */
void cli_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Prints "<program> <cmd>: note: <message>\n" on stderr unless cli_quiet. */
void cli_note(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Set by --quiet: no progress display and no notes. */
extern bool cli_quiet;

/* ---- Stop requests (SIGINT, SIGTERM) --------------------------------------------------------- */

/* While installed, SIGINT and SIGTERM set a flag, read with cli_stopping, instead of ending the
 * process, so a command can stop at its next step and leave nothing behind (a half-made data
 * file, a benchmark's stores, its RAM disk). A signal the process ignored stays ignored (a
 * shell's background job, nohup). One installation at a time (not nested). The flag is a
 * lock-free atomic: worker threads may read it while the handler runs on any thread.
 * cli_signals_restore puts the old handlers back and then reads the flag once more, so a signal
 * caught after the command's last look (while it closed its files) is not lost: it returns
 * whether a signal came while installed. */
struct cli_signals {
    void (*old_int)(int);  /* SIGINT's handler before ({SIG_ERR, SIG_ERR}: nothing installed) */
    void (*old_term)(int); /* SIGTERM's handler before */
};
void cli_signals_install(struct cli_signals *s);
bool cli_signals_restore(const struct cli_signals *s);
bool cli_stopping(void);

/* ---- Numbers ----------------------------------------------------------------------------- */

/* A byte size: decimal digits with an optional fraction and an optional unit, case-insensitive:
 * B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, P/PB/PiB, E/EB/EiB (all powers of 1024: sizes here
 * are memory and file sizes; cli_fmt_size's units, so its "1.5 GiB" without the space parses).
 * "1.5G" is 1.5 GiB (rounded down to a byte). Returns 0, or -1 for an empty string, junk, a
 * negative number or a result beyond 2^63 - 1. */
int cli_parse_size(const char *s, uint64_t *out);
/* A count: decimal digits with an optional k, m, g suffix (x 10^3, 10^6, 10^9). -1 as above. */
int cli_parse_count(const char *s, uint64_t *out);
/* A duration: a decimal number with an optional unit ms, s (the default), m or h, into
 * nanoseconds. -1 as above (0 is allowed; the caller decides). */
int cli_parse_duration(const char *s, uint64_t *ns);
/* A real number in [lo, hi] (a trailing % divides by 100: "90%" is 0.9). -1 otherwise. */
int cli_parse_real(const char *s, double lo, double hi, double *out);

/* "4 GiB", "1.5 GiB", "512 MiB", "4 KiB", "100 B" into buf; returns buf. */
const char *cli_fmt_size(uint64_t bytes, char *buf, size_t len);
/* A rate or count with an SI prefix and 3 significant digits: "1.23 M", "456 k", "12.0". */
const char *cli_fmt_si(double v, char *buf, size_t len);

/* The page sizes awecache takes (engine/awecache.h): a power of two from 4 KiB to 2 MiB. */
#define CLI_PAGE_MIN 4096u
#define CLI_PAGE_MAX (2u * 1024 * 1024)
bool cli_page_size_ok(uint64_t v);

/* splitmix64's step on x: a well-mixed 64-bit value for each x (the generators' seeding, the data
 * files' page pattern, random names). */
static inline uint64_t cli_mix64(uint64_t x)
{
    uint64_t z = x + 0x9e3779b97f4a7c15ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- Options ----------------------------------------------------------------------------- */

/* One long option. id > 0 identifies it to the caller; CLI_OPT_HELP is --help (and -h), which
 * cli_next handles by printing the help and returning CLI_NEXT_HELP. */
struct cli_opt {
    const char *name;     /* without the dashes: "frames" for --frames */
    int id;               /* > 0 */
    const char *arg_name; /* the argument's name in the help ("SIZE"); NULL: a flag */
    const char *help;     /* one line (wrapped by the caller if need be) */
};

/* The command being parsed. */
struct cli_parser {
    const char *cmd;            /* "replay": for messages; NULL: the program itself */
    const char *usage;          /* "awecache replay TRACE ...": for --help */
    const char *description;    /* a paragraph for --help, may be NULL */
    const struct cli_opt *opts; /* terminated by an entry with name NULL */
    int argc;
    char **argv;
    int i; /* next argv index; start at 1 (cli_parser_init does) */
};

#define CLI_NEXT_END        (-1) /* no more arguments */
#define CLI_NEXT_ERROR      (-2) /* unknown option or missing argument: message printed */
#define CLI_NEXT_HELP       (-3) /* --help was given and the help printed */
#define CLI_NEXT_POSITIONAL 0    /* a positional argument, in *arg */

void cli_parser_init(struct cli_parser *p, const char *cmd, const char *usage,
                     const char *description, const struct cli_opt *opts, int argc, char **argv);
/* The next argument: an option's id (its argument in *arg, NULL for a flag), a positional
 * argument (CLI_NEXT_POSITIONAL, *arg), or CLI_NEXT_END / CLI_NEXT_ERROR / CLI_NEXT_HELP.
 * Accepts --name VALUE and --name=VALUE; "--" ends the options. --quiet is handled here for
 * every command (sets cli_quiet). */
int cli_next(struct cli_parser *p, const char **arg);
/* Takes a command's one positional argument `arg` into *slot (named `what` in the message: "FILE",
 * "TRACE"): 0 the first time; a second one prints "one WHAT only ('ARG' is extra)" and returns
 * -1 (a usage error). */
int cli_take_positional(const struct cli_parser *p, const char *what, const char **slot,
                        const char *arg);
/* Prints the usage, the description and the options (to f). */
void cli_print_help(const struct cli_parser *p, FILE *f);

/* ---- Progress ---------------------------------------------------------------------------- */

/* A progress display on stderr: a bar redrawn in place on a terminal, otherwise a plain line at
 * each tenth of the work (or every 10 s when the total is unknown). Silent under cli_quiet.
 * One thread drives it (the others may publish counts through an atomic the driver reads). */
struct cli_progress {
    char label[48];
    const char *unit;   /* "pages", "ops" */
    uint64_t total;     /* units of work; 0: unknown */
    uint64_t start_ns;  /* internal */
    uint64_t last_ns;   /* internal */
    unsigned last_step; /* internal: last tenth printed (plain mode) */
    bool tty;           /* internal */
    bool active;        /* internal */
};
void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total,
                        const char *unit);
/* Reports `done` units so far; redraws at most 10 times a second. */
void cli_progress_update(struct cli_progress *p, uint64_t done);
/* Draws the final state (done units) and ends the line. */
void cli_progress_end(struct cli_progress *p, uint64_t done);

/* ---- Tables ------------------------------------------------------------------------------ */

/* Prints a table with a header row: columns separated by two spaces, the first column left
 * aligned, the others right aligned. cells is row-major, nrows x ncols, NULL cells print "-". */
void cli_table_print(FILE *f, size_t ncols, const char *const *header, const char *const *cells,
                     size_t nrows);
/* Allocates a table's cells, nrows x ncols: returns their text, cell_len zeroed bytes each, and
 * sets *cells to as many NULL cell pointers; free() both. On failure prints "out of memory for
 * the report" for cmd and returns NULL (nothing allocated). */
void *cli_table_alloc(const char *cmd, size_t nrows, size_t ncols, size_t cell_len,
                      const char ***cells);

/* ---- JSON -------------------------------------------------------------------------------- */

/* A small JSON writer: objects and arrays nest up to 16 deep; keys and strings are escaped. */
struct cli_json {
    FILE *f;
    int depth;
    bool first[16]; /* no element written yet at this depth */
};
void cli_json_init(struct cli_json *j, FILE *f);
void cli_json_begin_object(struct cli_json *j, const char *key); /* key NULL inside arrays/top */
void cli_json_end_object(struct cli_json *j);
void cli_json_begin_array(struct cli_json *j, const char *key);
void cli_json_end_array(struct cli_json *j);
void cli_json_u64(struct cli_json *j, const char *key, uint64_t v);
void cli_json_real(struct cli_json *j, const char *key, double v);     /* non-finite: null */
void cli_json_str(struct cli_json *j, const char *key, const char *v); /* NULL: null */
void cli_json_bool(struct cli_json *j, const char *key, bool v);
/* Ends the document with a newline. */
void cli_json_finish(struct cli_json *j);

#endif /* AWECACHE_TOOLS_CLI_H */
