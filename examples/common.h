/* examples/common.h — infrastructure shared by the example programs.
 *
 * Static functions only; each program includes this header first (it sets
 * the POSIX feature macro) and then defines SAM_IMPLEMENTATION and includes
 * sam.h itself. What is here:
 *
 *   flags      typed flags (int, double, string, list of numbers, switch),
 *              `--help`, and the common flags every program has:
 *              --seed S --seeds K --out DIR --shard k/N --threads T --quiet.
 *              A bad flag prints one line naming it and exits with status 2,
 *              before any work is done (--out is created and probed first).
 *   runner     independent tasks (seeds, grid cells) on T threads; task j
 *              is done by this process when j mod N == k (--shard k/N); results
 *              land in a caller array indexed by run, so output is written in
 *              a fixed order whatever T is; a progress line on stderr.
 *   csv        one row per run, into --out; sharded runs write
 *              NAME.shardKofN.csv. Merge shards with
 *                  head -1 DIR/NAME.shard0of4.csv > NAME.csv
 *                  tail -q -n +2 DIR/NAME.shard*of4.csv | sort -t, -k1,1n >> NAME.csv
 *              (column 1 is the run index, so the merged file is in the
 *              order a single process writes).
 *   svg        line plots (axes, ticks, legend, several series, error bands),
 *              heatmaps (colour scale, cell labels, several panels) and box
 *              plots with one dot per seed — written from scratch.
 *   table      aligned text tables on stdout.
 *   claims     `PASS`/`FAIL` lines; the exit status is 0 only if all pass.
 */
#ifndef EX_COMMON_H
#define EX_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#if defined(__GLIBC__)
#include <malloc.h> /* mallopt: see ex_run */
#endif

#define EX_MAX_FLAGS 64

/* Every helper is static; a program uses only some of them. */
#if defined(__GNUC__) || defined(__clang__)
#define EX_API static __attribute__((unused))
#else
#define EX_API static
#endif
#if defined(__GNUC__) || defined(__clang__)
#define EX_NORETURN __attribute__((noreturn))
#else
#define EX_NORETURN
#endif
#define EX_PATH 1024

/* ======================================================================
 * Small helpers
 * ==================================================================== */

static const char *ex__prog = "example";

EX_API double ex_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A usage error: one line naming the flag, exit status 2. */
EX_API EX_NORETURN void ex_usage_error(const char *flag, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: %s: ", ex__prog, flag);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try --help)\n");
    exit(2);
}

/* A run-time failure (library status, I/O): one line, exit status 1. */
EX_API EX_NORETURN void ex_fatal(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", ex__prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

EX_API void *ex_xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ex_fatal("out of memory (%lu bytes)", (unsigned long)bytes);
    return p;
}

EX_API void *ex_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ex_fatal("out of memory (%lu x %lu bytes)", (unsigned long)n, (unsigned long)size);
    return p;
}

/* Statistics over doubles; NaN entries are skipped. */
EX_API double ex_mean(const double *v, int n) {
    double s = 0;
    int i, k = 0;
    for (i = 0; i < n; i++)
        if (v[i] == v[i]) { s += v[i]; k++; }
    return k ? s / k : NAN;
}

EX_API double ex_sd(const double *v, int n) {
    double m = ex_mean(v, n), s = 0;
    int i, k = 0;
    for (i = 0; i < n; i++)
        if (v[i] == v[i]) { s += (v[i] - m) * (v[i] - m); k++; }
    return k > 1 ? sqrt(s / (k - 1)) : 0.0;
}

EX_API int ex__cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* q-quantile (linear interpolation), q in [0,1]; NaNs skipped. */
EX_API double ex_quantile(const double *v, int n, double q) {
    double *s, r, pos;
    int i, k = 0, lo;
    s = (double *)ex_xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (i = 0; i < n; i++)
        if (v[i] == v[i]) s[k++] = v[i];
    if (!k) { free(s); return NAN; }
    qsort(s, (size_t)k, sizeof(double), ex__cmp_double);
    pos = q * (k - 1);
    lo = (int)floor(pos);
    if (lo >= k - 1) r = s[k - 1];
    else r = s[lo] + (pos - lo) * (s[lo + 1] - s[lo]);
    free(s);
    return r;
}

EX_API double ex_median(const double *v, int n) { return ex_quantile(v, n, 0.5); }

EX_API double ex_max(const double *v, int n) {
    double m = NAN;
    int i;
    for (i = 0; i < n; i++)
        if (v[i] == v[i] && (m != m || v[i] > m)) m = v[i];
    return m;
}

EX_API double ex_min(const double *v, int n) {
    double m = NAN;
    int i;
    for (i = 0; i < n; i++)
        if (v[i] == v[i] && (m != m || v[i] < m)) m = v[i];
    return m;
}

/* ======================================================================
 * Flags
 * ==================================================================== */

enum { EX_F_INT, EX_F_DOUBLE, EX_F_STRING, EX_F_LIST, EX_F_SWITCH, EX_F_U64, EX_F_SHARD };

typedef struct ex_flag {
    const char *name;     /* without the leading "--" */
    int type;
    void *ptr;
    int *count;           /* lists: number of values read        */
    int max;              /* lists: capacity                     */
    double lo, hi;        /* range                               */
    int lo_open, hi_open; /* 1: bound excluded                   */
    int has_range;
    const char *range;    /* as written, e.g. "[0,0.5)"          */
    const char *help;
    char def[96];         /* default, formatted at registration  */
} ex_flag;

/* The flags every program has. */
typedef struct ex_opts {
    double seed_d;        /* parsed as a number, stored in seed  */
    uint64_t seed;        /* first seed                          */
    int seeds;            /* seeds per setting: seed .. seed+K-1 */
    const char *out;      /* output directory                    */
    int shard_k, shard_n; /* this process runs j with j%N == k   */
    int threads;          /* worker threads for independent runs */
    int quiet;            /* no progress line                    */
} ex_opts;

typedef struct ex_cli {
    const char *prog, *about, *epilog;
    ex_flag flags[EX_MAX_FLAGS];
    int n;
    ex_opts *opt;
} ex_cli;

/* Parse "[lo,hi)" style ranges; "inf" allowed. */
EX_API void ex__parse_range(ex_flag *f, const char *range) {
    char buf[64], *comma, *end;
    size_t len;
    f->has_range = 0;
    f->range = range;
    if (!range) return;
    len = strlen(range);
    if (len < 5 || len >= sizeof buf) ex_fatal("internal: bad range '%s' for --%s", range, f->name);
    memcpy(buf, range, len + 1);
    f->lo_open = buf[0] == '(';
    f->hi_open = buf[len - 1] == ')';
    buf[len - 1] = 0;
    comma = strchr(buf, ',');
    if (!comma) ex_fatal("internal: bad range '%s'", range);
    *comma = 0;
    f->lo = strcmp(buf + 1, "-inf") == 0 ? -HUGE_VAL : strtod(buf + 1, &end);
    f->hi = strcmp(comma + 1, "inf") == 0 ? HUGE_VAL : strtod(comma + 1, &end);
    f->has_range = 1;
}

