/*
 * bench/awecache-bench/bench_workload.c: the workload generators of `awecache-bench` (bench.h).
 *
 * Every thread has its own generator: a xoshiro256** random number generator seeded through
 * splitmix64 from the workload's seed and the thread's number, a scan cursor over the thread's
 * share of the pages, and a position in the trace. What the threads share is read-only and
 * computed once by bench_workload_prepare: the Zipf constants and the rank scatter.
 *
 * Generator state (struct bench_gen's s[8]):
 *
 *     s[0..3]  xoshiro256** state
 *     s[4]     first page of the thread's scan share
 *     s[5]     pages in the share (>= 1)
 *     s[6]     the scan cursor: offset of the next page in the share, 0 .. s[5]
 *     s[7]     the next trace index
 *
 * Zipf by rejection-inversion (Hormann & Derflinger, "Rejection-inversion to generate variates
 * from monotone discrete distributions", 1996). The ranks k = 1..N have weights h(k) = k^-theta
 * (any theta >= 0: below 1, exactly 1, above 1). Let H(x) = integral from 1 to x of h(t) dt
 * = (x^(1-theta) - 1) / (1 - theta), which is ln x at theta = 1; H is computed as
 * ln x * expm1(q) / q with q = (1 - theta) ln x, and its inverse as exp(y * log1p(q) / q) with
 * q = (1 - theta) y, so that one formula covers theta = 1 without a special case.
 *  1. Setup (O(1)): lo = H(1.5) - h(1), hi = H(N + 0.5), and the squeeze constant
 *     s = 2 - H^-1(H(2.5) - h(2)). Rank k >= 2 owns the interval [H(k - 0.5), H(k + 0.5)) of
 *     (lo, hi], rank 1 owns [lo, H(1.5)); since h is convex and decreasing, each interval is at
 *     least h(k) long, and its top h(k) [H(k + 0.5) - h(k), H(k + 0.5)) is the accepted part.
 *  2. Draw u uniformly in (lo, hi].
 *  3. x = H^-1(u); k = x rounded to the nearest integer, clamped to [1, N].
 *  4. Accept k if k - x <= s (the squeeze: such u are always in the accepted part, no more
 *     work needed) or if u >= H(k + 0.5) - h(k). Otherwise go back to step 2. Accepted u then
 *     fall on rank k with probability proportional to h(k). The rejected area is small next to
 *     the accepted one (measured: 1.00 to 1.02 rounds per sample for theta from 0.01 to 5 and N
 *     from 10 to 2^40), so sampling is O(1) too.
 *  5. The rank k (1 is the hottest) becomes the page (k - 1) * A + B mod N, where A is coprime
 *     to N (so this is a bijection of [0, N)) and near N times the golden ratio's fraction (so
 *     ranks next to each other land far apart), and B comes from the seed.
 */
#include "bench.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* The constants every generator of a Zipf workload shares (step 1 and step 5 above). */
struct zipf_state {
    uint64_t n;     /* ranks: the workload's pages */
    double theta;   /* the Zipf parameter */
    double lo;      /* H(1.5) - h(1): the bottom of the sampled interval */
    double hi;      /* H(N + 0.5): its top */
    double squeeze; /* s = 2 - H^-1(H(2.5) - h(2)) */
    uint64_t mul;   /* A: the scatter's multiplier, coprime to n */
    uint64_t add;   /* B: the scatter's offset, below n */
};

/* ---- Random numbers ----------------------------------------------------------------------- */

/* splitmix64 as a generator: the next value of the sequence *x seeds. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t v = cli_mix64(*x);

    *x += 0x9e3779b97f4a7c15ull;
    return v;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** on s[0..3]. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double next_unit(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) * 0x1p-53;
}

/* ---- Arithmetic modulo the page count ------------------------------------------------------ */

