/*
 * bench/bench_main.h: what the benchmark programs' main()s share. Each program parses its own
 * options out of argv, hands the rest to Google Benchmark with a default --benchmark_min_time,
 * runs its cases through a reporter of its own that also collects the results, and prints the
 * table built from them (and writes it with --markdown=FILE).
 *
 *   --markdown=FILE   also write the table to FILE
 *   --table-only      print only the table on stdout (the console report is discarded)
 */
#ifndef AWECACHE_BENCH_MAIN_H
#define AWECACHE_BENCH_MAIN_H

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

struct BenchArgs {
    std::vector<char *> lib; /* what the library gets (argv[0] first, nullptr last) */
    std::string min_time;    /* storage for the default --benchmark_min_time */
    std::string markdown_file;
    bool table_only = false;
    bool min_time_given = false;
};

/* Steps: 1. take --markdown= and --table-only, and every argument `own` claims (it returns true
 * for the program's own options); 2. give the rest to the library, adding
 * --benchmark_min_time=<default_min_time> unless one was given; 3. initialise the library.
 * Returns false (after the library printed why) for an argument nobody knows. */
template <class Own>
bool bench_parse(int argc, char **argv, const char *default_min_time, Own own, BenchArgs &a)
{
    for (int i = 0; i < argc; i++) {
        if (i > 0 && std::strncmp(argv[i], "--markdown=", 11) == 0) {
            a.markdown_file = argv[i] + 11;
            continue;
        }
        if (i > 0 && std::strcmp(argv[i], "--table-only") == 0) {
            a.table_only = true;
            continue;
        }
        if (i > 0 && own(argv[i]))
            continue;
        if (std::strncmp(argv[i], "--benchmark_min_time", 20) == 0)
            a.min_time_given = true;
        a.lib.push_back(argv[i]);
    }
    a.min_time = std::string("--benchmark_min_time=") + default_min_time;
    if (!a.min_time_given)
        a.lib.push_back(&a.min_time[0]);
    int n = static_cast<int>(a.lib.size());
    a.lib.push_back(nullptr);
    benchmark::Initialize(&n, a.lib.data());
    return !benchmark::ReportUnrecognizedArguments(n, a.lib.data());
}

/* The console options for a reporter: colour on a terminal unless only the table is wanted. */
inline benchmark::ConsoleReporter::OutputOptions bench_console_options(const BenchArgs &a)
{
    return isatty(STDOUT_FILENO) && !a.table_only ? benchmark::ConsoleReporter::OO_ColorTabular
                                                  : benchmark::ConsoleReporter::OO_Tabular;
}

/* Runs the registered cases through `reporter` (silenced with --table-only). */
template <class Reporter> void bench_run(Reporter &reporter, const BenchArgs &a)
{
    std::ostringstream discard;

    if (a.table_only)
        reporter.SetOutputStream(&discard);
    benchmark::RunSpecifiedBenchmarks(&reporter);
}

/* Prints the table (and writes --markdown); returns the exit status: 1 if any case failed or the
 * file could not be written. */
inline int bench_finish(const char *prog, const std::string &table, const BenchArgs &a,
                        bool any_error)
{
    if (!table.empty()) {
        std::cout << (a.table_only ? "" : "\n") << table << std::flush;
        if (!a.markdown_file.empty()) {
            std::ofstream f(a.markdown_file);
            f << table;
            if (!f) {
                std::fprintf(stderr, "%s: cannot write %s\n", prog, a.markdown_file.c_str());
                return 1;
            }
        }
    }
    return any_error ? 1 : 0;
}

/* One case's items/s over its repetitions, as a reporter collects it for a table. */
struct BenchResult {
    std::vector<double> rates; /* items_per_second of each repetition */
    double median = -1;        /* the median aggregate, when repetitions produced one */
    std::string error;
    bool seen = false;

    /* The median when there is one, else the mean of the repetitions; -1 without any. */
    double rate() const
    {
        if (median >= 0)
            return median;
        if (rates.empty())
            return -1;
        return std::accumulate(rates.begin(), rates.end(), 0.0) / static_cast<double>(rates.size());
    }

    /* Records run r: its error, or its items/s (a repetition, or the median aggregate). Returns
     * false for a run the caller takes nothing more from (an error, another aggregate). */
    bool record(const benchmark::BenchmarkReporter::Run &r)
    {
        seen = true;
        if (r.error_occurred) {
            error = r.error_message;
            return false;
        }
        auto rate = r.counters.find("items_per_second");
        if (r.run_type == benchmark::BenchmarkReporter::Run::RT_Aggregate) {
            if (r.aggregate_name != "median")
                return false;
            if (rate != r.counters.end())
                median = rate->second.value;
        } else if (rate != r.counters.end()) {
            rates.push_back(rate->second.value);
        }
        return true;
    }
};

/* 1234567 -> "1.23M": three significant digits, for the tables. */
inline std::string si(double v)
{
    static const char *const suffix[] = {"", "k", "M", "G", "T"};
    int i = 0;

    while (v >= 1000.0 && i < 4) {
        v /= 1000.0;
        i++;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf),
                  v >= 100.0  ? "%.0f%s"
                  : v >= 10.0 ? "%.1f%s"
                              : "%.2f%s",
                  v, suffix[i]);
    return buf;
}

#endif /* AWECACHE_BENCH_MAIN_H */