EX_API ex_flag *ex__add(ex_cli *c, const char *name, int type, void *ptr, const char *range, const char *help) {
    ex_flag *f;
    if (c->n >= EX_MAX_FLAGS) ex_fatal("internal: too many flags");
    f = &c->flags[c->n++];
    memset(f, 0, sizeof *f);
    f->name = name;
    f->type = type;
    f->ptr = ptr;
    f->help = help;
    ex__parse_range(f, range);
    return f;
}

EX_API void ex_flag_int(ex_cli *c, const char *name, int *p, const char *range, const char *help) {
    ex_flag *f = ex__add(c, name, EX_F_INT, p, range, help);
    snprintf(f->def, sizeof f->def, "%d", *p);
}

EX_API void ex_flag_double(ex_cli *c, const char *name, double *p, const char *range, const char *help) {
    ex_flag *f = ex__add(c, name, EX_F_DOUBLE, p, range, help);
    snprintf(f->def, sizeof f->def, "%g", *p);
}

EX_API void ex_flag_string(ex_cli *c, const char *name, const char **p, const char *help) {
    ex_flag *f = ex__add(c, name, EX_F_STRING, (void *)p, NULL, help);
    snprintf(f->def, sizeof f->def, "%s", *p ? *p : "");
}

/* A switch: --name sets 1, --no-name sets 0. */
EX_API void ex_flag_switch(ex_cli *c, const char *name, int *p, const char *help) {
    ex_flag *f = ex__add(c, name, EX_F_SWITCH, p, NULL, help);
    snprintf(f->def, sizeof f->def, "%s", *p ? "on" : "off");
}

/* A comma-separated list of numbers, e.g. --grid-d 500,1000. */
EX_API void ex_flag_list(ex_cli *c, const char *name, double *p, int *count, int max, const char *range,
                         const char *help) {
    ex_flag *f = ex__add(c, name, EX_F_LIST, p, range, help);
    int i;
    size_t len = 0;
    f->count = count;
    f->max = max;
    for (i = 0; i < *count && len + 16 < sizeof f->def; i++)
        len += (size_t)snprintf(f->def + len, sizeof f->def - len, "%s%g", i ? "," : "", p[i]);
}

EX_API void ex_cli_init(ex_cli *c, const char *prog, const char *about, ex_opts *o) {
    ex_flag *f;
    memset(c, 0, sizeof *c);
    c->prog = prog;
    c->about = about;
    c->opt = o;
    ex__prog = prog;
    if (!o->out) o->out = "out";
    if (o->threads <= 0) o->threads = 2;
    if (o->seeds <= 0) o->seeds = 1;
    o->shard_k = 0;
    o->shard_n = 1;
    o->seed_d = (double)o->seed;
    ex_flag_double(c, "seed", &o->seed_d, "[0,4e15]", "first seed; a run with seed s uses independent streams "
                                                       "(train data, test data, init, batch order, directions)");
    ex_flag_int(c, "seeds", &o->seeds, "[1,256]", "seeds per setting: seed, seed+1, ..., seed+K-1");
    ex_flag_string(c, "out", &o->out, "output directory for CSV and SVG files (created)");
    f = ex__add(c, "shard", EX_F_SHARD, o, NULL, "run only tasks j with j mod N == k (k/N, 0 <= k < N; a "
                                                "task is one run or the runs sharing one data set); merge the CSVs "
                                                "afterwards (see the end of --help)");
    snprintf(f->def, sizeof f->def, "0/1");
    ex_flag_int(c, "threads", &o->threads, "[1,256]", "worker threads for independent runs");
    ex_flag_switch(c, "quiet", &o->quiet, "no progress line on stderr");
}

/* Display width of n bytes of UTF-8 (code points). */
EX_API int ex__width_n(const char *s, size_t n) {
    int w = 0;
    size_t i;
    for (i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) w++;
    return w;
}

EX_API void ex_cli_help(const ex_cli *c) {
    int i;
    printf("usage: %s [flags]\n\n%s\n\nflags:\n", c->prog, c->about);
    for (i = 0; i < c->n; i++) {
        const ex_flag *f = &c->flags[i];
        const char *arg = f->type == EX_F_INT ? " INT" : f->type == EX_F_DOUBLE ? " X"
                        : f->type == EX_F_STRING ? " STR" : f->type == EX_F_LIST ? " X,Y,..."
                        : f->type == EX_F_SHARD ? " k/N" : "";
        char lhs[64];
        char text[600];
        const char *p;
        int col = 0;
        if (f->type == EX_F_SWITCH) snprintf(lhs, sizeof lhs, "--[no-]%s", f->name);
        else snprintf(lhs, sizeof lhs, "--%s%s", f->name, arg);
        snprintf(text, sizeof text, "%s [default %s%s%s]", f->help, f->def, f->range ? ", range " : "",
                 f->range ? f->range : "");
        /* word-wrap the description at 80 columns, indented under itself */
        printf("  %-22s", lhs);
        for (p = text; *p;) {
            const char *e = p;
            int w;
            while (*e && *e != ' ') e++;
            w = ex__width_n(p, (size_t)(e - p));
            if (col > 0 && col + 1 + w > 55) {
                printf("\n  %-22s", "");
                col = 0;
            }
            printf("%s%.*s", col ? " " : " ", (int)(e - p), p);
            col += w + 1;
            p = *e ? e + 1 : e;
        }
        printf("\n");
    }
    printf("  %-22s this text\n", "--help");
    if (c->epilog) printf("\n%s\n", c->epilog);
    printf("\nExit status: 0 when every claim passes, 1 when a claim fails or a run errs,\n"
           "2 for a bad flag. Sharded runs (--shard k/N) write NAME.shardKofN.csv; merge with\n"
           "  head -1 OUT/NAME.shard0ofN.csv > NAME.csv\n"
           "  tail -q -n +2 OUT/NAME.shard*ofN.csv | sort -t, -k1,1n >> NAME.csv\n");
}