/* a * b mod m, without overflow, for any m >= 1. */
static uint64_t mulmod(uint64_t a, uint64_t b, uint64_t m)
{
    a %= m;
    b %= m;
    if (m <= UINT32_MAX)
        return a * b % m;
#if defined(__SIZEOF_INT128__)
    return (uint64_t)((unsigned __int128)a * b % m);
#else
    {
        uint64_t r = 0;

        while (b != 0) { /* double-and-add, every intermediate below m */
            if (b & 1)
                r = r >= m - a ? r - (m - a) : r + a;
            a = a >= m - a ? a - (m - a) : a + a;
            b >>= 1;
        }
        return r;
    }
#endif
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

/* floor(t * n / d) for t <= d, without overflow. */
static uint64_t share_point(uint64_t n, uint64_t t, uint64_t d)
{
    return t * (n / d) + t * (n % d) / d;
}

/* ---- Zipf (the algorithm in the file comment) ---------------------------------------------- */

/* expm1(q) / q, 1 at q = 0. */
static double expm1_over(double q)
{
    return fabs(q) > 1e-8 ? expm1(q) / q : 1.0 + q / 2.0 * (1.0 + q / 3.0);
}

/* log1p(q) / q, 1 at q = 0. */
static double log1p_over(double q)
{
    return fabs(q) > 1e-8 ? log1p(q) / q : 1.0 - q * (0.5 - q / 3.0);
}

static double zipf_h(double theta, double x)
{
    return exp(-theta * log(x));
}

static double zipf_big_h(double theta, double x)
{
    double lx = log(x);

    return lx * expm1_over((1.0 - theta) * lx);
}

static double zipf_big_h_inv(double theta, double y)
{
    double q = (1.0 - theta) * y;

    if (q < -1.0)
        q = -1.0; /* rounding at the top of the range for theta > 1 */
    return exp(y * log1p_over(q));
}

/* A rank in [1, n]. */
static uint64_t zipf_rank(const struct zipf_state *z, uint64_t *s)
{
    for (;;) {
        /* Step 2 */
        double u = z->hi + next_unit(s) * (z->lo - z->hi);
        /* Step 3 */
        double x = zipf_big_h_inv(z->theta, u);
        double kd = floor(x + 0.5);
        uint64_t k;

        if (kd < 1.0)
            kd = 1.0;
        else if (kd > (double)z->n)
            kd = (double)z->n;
        k = (uint64_t)kd;
        kd = (double)k;
        /* Step 4 */
        if (kd - x <= z->squeeze || u >= zipf_big_h(z->theta, kd + 0.5) - zipf_h(z->theta, kd))
            return k;
    }
}

/* Step 5: rank (1-based) to page. */
static uint64_t zipf_page(const struct zipf_state *z, uint64_t rank)
{
    uint64_t p = mulmod(rank - 1, z->mul, z->n) + z->add;

    return p >= z->n ? p - z->n : p;
}

/* ---- The public calls ---------------------------------------------------------------------- */

int bench_workload_prepare(struct bench_workload *w)
{
    struct zipf_state *z;
    uint64_t seed;

    w->zipf_state = NULL;
    if (w->pages == 0 || (w->dist == BENCH_TRACE && (w->trace == NULL || w->trace_len == 0)))
        return -EINVAL;
    if (w->dist != BENCH_ZIPF && w->dist != BENCH_MIX)
        return 0;
    if (!(w->theta >= 0.0) || !isfinite(w->theta))
        return -EINVAL;
    z = malloc(sizeof(*z));
    if (z == NULL)
        return -ENOMEM;
    /* Step 1 */
    z->n = w->pages;
    z->theta = w->theta;
    z->lo = zipf_big_h(w->theta, 1.5) - 1.0;
    z->hi = zipf_big_h(w->theta, (double)w->pages + 0.5);
    z->squeeze = 2.0 - zipf_big_h_inv(w->theta, zipf_big_h(w->theta, 2.5) - zipf_h(w->theta, 2.0));
    /* Step 5's constants: A near n * 0.618..., moved up to the next number coprime to n. */
    z->mul = (uint64_t)((double)w->pages * 0.6180339887498949);
    if (z->mul == 0 || z->mul >= w->pages)
        z->mul = 1 % w->pages;
    while (gcd(z->mul, w->pages) != 1)
        z->mul = z->mul + 1 >= w->pages ? 1 : z->mul + 1;
    seed = w->seed ^ 0x5a69706661726b73ull;
    z->add = splitmix64(&seed) % w->pages;
    w->zipf_state = z;
    return 0;
}

void bench_workload_free(struct bench_workload *w)
{
    free(w->zipf_state);
    w->zipf_state = NULL;
}

void bench_gen_init(struct bench_gen *g, const struct bench_workload *w, unsigned thread,
                    unsigned nthreads)
{
    uint64_t x = w->seed ^ ((uint64_t)thread + 1) * 0xd1b54a32d192ed03ull;
    uint64_t n = nthreads > 0 ? nthreads : 1, t = thread % n;

    g->w = w;
    g->zipf = w->zipf_state;
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&x);
    if ((g->s[0] | g->s[1] | g->s[2] | g->s[3]) == 0)
        g->s[0] = 1; /* xoshiro's one forbidden state */
    /* The scan share [t * pages / n, (t + 1) * pages / n); with fewer pages than threads, the
     * whole file, each thread from its own starting page. */
    g->s[4] = share_point(w->pages, t, n);
    g->s[5] = share_point(w->pages, t + 1, n) - g->s[4];
    if (g->s[5] == 0) {
        g->s[4] = w->pages > 0 ? t % w->pages : 0;
        g->s[5] = w->pages > 0 ? w->pages : 1;
    }
    g->s[6] = 0;
    g->s[7] = w->trace_len > 0 ? share_point(w->trace_len, t, n) : 0;
}

/* The next page of the thread's scan. */
static uint64_t scan_next(struct bench_gen *g)
{
    uint64_t p = g->s[4] + g->s[6];

    if (++g->s[6] == g->s[5])
        g->s[6] = 0;
    return p >= g->w->pages ? p - g->w->pages : p;
}

static uint64_t zipf_next(struct bench_gen *g)
{
    const struct zipf_state *z = g->zipf;

    return zipf_page(z, zipf_rank(z, g->s));
}

uint64_t bench_gen_next(struct bench_gen *g, bool *write)
{
    const struct bench_workload *w = g->w;
    uint64_t page;

    switch (w->dist) {
    case BENCH_ZIPF:
        page = zipf_next(g);
        break;
    case BENCH_SEQ:
        page = scan_next(g);
        break;
    case BENCH_MIX:
        page = next_unit(g->s) < w->mix_scan ? scan_next(g) : zipf_next(g);
        break;
    case BENCH_TRACE:
        page = w->trace[g->s[7]] % w->pages;
        if (++g->s[7] == w->trace_len)
            g->s[7] = 0;
        break;
    case BENCH_UNIFORM:
    default:
        page = next_u64(g->s) % w->pages;
        break;
    }
    *write = !(next_unit(g->s) < w->read_ratio);
    return page;
}