/* Strict number parsing: the whole string must be a finite number. */
EX_API int ex__number(const char *s, double *out) {
    char *end;
    double v;
    if (!s || !*s) return 0;
    errno = 0;
    v = strtod(s, &end);
    if (*end || errno == ERANGE || !(v == v) || v > DBL_MAX || v < -DBL_MAX) return 0;
    *out = v;
    return 1;
}

EX_API void ex__set(const ex_flag *f, const char *val) {
    char flagname[80];
    double v;
    snprintf(flagname, sizeof flagname, "--%s", f->name);
    switch (f->type) {
    case EX_F_INT:
        if (!ex__number(val, &v) || v != floor(v) || fabs(v) > 2147483647.0)
            ex_usage_error(flagname, "'%s' is not an integer", val);
        if (f->has_range && (v < f->lo || v > f->hi || (f->lo_open && v == f->lo) || (f->hi_open && v == f->hi)))
            ex_usage_error(flagname, "%s is out of range %s", val, f->range);
        *(int *)f->ptr = (int)v;
        break;
    case EX_F_DOUBLE:
        if (!ex__number(val, &v)) ex_usage_error(flagname, "'%s' is not a number", val);
        if (f->has_range && (v < f->lo || v > f->hi || (f->lo_open && v == f->lo) || (f->hi_open && v == f->hi)))
            ex_usage_error(flagname, "%s is out of range %s", val, f->range);
        *(double *)f->ptr = v;
        break;
    case EX_F_STRING:
        if (!*val) ex_usage_error(flagname, "empty value");
        *(const char **)f->ptr = val;
        break;
    case EX_F_LIST: {
        const char *s = val;
        int k = 0;
        double *dst = (double *)f->ptr;
        char item[64];
        while (*s) {
            const char *e = strchr(s, ',');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            if (len == 0 || len >= sizeof item) ex_usage_error(flagname, "malformed list '%s'", val);
            memcpy(item, s, len);
            item[len] = 0;
            if (!ex__number(item, &v)) ex_usage_error(flagname, "'%s' is not a number", item);
            if (f->has_range && (v < f->lo || v > f->hi || (f->lo_open && v == f->lo) ||
                                 (f->hi_open && v == f->hi)))
                ex_usage_error(flagname, "%s is out of range %s", item, f->range);
            if (k >= f->max) ex_usage_error(flagname, "more than %d values", f->max);
            dst[k++] = v;
            s += len;
            if (*s == ',') {
                s++;
                if (!*s) ex_usage_error(flagname, "malformed list '%s'", val);
            }
        }
        if (k == 0) ex_usage_error(flagname, "empty list");
        *f->count = k;
        break;
    }
    case EX_F_SHARD: {
        ex_opts *o = (ex_opts *)f->ptr;
        const char *slash = strchr(val, '/');
        char a[32], b[32];
        double k = 0, n = 0;
        if (!slash || (size_t)(slash - val) >= sizeof a || strlen(slash + 1) >= sizeof b)
            ex_usage_error(flagname, "'%s' is not of the form k/N", val);
        memcpy(a, val, (size_t)(slash - val));
        a[slash - val] = 0;
        strcpy(b, slash + 1);
        if (!ex__number(a, &k) || !ex__number(b, &n) || k != floor(k) || n != floor(n) || k < 0 || n < 1 ||
            n > 1e6)
            ex_usage_error(flagname, "'%s' is not of the form k/N with integers 0 <= k < N", val);
        if (k >= n) ex_usage_error(flagname, "k (%g) must be < N (%g)", k, n);
        o->shard_k = (int)k;
        o->shard_n = (int)n;
        break;
    }
    default:
        break;
    }
}

/* Create DIR (and parents); check it is writable by writing a probe file. */
EX_API void ex__prepare_out(const char *dir) {
    char path[EX_PATH], probe[EX_PATH + 32];
    size_t i, len = strlen(dir);
    FILE *f;
    struct stat st;
    if (len == 0 || len >= EX_PATH) ex_usage_error("--out", "bad directory name");
    memcpy(path, dir, len + 1);
    for (i = 1; i <= len; i++) {
        if (path[i] == '/' || path[i] == 0) {
            char keep = path[i];
            path[i] = 0;
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                ex_usage_error("--out", "cannot create '%s': %s", path, strerror(errno));
            path[i] = keep;
        }
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) ex_usage_error("--out", "'%s' is not a directory", dir);
    snprintf(probe, sizeof probe, "%s/.write_probe_%ld", dir, (long)getpid());
    f = fopen(probe, "w");
    if (!f) ex_usage_error("--out", "'%s' is not writable: %s", dir, strerror(errno));
    fclose(f);
    remove(probe);
}

/* Parse argv; --help prints usage and exits 0; any error exits 2. */
EX_API void ex_cli_parse(ex_cli *c, int argc, char **argv) {
    int i, j;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        char name[80];
        size_t nlen;
        int neg = 0, found = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            ex_cli_help(c);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) ex_usage_error(a, "unexpected argument (flags start with --)");
        a += 2;
        eq = strchr(a, '=');
        nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen == 0 || nlen >= sizeof name) ex_usage_error(argv[i], "unknown flag");
        memcpy(name, a, nlen);
        name[nlen] = 0;
        for (j = 0; j < c->n; j++) {
            ex_flag *f = &c->flags[j];
            if (f->type == EX_F_SWITCH && strncmp(name, "no-", 3) == 0 && strcmp(name + 3, f->name) == 0) neg = 1;
            else if (strcmp(name, f->name) != 0) continue;
            found = 1;
            if (f->type == EX_F_SWITCH) {
                if (eq) ex_usage_error(argv[i], "takes no value");
                *(int *)f->ptr = !neg;
                break;
            }
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else {
                char fl[96];
                snprintf(fl, sizeof fl, "--%s", f->name);
                ex_usage_error(fl, "missing value");
            }
            ex__set(f, val);
            break;
        }
        if (!found) {
            char fl[96];
            snprintf(fl, sizeof fl, "--%s", name);
            ex_usage_error(fl, "unknown flag");
        }
    }
    c->opt->seed = (uint64_t)c->opt->seed_d;
    if ((double)c->opt->seed != c->opt->seed_d) ex_usage_error("--seed", "must be a non-negative integer");
    ex__prepare_out(c->opt->out);
}

/* ======================================================================
 * Runner: independent runs on threads, sharded across processes
 * ==================================================================== */

/* Do run `job`, write its result to `result`; return 0, or non-zero with a
 * message in err. Called concurrently: use only job-local state. */
typedef int (*ex_job_fn)(void *user, int job, void *result, char *err, size_t errlen);

typedef struct ex_runner {
    const ex_opts *opt;
    const char *what;
    int njobs;
    ex_job_fn fn;
    void *user;
    char *results;
    size_t result_size;
    unsigned char *done;  /* 1 when run j finished here             */
    const double *cost;   /* relative cost per run (NULL: equal)    */
    int *order;           /* runs by decreasing cost (ties: index)  */
    /* shared, under mu */
    pthread_mutex_t mu;
    int next, finished, mine, failed;
    double cost_total, cost_done, t0, last_print;
    int tty, last_quarter;
    char err[288]; /* "run N: " + a job's 256-byte message */
} ex_runner;

EX_API int ex_is_mine(const ex_opts *o, int job) { return job % o->shard_n == o->shard_k; }

EX_API void ex__fmt_time(char *buf, size_t cap, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

/* Called with mu held, after a run finished (or at the end with final=1). */
EX_API void ex__progress(ex_runner *r, int final) {
    double now = ex_now(), el = now - r->t0, left;
    char e[32], l[32];
    int quarter;
    if (r->opt->quiet) return;
    left = r->cost_done > 0 ? el * (r->cost_total - r->cost_done) / r->cost_done : 0;
    ex__fmt_time(e, sizeof e, el);
    ex__fmt_time(l, sizeof l, left);
    if (r->tty) {
        if (!final && now - r->last_print < 0.2) return;
        fprintf(stderr, "\r%s: %d/%d runs, %s elapsed, ~%s left   ", r->what, r->finished, r->mine, e, l);
        if (final) fprintf(stderr, "\n");
        r->last_print = now;
    } else {
        /* A log file gets a line per quarter and at most one per 30 s. */
        quarter = r->mine ? 4 * r->finished / r->mine : 4;
        if (!final && quarter == r->last_quarter && now - r->last_print < 30) return;
        if (final && r->last_quarter == 4) return;
        fprintf(stderr, "%s: %d/%d runs, %s elapsed, ~%s left\n", r->what, r->finished, r->mine, e, l);
        r->last_quarter = quarter;
        r->last_print = now;
    }
    fflush(stderr);
}

EX_API void *ex__worker(void *arg) {
    ex_runner *r = (ex_runner *)arg;
    char err[256];
    for (;;) {
        int j, rc;
        pthread_mutex_lock(&r->mu);
        while (r->next < r->njobs && !ex_is_mine(r->opt, r->order[r->next])) r->next++;
        if (r->next >= r->njobs || r->failed) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        j = r->order[r->next++];
        pthread_mutex_unlock(&r->mu);
        err[0] = 0;
        rc = r->fn(r->user, j, r->results ? r->results + (size_t)j * r->result_size : NULL, err, sizeof err);
        pthread_mutex_lock(&r->mu);
        if (rc) {
            if (!r->failed) snprintf(r->err, sizeof r->err, "run %d: %s", j, err[0] ? err : "failed");
            r->failed = 1;
        } else {
            r->done[j] = 1;
            r->finished++;
            r->cost_done += r->cost ? r->cost[j] : 1.0;
            ex__progress(r, 0);
        }
        pthread_mutex_unlock(&r->mu);
    }
}

/* Longest first (LPT): the threads end together instead of one of them
 * finishing the biggest runs alone; results do not depend on the order.
 * Stable insertion sort of the run indices by decreasing cost. */
EX_API void ex__order_by_cost(int n, const double *cost, int *order) {
    int i, k;
    for (i = 0; i < n; i++) {
        int j = i;
        for (k = i; k > 0 && cost && cost[order[k - 1]] < cost[j]; k--) order[k] = order[k - 1];
        order[k] = j;
    }
}

/* Run every job of this shard; results[j] (result_size bytes each) and
 * done[j] are filled. Exits with status 1 if a run fails. Returns the number
 * of runs done here. */
EX_API int ex_run(const ex_opts *o, const char *what, int njobs, ex_job_fn fn, void *user, void *results,
                  size_t result_size, unsigned char *done, const double *cost) {
    ex_runner r;
    pthread_t th[256];
    int i, nth, started = 0;
#if defined(__GLIBC__)
    /* Each run allocates and frees its data sets (32 MB of test samples at
     * d = 4000). glibc serves blocks that large by mmap and unmaps them on
     * free, so every run paid ~8000 fresh page faults plus zeroing by the
     * kernel (12% of a d = 4000 run). Keep them in the heap for reuse. */
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1024 << 20);
#endif
    memset(&r, 0, sizeof r);
    r.opt = o;
    r.what = what;
    r.njobs = njobs;
    r.fn = fn;
    r.user = user;
    r.results = (char *)results;
    r.result_size = result_size;
    r.done = done;
    r.cost = cost;
    r.tty = isatty(2);
    r.last_quarter = 0;
    r.t0 = ex_now();
    r.last_print = r.t0;
    memset(done, 0, (size_t)njobs);
    r.order = (int *)ex_xmalloc(sizeof(int) * (size_t)(njobs > 0 ? njobs : 1));
    ex__order_by_cost(njobs, cost, r.order);
    for (i = 0; i < njobs; i++)
        if (ex_is_mine(o, i)) {
            r.mine++;
            r.cost_total += cost ? cost[i] : 1.0;
        }
    pthread_mutex_init(&r.mu, NULL);
    nth = o->threads < r.mine ? o->threads : r.mine;
    if (nth <= 1) {
        ex__worker(&r);
    } else {
        for (i = 0; i < nth; i++) {
            if (pthread_create(&th[i], NULL, ex__worker, &r) != 0) break;
            started++;
        }
        if (started == 0) ex__worker(&r);
        for (i = 0; i < started; i++) pthread_join(th[i], NULL);
    }
    pthread_mutex_lock(&r.mu);
    if (!r.failed) ex__progress(&r, 1);
    else if (r.tty && !o->quiet) fprintf(stderr, "\n");
    pthread_mutex_unlock(&r.mu);
    pthread_mutex_destroy(&r.mu);
    free(r.order);
    if (r.failed) ex_fatal("%s: %s", what, r.err);
    return r.mine;
}

/* ======================================================================
 * Files: CSV
 * ==================================================================== */

/* OUT/NAME.EXT, or OUT/NAME.shardKofN.EXT when sharded and shard_name. */
EX_API void ex_path(const ex_opts *o, char *buf, size_t cap, const char *name, const char *ext, int shard_name) {
    if (shard_name && o->shard_n > 1)
        snprintf(buf, cap, "%s/%s.shard%dof%d.%s", o->out, name, o->shard_k, o->shard_n, ext);
    else
        snprintf(buf, cap, "%s/%s.%s", o->out, name, ext);
}

/* Open OUT/NAME.csv (per shard) and write the header line. */
EX_API FILE *ex_csv_open(const ex_opts *o, const char *name, const char *header, char *path, size_t cap) {
    FILE *f;
    ex_path(o, path, cap, name, "csv", 1);
    f = fopen(path, "w");
    if (!f) ex_fatal("cannot write %s: %s", path, strerror(errno));
    fprintf(f, "%s\n", header);
    return f;
}

EX_API void ex_csv_close(FILE *f, const char *path) {
    if (ferror(f) | fclose(f)) ex_fatal("error writing %s", path);
}

/* ======================================================================
 * SVG
 * ==================================================================== */

#define EX_SVG_MAX_SERIES 16

typedef struct ex_series {
    const char *name;
    const double *x, *y;   /* n points; NaN y values break the line  */
    const double *lo, *hi; /* optional band (e.g. mean ± sd), or NULL */
    int n;
    int dashed;
    int markers;
    int color;             /* 1-based palette index; 0: by series order */
} ex_series;

typedef struct ex_plot {
    const char *title, *xlabel, *ylabel;
    double xmin, xmax, ymin, ymax; /* NaN: automatic */
    int logy;
    double hline;                  /* a dotted reference line, NaN: none */
    const char *hline_label;
    ex_series s[EX_SVG_MAX_SERIES];
    int ns;
} ex_plot;

static const char *const ex__palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

EX_API void ex_plot_init(ex_plot *p, const char *title, const char *xlabel, const char *ylabel) {
    memset(p, 0, sizeof *p);
    p->title = title;
    p->xlabel = xlabel;
    p->ylabel = ylabel;
    p->xmin = p->xmax = p->ymin = p->ymax = NAN;
    p->hline = NAN;
}

EX_API ex_series *ex_plot_add(ex_plot *p, const char *name, int n, const double *x, const double *y) {
    ex_series *s;
    if (p->ns >= EX_SVG_MAX_SERIES) ex_fatal("internal: too many series");
    s = &p->s[p->ns++];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->n = n;
    s->x = x;
    s->y = y;
    return s;
}

/* XML-escape into a static-size buffer. */
EX_API void ex__esc(char *dst, size_t cap, const char *s) {
    size_t k = 0;
    for (; s && *s && k + 7 < cap; s++) {
        const char *r = NULL;
        if (*s == '<') r = "&lt;";
        else if (*s == '>') r = "&gt;";
        else if (*s == '&') r = "&amp;";
        else if (*s == '"') r = "&quot;";
        if (r) { size_t l = strlen(r); memcpy(dst + k, r, l); k += l; }
        else dst[k++] = *s;
    }
    dst[k] = 0;
}

/* "Nice" tick step for a range (1, 2, 2.5, 5 × 10^k), about `want` ticks. */
EX_API double ex__nice_step(double span, int want) {
    double raw = span / (want > 1 ? want : 1), mag, f;
    if (!(raw > 0)) return 1;
    mag = pow(10.0, floor(log10(raw)));
    f = raw / mag;
    if (f <= 1) f = 1;
    else if (f <= 2) f = 2;
    else if (f <= 2.5) f = 2.5;
    else if (f <= 5) f = 5;
    else f = 10;
    return f * mag;
}

EX_API void ex__fmt_tick(char *buf, size_t cap, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    if (fabs(v) >= 1e5 || (fabs(v) < 1e-3 && v != 0)) snprintf(buf, cap, "%.2g", v);
    else {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        if (dec > 6) dec = 6;
        snprintf(buf, cap, "%.*f", dec, v);
    }
}

EX_API FILE *ex__svg_begin(const char *path, int w, int h) {
    FILE *f = fopen(path, "w");
    if (!f) ex_fatal("cannot write %s: %s", path, strerror(errno));
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n", w, h, w, h);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", w, h);
    return f;
}

EX_API void ex__svg_end(FILE *f, const char *path) {
    fprintf(f, "</svg>\n");
    if (ferror(f) | fclose(f)) ex_fatal("error writing %s", path);
}

EX_API void ex__svg_text(FILE *f, double x, double y, const char *anchor, int size, const char *extra,
                         const char *text) {
    char esc[512];
    ex__esc(esc, sizeof esc, text);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s%s>%s</text>\n", x, y, anchor,
            size, extra ? " " : "", extra ? extra : "", esc);
}

/* A line plot: axes with nice ticks, grid, series with optional bands,
 * legend at the top right, optional dotted reference line. */
EX_API void ex_svg_lines(const char *path, const ex_plot *p) {
    const int W = 640, H = 420, L = 70, R = 20, T = 40, B = 55;
    const double pw = W - L - R, ph = H - T - B;
    double xmin = p->xmin, xmax = p->xmax, ymin = p->ymin, ymax = p->ymax, step, t;
    int i, k, first;
    FILE *f;
    char buf[64];
    double dxmin = HUGE_VAL, dxmax = -HUGE_VAL, dymin = HUGE_VAL, dymax = -HUGE_VAL;
    for (k = 0; k < p->ns; k++) {
        const ex_series *s = &p->s[k];
        for (i = 0; i < s->n; i++) {
            double x = s->x ? s->x[i] : i, ys[3];
            int q;
            ys[0] = s->y[i];
            ys[1] = s->lo ? s->lo[i] : NAN;
            ys[2] = s->hi ? s->hi[i] : NAN;
            if (x == x) { if (x < dxmin) dxmin = x; if (x > dxmax) dxmax = x; }
            for (q = 0; q < 3; q++) {
                double y = ys[q];
                if (!(y == y) || (p->logy && y <= 0)) continue;
                if (y < dymin) dymin = y;
                if (y > dymax) dymax = y;
            }
        }
    }
    if (p->hline == p->hline) { if (p->hline < dymin) dymin = p->hline; if (p->hline > dymax) dymax = p->hline; }
    if (dxmin > dxmax) { dxmin = 0; dxmax = 1; }
    if (dymin > dymax) { dymin = 0; dymax = 1; }
    if (!(xmin == xmin)) xmin = dxmin;
    if (!(xmax == xmax)) xmax = dxmax;
    if (!(ymin == ymin)) ymin = dymin;
    if (!(ymax == ymax)) ymax = dymax;
    if (p->logy) {
        if (ymin <= 0) ymin = 1e-6;
        ymin = pow(10.0, floor(log10(ymin)));
        ymax = pow(10.0, ceil(log10(ymax)));
        if (ymax <= ymin) ymax = ymin * 10;
    } else {
        if (ymax <= ymin) { ymax = ymin + 1; }
        /* round the range out to the tick step; the step of the rounded
         * range can be coarser, so ticks start at its first multiple */
        step = ex__nice_step(ymax - ymin, 5);
        ymin = floor(ymin / step + 1e-9) * step;
        ymax = ceil(ymax / step - 1e-9) * step;
    }
    if (xmax <= xmin) xmax = xmin + 1;
#define EX_SX(x) (L + pw * ((x) - xmin) / (xmax - xmin))
#define EX_SY(y) (p->logy ? (T + ph * (1 - (log10(y) - log10(ymin)) / (log10(ymax) - log10(ymin)))) \
                          : (T + ph * (1 - ((y) - ymin) / (ymax - ymin))))
    f = ex__svg_begin(path, W, H);
    if (p->title) ex__svg_text(f, W / 2.0, 22, "middle", 15, "font-weight=\"bold\"", p->title);
    /* y ticks and grid */
    if (p->logy) {
        for (t = ymin; t <= ymax * 1.0001; t *= 10) {
            double y = EX_SY(t);
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", L, y, L + pw, y);
            snprintf(buf, sizeof buf, "%g", t);
            ex__svg_text(f, L - 6, y + 4, "end", 11, NULL, buf);
        }
    } else {
        step = ex__nice_step(ymax - ymin, 5);
        for (t = ceil(ymin / step - 1e-9) * step; t <= ymax + step * 1e-6; t += step) {
            double y = EX_SY(t);
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", L, y, L + pw, y);
            ex__fmt_tick(buf, sizeof buf, t, step);
            ex__svg_text(f, L - 6, y + 4, "end", 11, NULL, buf);
        }
    }
    /* x ticks */
    step = ex__nice_step(xmax - xmin, 6);
    for (t = ceil(xmin / step - 1e-9) * step; t <= xmax + step * 1e-6; t += step) {
        double x = EX_SX(t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", x, T, x, T + ph);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x, T + ph, x,
                T + ph + 5);
        ex__fmt_tick(buf, sizeof buf, t, step);
        ex__svg_text(f, x, T + ph + 18, "middle", 11, NULL, buf);
    }
    /* axes */
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", L, T, pw,
            ph);
    if (p->xlabel) ex__svg_text(f, L + pw / 2, H - 14, "middle", 13, NULL, p->xlabel);
    if (p->ylabel) {
        char tr[96];
        snprintf(tr, sizeof tr, "transform=\"rotate(-90 %d %.1f)\"", 18, T + ph / 2);
        ex__svg_text(f, 18, T + ph / 2, "middle", 13, tr, p->ylabel);
    }
    fprintf(f, "<defs><clipPath id=\"plotarea\"><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\"/>"
               "</clipPath></defs>\n<g clip-path=\"url(#plotarea)\">\n", L, T, pw, ph);
    if (p->hline == p->hline)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"2,3\"/>\n",
                L, EX_SY(p->hline), L + pw, EX_SY(p->hline));
    for (k = 0; k < p->ns; k++) {
        const ex_series *s = &p->s[k];
        const char *col = ex__palette[(s->color > 0 ? s->color - 1 : k) % 10];
        if (s->lo && s->hi) { /* band: upper edge forward, lower edge back */
            fprintf(f, "<path fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", col);
            first = 1;
            for (i = 0; i < s->n; i++) {
                double x = s->x ? s->x[i] : i, y = s->hi[i];
                if (!(y == y) || (p->logy && y <= 0)) continue;
                fprintf(f, "%s%.1f,%.1f", first ? "M" : " L", EX_SX(x), EX_SY(y));
                first = 0;
            }
            for (i = s->n - 1; i >= 0; i--) {
                double x = s->x ? s->x[i] : i, y = s->lo[i];
                if (!(y == y)) continue;
                if (p->logy && y <= 0) y = ymin;
                fprintf(f, "%s%.1f,%.1f", first ? "M" : " L", EX_SX(x), EX_SY(y));
                first = 0;
            }
            fprintf(f, " Z\"/>\n");
        }
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"", col,
                s->dashed ? " stroke-dasharray=\"6,4\"" : "");
        first = 1;
        for (i = 0; i < s->n; i++) {
            double x = s->x ? s->x[i] : i, y = s->y[i];
            if (!(y == y) || (p->logy && y <= 0)) { first = 1; continue; }
            fprintf(f, "%s%.1f,%.1f", first ? "M" : " L", EX_SX(x), EX_SY(y));
            first = 0;
        }
        fprintf(f, "\"/>\n");
        if (s->markers)
            for (i = 0; i < s->n; i++) {
                double x = s->x ? s->x[i] : i, y = s->y[i];
                if (!(y == y) || (p->logy && y <= 0)) continue;
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", EX_SX(x), EX_SY(y), col);
            }
    }
    fprintf(f, "</g>\n");
    /* legend */
    {
        double lx = L + pw - 10, ly = T + 12;
        int maxlen = 0, n = p->ns + (p->hline == p->hline && p->hline_label ? 1 : 0);
        for (k = 0; k < p->ns; k++)
            if ((int)strlen(p->s[k].name ? p->s[k].name : "") > maxlen) maxlen = (int)strlen(p->s[k].name);
        if (p->hline_label && (int)strlen(p->hline_label) > maxlen) maxlen = (int)strlen(p->hline_label);
        lx -= 30 + 6.5 * maxlen;
        if (n > 0)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"white\" "
                       "fill-opacity=\"0.85\" stroke=\"#999\"/>\n", lx - 6, ly - 10, 36 + 6.5 * maxlen, 16 * n + 4);
        for (k = 0; k < p->ns; k++) {
            const char *col = ex__palette[(p->s[k].color > 0 ? p->s[k].color - 1 : k) % 10];
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                    lx, ly, lx + 22, ly, col, p->s[k].dashed ? " stroke-dasharray=\"6,4\"" : "");
            ex__svg_text(f, lx + 28, ly + 4, "start", 11, NULL, p->s[k].name ? p->s[k].name : "");
            ly += 16;
        }
        if (p->hline == p->hline && p->hline_label) {
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                       "stroke-dasharray=\"2,3\"/>\n", lx, ly, lx + 22, ly);
            ex__svg_text(f, lx + 28, ly + 4, "start", 11, NULL, p->hline_label);
        }
    }
#undef EX_SX
#undef EX_SY
    ex__svg_end(f, path);
}

/* Viridis-like colour map, t in [0,1]. */
EX_API void ex__cmap(double t, int *r, int *g, int *b) {
    static const double a[6][3] = {{68, 1, 84}, {65, 68, 135}, {42, 120, 142},
                                   {34, 168, 132}, {122, 209, 81}, {253, 231, 37}};
    double u;
    int i;
    if (!(t == t)) { *r = *g = *b = 200; return; }
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    u = t * 5;
    i = (int)floor(u);
    if (i >= 5) i = 4;
    u -= i;
    *r = (int)(a[i][0] + u * (a[i + 1][0] - a[i][0]) + 0.5);
    *g = (int)(a[i][1] + u * (a[i + 1][1] - a[i][1]) + 0.5);
    *b = (int)(a[i][2] + u * (a[i + 1][2] - a[i][2]) + 0.5);
}

/* Heatmaps side by side with one shared colour scale. Panel k shows
 * v[k][row*nx + col]; row 0 is drawn at the top. Cells are labelled with
 * their value (printf format cellfmt, e.g. "%.2f"); NaN cells are grey. */
EX_API void ex_svg_heatmaps(const char *path, const char *title, int npanels, const char *const *panel_titles,
                            const double *const *v, int nx, const char *const *xticks, const char *xlabel, int ny,
                            const char *const *yticks, const char *ylabel, double vmin, double vmax,
                            const char *cellfmt, const char *scale_label) {
    const int cell_w = 62, cell_h = 40, L = 80, T = 60, gap = 50, cbw = 16;
    int pw = nx * cell_w, ph = ny * cell_h;
    int W = L + npanels * pw + (npanels - 1) * gap + 40 + cbw + 60, H = T + ph + 60;
    int k, i, j, s;
    FILE *f;
    char buf[64];
    if (!(vmin == vmin) || !(vmax == vmax)) {
        double lo = HUGE_VAL, hi = -HUGE_VAL;
        for (k = 0; k < npanels; k++)
            for (i = 0; i < nx * ny; i++)
                if (v[k][i] == v[k][i]) { if (v[k][i] < lo) lo = v[k][i]; if (v[k][i] > hi) hi = v[k][i]; }
        if (!(vmin == vmin)) vmin = lo < HUGE_VAL ? lo : 0;
        if (!(vmax == vmax)) vmax = hi > -HUGE_VAL ? hi : 1;
    }
    if (vmax <= vmin) vmax = vmin + 1;
    f = ex__svg_begin(path, W, H);
    if (title) ex__svg_text(f, W / 2.0, 22, "middle", 15, "font-weight=\"bold\"", title);
    for (k = 0; k < npanels; k++) {
        int x0 = L + k * (pw + gap);
        if (panel_titles && panel_titles[k]) ex__svg_text(f, x0 + pw / 2.0, T - 12, "middle", 13, NULL, panel_titles[k]);
        for (j = 0; j < ny; j++)
            for (i = 0; i < nx; i++) {
                double val = v[k][j * nx + i], t = (val - vmin) / (vmax - vmin);
                int r, g, b;
                ex__cmap(val == val ? t : NAN, &r, &g, &b);
                fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" "
                           "stroke=\"white\"/>\n", x0 + i * cell_w, T + j * cell_h, cell_w, cell_h, r, g, b);
                if (val == val) snprintf(buf, sizeof buf, cellfmt ? cellfmt : "%.2f", val);
                else snprintf(buf, sizeof buf, "-");
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" fill=\"%s\">%s</text>\n",
                        x0 + (i + 0.5) * cell_w, T + (j + 0.5) * cell_h + 4,
                        (0.299 * r + 0.587 * g + 0.114 * b) > 140 ? "black" : "white", buf);
            }
        for (i = 0; i < nx; i++)
            ex__svg_text(f, x0 + (i + 0.5) * cell_w, T + ph + 16, "middle", 11, NULL, xticks[i]);
        if (xlabel) ex__svg_text(f, x0 + pw / 2.0, T + ph + 36, "middle", 12, NULL, xlabel);
        if (k == 0) {
            for (j = 0; j < ny; j++) ex__svg_text(f, x0 - 6, T + (j + 0.5) * cell_h + 4, "end", 11, NULL, yticks[j]);
            if (ylabel) {
                char tr[96];
                snprintf(tr, sizeof tr, "transform=\"rotate(-90 18 %.1f)\"", T + ph / 2.0);
                ex__svg_text(f, 18, T + ph / 2.0, "middle", 12, tr, ylabel);
            }
        }
    }
    /* colour bar */
    {
        int cx = L + npanels * pw + (npanels - 1) * gap + 30, steps = 40;
        double sh = (double)ph / steps, tstep = ex__nice_step(vmax - vmin, 5), t;
        for (s = 0; s < steps; s++) {
            int r, g, b;
            ex__cmap(1.0 - (s + 0.5) / steps, &r, &g, &b);
            fprintf(f, "<rect x=\"%d\" y=\"%.2f\" width=\"%d\" height=\"%.2f\" fill=\"rgb(%d,%d,%d)\"/>\n", cx,
                    T + s * sh, cbw, sh + 0.5, r, g, b);
        }
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", cx, T, cbw,
                ph);
        for (t = ceil(vmin / tstep - 1e-9) * tstep; t <= vmax + 1e-9 * tstep; t += tstep) {
            double y = T + ph * (1 - (t - vmin) / (vmax - vmin));
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n", cx + cbw, y,
                    cx + cbw + 4, y);
            ex__fmt_tick(buf, sizeof buf, t, tstep);
            ex__svg_text(f, cx + cbw + 7, y + 4, "start", 10, NULL, buf);
        }
        if (scale_label) ex__svg_text(f, cx + cbw / 2.0, T + ph + 20, "middle", 11, NULL, scale_label);
    }
    ex__svg_end(f, path);
}

/* Box plots, one per group, with every per-seed value as a dot (jittered
 * deterministically). vals[g] holds counts[g] values. */
EX_API void ex_svg_boxes(const char *path, const char *title, const char *ylabel, int ngroups,
                         const char *const *names, const double *const *vals, const int *counts, double hline,
                         const char *hline_label) {
    const int L = 70, R = 20, T = 40, B = 60, bw = 90;
    int W = L + R + ngroups * (bw + 30) + 30, H = 420, g, i;
    double ph = H - T - B, ymin = HUGE_VAL, ymax = -HUGE_VAL, step, t;
    FILE *f;
    char buf[64];
    if (W < 360) W = 360;
    for (g = 0; g < ngroups; g++)
        for (i = 0; i < counts[g]; i++)
            if (vals[g][i] == vals[g][i]) {
                if (vals[g][i] < ymin) ymin = vals[g][i];
                if (vals[g][i] > ymax) ymax = vals[g][i];
            }
    if (hline == hline) { if (hline < ymin) ymin = hline; if (hline > ymax) ymax = hline; }
    if (ymin > ymax) { ymin = 0; ymax = 1; }
    if (ymin > 0 && ymin < 0.5 * ymax) ymin = 0;
    if (ymax <= ymin) ymax = ymin + 1;
    step = ex__nice_step(ymax - ymin, 5);
    ymin = floor(ymin / step + 1e-9) * step;
    ymax = ceil(ymax / step - 1e-9) * step;
#define EX_BY(y) (T + ph * (1 - ((y) - ymin) / (ymax - ymin)))
    f = ex__svg_begin(path, W, H);
    if (title) ex__svg_text(f, W / 2.0, 22, "middle", 15, "font-weight=\"bold\"", title);
    for (t = ymin; t <= ymax + step * 1e-6; t += step) {
        double y = EX_BY(t);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", L, y, W - R, y);
        ex__fmt_tick(buf, sizeof buf, t, step);
        ex__svg_text(f, L - 6, y + 4, "end", 11, NULL, buf);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", L, T,
            W - R - L, ph);
    if (ylabel) {
        char tr[96];
        snprintf(tr, sizeof tr, "transform=\"rotate(-90 18 %.1f)\"", T + ph / 2);
        ex__svg_text(f, 18, T + ph / 2, "middle", 13, tr, ylabel);
    }
    if (hline == hline) {
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"2,3\"/>\n", L,
                EX_BY(hline), W - R, EX_BY(hline));
        if (hline_label) ex__svg_text(f, W - R - 4, EX_BY(hline) - 4, "end", 10, NULL, hline_label);
    }
    for (g = 0; g < ngroups; g++) {
        double cx = L + 30 + g * (bw + 30) + bw / 2.0;
        double q1 = ex_quantile(vals[g], counts[g], 0.25), q2 = ex_quantile(vals[g], counts[g], 0.5);
        double q3 = ex_quantile(vals[g], counts[g], 0.75), lo = ex_min(vals[g], counts[g]);
        double hi = ex_max(vals[g], counts[g]), mean = ex_mean(vals[g], counts[g]);
        const char *col = ex__palette[g % 10];
        if (q2 == q2) {
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", cx, EX_BY(lo), cx,
                    EX_BY(hi));
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.25\" "
                       "stroke=\"%s\"/>\n", cx - bw / 4.0, EX_BY(q3), bw / 2.0, EX_BY(q1) - EX_BY(q3) + 0.01, col,
                    col);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"/>\n",
                    cx - bw / 4.0, EX_BY(q2), cx + bw / 4.0, EX_BY(q2), col);
            fprintf(f, "<path d=\"M%.1f,%.1f l5,5 l-5,5 l-5,-5 Z\" fill=\"white\" stroke=\"black\"/>\n", cx,
                    EX_BY(mean) - 5); /* diamond: the mean */
        }
        for (i = 0; i < counts[g]; i++) {
            double jit = counts[g] > 1 ? (i / (double)(counts[g] - 1) - 0.5) * (bw / 2.5) : 0;
            if (!(vals[g][i] == vals[g][i])) continue;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" fill-opacity=\"0.8\"/>\n", cx + jit,
                    EX_BY(vals[g][i]), col);
        }
        ex__svg_text(f, cx, T + ph + 18, "middle", 11, NULL, names[g]);
    }
    ex__svg_text(f, W / 2.0, H - 14, "middle", 10, "fill=\"#555\"",
                 "box: quartiles, line: median, diamond: mean, dots: one per seed");
#undef EX_BY
    ex__svg_end(f, path);
}

/* ======================================================================
 * Table and claims
 * ==================================================================== */

#define EX_TABLE_COLS 16
#define EX_TABLE_ROWS 256
#define EX_CELL 40

typedef struct ex_table {
    int ncol, nrow;
    char head[EX_TABLE_COLS][EX_CELL];
    char cell[EX_TABLE_ROWS][EX_TABLE_COLS][EX_CELL];
} ex_table;

EX_API ex_table *ex_table_new(int ncol, const char *const *head) {
    ex_table *t = (ex_table *)ex_xcalloc(1, sizeof(ex_table));
    int i;
    t->ncol = ncol < EX_TABLE_COLS ? ncol : EX_TABLE_COLS;
    for (i = 0; i < t->ncol; i++) snprintf(t->head[i], EX_CELL, "%s", head[i]);
    return t;
}

/* Set cell (row, col) printf-style; rows are added as needed. */
EX_API void ex_table_set(ex_table *t, int row, int col, const char *fmt, ...) {
    va_list ap;
    if (row < 0 || row >= EX_TABLE_ROWS || col < 0 || col >= t->ncol) return;
    va_start(ap, fmt);
    vsnprintf(t->cell[row][col], EX_CELL, fmt, ap);
    va_end(ap);
    if (row + 1 > t->nrow) t->nrow = row + 1;
}

/* Column width in characters, counting UTF-8 code points. */
EX_API int ex__width(const char *s) {
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

EX_API void ex_table_print(const ex_table *t, const char *title) {
    int w[EX_TABLE_COLS], i, j, k, total = 0;
    for (j = 0; j < t->ncol; j++) {
        w[j] = ex__width(t->head[j]);
        for (i = 0; i < t->nrow; i++)
            if (ex__width(t->cell[i][j]) > w[j]) w[j] = ex__width(t->cell[i][j]);
        total += w[j] + 2;
    }
    if (title) printf("\n%s\n", title);
    for (j = 0; j < t->ncol; j++) printf("%s%*s%s", j ? "  " : "", w[j] - ex__width(t->head[j]), "", t->head[j]);
    printf("\n");
    for (k = 0; k < total - 2; k++) putchar('-');
    printf("\n");
    for (i = 0; i < t->nrow; i++) {
        for (j = 0; j < t->ncol; j++)
            printf("%s%*s%s", j ? "  " : "", w[j] - ex__width(t->cell[i][j]), "", t->cell[i][j]);
        printf("\n");
    }
    fflush(stdout);
}

typedef struct ex_claims {
    int pass, fail, skip;
} ex_claims;

/* One claim line: PASS or FAIL and the statement with the measured values. */
EX_API void ex_claim(ex_claims *c, int ok, const char *fmt, ...) {
    va_list ap;
    printf("%s  ", ok ? "PASS" : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (ok) c->pass++;
    else c->fail++;
    fflush(stdout);
}

/* A claim that cannot be judged from this process (e.g. a shard). */
EX_API void ex_claim_skip(ex_claims *c, const char *fmt, ...) {
    va_list ap;
    printf("SKIP  ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    c->skip++;
}

EX_API int ex_claims_exit(const ex_claims *c) {
    printf("%d claims passed, %d failed%s\n", c->pass, c->fail, c->skip ? " (some skipped)" : "");
    return c->fail ? 1 : 0;
}

#endif /* EX_COMMON_H */
