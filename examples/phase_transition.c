/* phase_transition — Chen et al. 2023 (arXiv 2310.07269), "Why does SAM
 * generalize better than SGD? A signal/noise view": SGD overfits harmfully
 * unless the signal is strong for the dimension (n‖μ‖⁴ ≳ d P⁴ σp⁴), while SAM
 * stops the early memorisation of noise and overfits benignly already at
 * ‖μ‖ = Ω̃(1), whatever d.
 *
 * Two experiments (PAPERS.md §1, calibrated setting):
 *   headline  d=2000 ‖μ‖=2, SGD 200 epochs, SAM 200 epochs and SAM-early
 *             (SAM for 50 epochs, then SGD to 400), --seeds seeds (default 6);
 *   grid      d × ‖μ‖ = {500,1000,2000,4000} × {1,2,3,4,6}, --grid-seeds
 *             seeds per cell (default 8), SGD 200 epochs vs SAM-early 50 → 200.
 * A seed fixes the training data, the test data, the initialisation and the
 * batch order, each from its own random stream, so every method of a seed
 * sees the same data, init and batches (paired comparisons).
 *
 * Output (into --out): headline.csv and grid.csv (one row per run), SVG
 * figures, a table on stdout and one PASS/FAIL line per claim; the exit
 * status is 0 only when every claim passes.
 *
 * Build: make examples (or cc -O2 -std=c99 -pthread phase_transition.c -lm).
 */
#include "common.h"
#define SAM_IMPLEMENTATION
#include "../sam.h"

enum { PT_SGD, PT_SAM, PT_EARLY, PT_METHODS };
static const char *const pt_method_name[PT_METHODS] = {"SGD", "SAM", "SAM-early"};

#define PT_MAX_GRID 16

typedef struct pt_cfg {
    int d, n, n_test, P, width, batch, m, epochs, sam_epochs, early_epochs, grid_epochs, grid_seeds;
    int indep_noise, headline, grid, with_sam;
    const char *grid_csv; /* merged grid.csv to report on instead of running the grid */
    double mu, sigma_p, noise, lr, rho, sigma0;
    double grid_d[PT_MAX_GRID], grid_mu[PT_MAX_GRID];
    int n_grid_d, n_grid_mu;
} pt_cfg;

/* One run: a method on one (d, ‖μ‖, seed). */
typedef struct pt_run {
    int method, d, epochs, sam_epochs, curves;
    double mu;
    uint64_t seed;
} pt_run;

typedef struct pt_result {
    double train_err, test_err, train_loss, test_loss, max_gamma, seconds;
    int flipped;            /* training labels flipped by the label noise */
    int curve_len;          /* epochs with curve values (0: none)         */
    double *curve_gamma;    /* max γ after each epoch                     */
    double *curve_loss;     /* mean batch loss during each epoch          */
} pt_result;

/* ====================================================================== *
 * One run on sam.h
 * ====================================================================== */
#include "chen.h"

/* Runs runs[0..count) (methods of one d, ‖μ‖ and seed) on one data set:
 * the data are drawn once, each method starts from the same initial
 * weights with an optimizer seeded for the same batch order. */
static int pt_train(const pt_cfg *c, const pt_run *runs, int count, pt_result *res, char *err, size_t errlen) {
    ex_chen_cfg cc;
    ex_chen_run r;
    sam_opt_config oc;
    double t0 = ex_now(), l;
    int e, k;
    memset(&cc, 0, sizeof cc);
    cc.n = (size_t)c->n;
    cc.n_test = (size_t)c->n_test;
    cc.d = (size_t)runs[0].d;
    cc.P = (size_t)c->P;
    cc.width = (size_t)c->width;
    cc.batch = (size_t)c->batch;
    cc.mu = runs[0].mu;
    cc.sigma_p = c->sigma_p;
    cc.noise = c->noise;
    cc.sigma0 = c->sigma0;
    cc.lr = c->lr;
    cc.indep_noise = c->indep_noise;
    if (ex_chen_setup(&r, &cc, runs[0].seed, err, errlen)) goto fail;
    for (k = 0; k < count; k++) {
        const pt_run *run = &runs[k];
        pt_result *x = &res[k];
        if (run->epochs == 0) continue; /* a skipped plain-SAM slot (--no-sam) */
        ex_chen_rewind(&r);
        ex_chen_opt_config(&r, run->seed, &oc);
        if (run->method != PT_SGD) {
            /* SAM with the global gradient norm of the batch; SAM-early: SAM
             * for the first sam_epochs epochs, then the base SGD (Chen et al.). */
            oc.method = SAM_METHOD_SAM;
            oc.rho = c->rho;
            oc.samples_per_perturbation = (size_t)c->m;
            oc.sam_epochs = run->method == PT_EARLY ? run->sam_epochs : -1;
        }
        if (ex_chen_opt_init(&r, &oc, err, errlen)) goto fail;
        x->flipped = r.flipped;
        if (run->curves) {
            x->curve_gamma = (double *)ex_xcalloc((size_t)run->epochs, sizeof(double));
            x->curve_loss = (double *)ex_xcalloc((size_t)run->epochs, sizeof(double));
        }
        for (e = 0; e < run->epochs; e++) {
            if (ex_chen_epoch(&r, &l, err, errlen)) goto fail;
            if (run->curves) {
                x->curve_gamma[e] = ex_chen_max_gamma(&r);
                x->curve_loss[e] = l;
                x->curve_len = e + 1;
            }
        }
        if (ex_chen_eval(&r, 0, &x->train_err, &x->train_loss, err, errlen)) goto fail;
        if (ex_chen_eval(&r, 1, &x->test_err, &x->test_loss, err, errlen)) goto fail;
        x->max_gamma = ex_chen_max_gamma(&r);
        /* the shared data generation is charged to the first method */
        x->seconds = ex_now() - t0;
        t0 = ex_now();
    }
    ex_chen_free(&r);
    return 0;
fail:
    ex_chen_free(&r);
    return 1;
}

/* ====================================================================== *
 * Runs, CSV, tables, figures, claims
 * ====================================================================== */

typedef struct pt_job {
    pt_run run;
    int grid, cell; /* cell = id*n_mu + im for grid runs */
} pt_job;

/* A task is what one thread does at a time: the runs first..first+count-1,
 * all on the same data (the methods of one seed, or of one grid cell and
 * seed). Shards split tasks, so a task's runs stay together. */
typedef struct pt_task {
    int first, count;
} pt_task;

typedef struct pt_plan {
    const pt_cfg *cfg;
    pt_job *jobs;       /* runs, in CSV order */
    pt_result *res;     /* per run            */
    unsigned char *done;/* per run            */
    pt_task *tasks;
    pt_run *runs;       /* jobs[].run, contiguous per task */
    int njobs, nhead, ntasks;
} pt_plan;

static int pt_task_fn(void *user, int t, void *result, char *err, size_t errlen) {
    const pt_plan *pl = (const pt_plan *)user;
    const pt_task *tk = &pl->tasks[t];
    (void)result;
    return pt_train(pl->cfg, pl->runs + tk->first, tk->count, pl->res + tk->first, err, errlen);
}

static const char *const pt_csv_header =
    "run,method,d,mu,n,P,sigma_p,noise,batch,lr,rho,m,width,epochs,sam_epochs,seed,flipped,train_err,test_err,"
    "train_loss,test_loss,max_gamma,seconds";

static void pt_csv_row(FILE *f, int j, const pt_cfg *c, const pt_run *r, const pt_result *x) {
    fprintf(f, "%d,%s,%d,%g,%d,%d,%g,%g,%d,%g,%g,%d,%d,%d,%d,%llu,%d,%.6f,%.6f,%.6g,%.6g,%.6g,%.3f\n", j,
            pt_method_name[r->method], r->d, r->mu, c->n, c->P, c->sigma_p, c->noise, c->batch, c->lr,
            r->method == PT_SGD ? 0.0 : c->rho, c->m, c->width, r->epochs,
            r->method == PT_SAM ? r->epochs : r->method == PT_EARLY ? r->sam_epochs : 0,
            (unsigned long long)r->seed, x->flipped, x->train_err, x->test_err, x->train_loss, x->test_loss,
            x->max_gamma, x->seconds);
}

/* Mean over seeds of per-epoch curves of one method (NaN where missing). */
static void pt_curve_stats(const pt_plan *pl, int K, int mth, int which, int E, double *mean, double *lo,
                           double *hi) {
    double col[256];
    int e, s;
    for (e = 0; e < E; e++) {
        for (s = 0; s < K && s < 256; s++) {
            int j = s * PT_METHODS + mth;
            const pt_result *r = &pl->res[j];
            col[s] = (pl->done[j] && r->curve_len > e) ? (which ? r->curve_loss[e] : r->curve_gamma[e]) : NAN;
        }
        mean[e] = ex_mean(col, s);
        lo[e] = ex_min(col, s);
        hi[e] = ex_max(col, s);
    }
}

static void pt_headline_report(const pt_cfg *c, const ex_opts *o, const pt_plan *pl, ex_claims *cl) {
    enum { MAXK = 256 };
    int K = o->seeds < MAXK ? o->seeds : MAXK, s, mth, ok, complete = 1, have[PT_METHODS];
    double te[PT_METHODS][MAXK], tr[PT_METHODS][MAXK], gm[PT_METHODS][MAXK], ratio = HUGE_VAL;
    char path[EX_PATH];
    ex_table *t;
    static const char *const head[] = {"method", "epochs", "test err mean", "median", "min", "max",
                                       "train err mean", "train err max", "max γ range"};
    static const char *const seedhead[] = {"seed", "flipped", "SGD test", "train", "max γ", "SAM test",
                                           "train", "max γ", "SAM-early test", "train", "max γ"};
    for (mth = 0; mth < PT_METHODS; mth++) have[mth] = 0;
    for (s = 0; s < K; s++)
        for (mth = 0; mth < PT_METHODS; mth++) {
            int j = s * PT_METHODS + mth;
            if (!pl->done[j] || pl->jobs[j].run.epochs == 0) {
                te[mth][s] = tr[mth][s] = gm[mth][s] = NAN;
                if (mth != PT_SAM || c->with_sam) complete = 0;
                continue;
            }
            te[mth][s] = pl->res[j].test_err;
            tr[mth][s] = pl->res[j].train_err;
            gm[mth][s] = pl->res[j].max_gamma;
            have[mth]++;
        }
    printf("\nHeadline (Chen et al. §1, calibrated setting): d=%d ‖μ‖=%g n=%d P=%d σp=%g p=%g B=%d η=%g τ=%g "
           "filters/class=%d, %d seeds\n", c->d, c->mu, c->n, c->P, c->sigma_p, c->noise, c->batch, c->lr, c->rho,
           c->width, K);
    t = ex_table_new(9, head);
    for (mth = 0; mth < PT_METHODS; mth++) {
        ex_table_set(t, mth, 0, "%s", pt_method_name[mth]);
        if (mth == PT_EARLY) ex_table_set(t, mth, 1, "%d SAM → %d", c->sam_epochs, c->early_epochs);
        else ex_table_set(t, mth, 1, "%d", c->epochs);
        if (!have[mth]) continue;
        ex_table_set(t, mth, 2, "%.3f", ex_mean(te[mth], K));
        ex_table_set(t, mth, 3, "%.3f", ex_median(te[mth], K));
        ex_table_set(t, mth, 4, "%.3f", ex_min(te[mth], K));
        ex_table_set(t, mth, 5, "%.3f", ex_max(te[mth], K));
        ex_table_set(t, mth, 6, "%.3f", ex_mean(tr[mth], K));
        ex_table_set(t, mth, 7, "%.3f", ex_max(tr[mth], K));
        ex_table_set(t, mth, 8, "%.2f–%.2f", ex_min(gm[mth], K), ex_max(gm[mth], K));
    }
    ex_table_print(t, NULL);
    free(t);
    t = ex_table_new(11, seedhead);
    for (s = 0; s < K; s++) {
        ex_table_set(t, s, 0, "%llu", (unsigned long long)(o->seed + (uint64_t)s));
        for (mth = 0; mth < PT_METHODS; mth++) {
            int j = s * PT_METHODS + mth;
            if (!pl->done[j] || pl->jobs[j].run.epochs == 0) continue;
            ex_table_set(t, s, 1, "%d", pl->res[j].flipped);
            ex_table_set(t, s, 2 + 3 * mth, "%.3f", te[mth][s]);
            ex_table_set(t, s, 3 + 3 * mth, "%.3f", tr[mth][s]);
            ex_table_set(t, s, 4 + 3 * mth, "%.3f", gm[mth][s]);
        }
    }
    ex_table_print(t, "Per seed (flipped = training labels flipped by the label noise):");
    free(t);

    /* Figures. */
    {
        const char *names[PT_METHODS];
        const double *vals[PT_METHODS];
        int counts[PT_METHODS], ng = 0;
        for (mth = 0; mth < PT_METHODS; mth++) {
            if (!have[mth]) continue;
            names[ng] = pt_method_name[mth];
            vals[ng] = te[mth];
            counts[ng++] = K;
        }
        ex_path(o, path, sizeof path, "headline_test_error", "svg", 1);
        ex_svg_boxes(path, "Test error per seed (Chen et al. setting)", "test error", ng, names, vals, counts,
                     c->noise, "Bayes risk p");
        printf("figure: %s\n", path);
        ng = 0;
        for (mth = 0; mth < PT_METHODS; mth++)
            if (have[mth]) vals[ng++] = gm[mth];
        ex_path(o, path, sizeof path, "headline_max_gamma", "svg", 1);
        ex_svg_boxes(path, "Signal learnt: max γ at the end of training", "max γ", ng, names, vals, counts, NAN,
                     NULL);
        printf("figure: %s\n", path);
    }
    {
        int E = c->early_epochs > c->epochs ? c->early_epochs : c->epochs, e, q;
        double *x = (double *)ex_xmalloc(sizeof(double) * (size_t)E);
        double *buf = (double *)ex_xmalloc(sizeof(double) * (size_t)E * 3 * PT_METHODS);
        ex_plot p;
        for (e = 0; e < E; e++) x[e] = e + 1;
        for (q = 0; q < 2; q++) {
            ex_plot_init(&p, q ? "Training loss (mean over seeds; band: min–max)"
                               : "Signal coefficient max γ (mean over seeds; band: min–max)",
                         "epoch", q ? "mean batch loss in the epoch" : "max γ");
            p.logy = q;
            for (mth = 0; mth < PT_METHODS; mth++) {
                double *mean = buf + (size_t)E * (3 * mth), *lo = mean + E, *hi = lo + E;
                ex_series *sr;
                if (!have[mth]) continue;
                pt_curve_stats(pl, K, mth, q, E, mean, lo, hi);
                sr = ex_plot_add(&p, pt_method_name[mth], E, x, mean);
                sr->lo = lo;
                sr->hi = hi;
                sr->dashed = mth == PT_SAM;
            }
            ex_path(o, path, sizeof path, q ? "headline_train_loss" : "headline_gamma_curve", "svg", 1);
            ex_svg_lines(path, &p);
            printf("figure: %s\n", path);
        }
        free(x);
        free(buf);
    }

    printf("\nClaims (Chen et al. 2023, headline):\n");
    if (!complete) {
        ex_claim_skip(cl, "headline claims need every seed; this process ran shard %d/%d (merge the CSVs)",
                      o->shard_k, o->shard_n);
        return;
    }
    ok = ex_mean(te[PT_SGD], K) >= 0.25 && ex_max(tr[PT_SGD], K) == 0;
    ex_claim(cl, ok, "SGD overfits harmfully: mean test error %.3f >= 0.25, train error 0 in every seed (max %.3f)",
             ex_mean(te[PT_SGD], K), ex_max(tr[PT_SGD], K));
    ok = ex_max(tr[PT_EARLY], K) == 0 && ex_median(te[PT_EARLY], K) <= 0.16;
    ex_claim(cl, ok, "SAM-early overfits benignly: train error 0 in every seed (max %.3f), median test error "
             "%.3f <= 0.16", ex_max(tr[PT_EARLY], K), ex_median(te[PT_EARLY], K));
    ok = ex_mean(te[PT_SGD], K) - ex_mean(te[PT_EARLY], K) >= 0.15;
    ex_claim(cl, ok, "SAM-early beats SGD: mean SGD − mean SAM-early = %.3f >= 0.15",
             ex_mean(te[PT_SGD], K) - ex_mean(te[PT_EARLY], K));
    ok = 1;
    for (s = 0; s < K; s++) {
        if (!(gm[PT_EARLY][s] > gm[PT_SGD][s])) ok = 0;
        if (gm[PT_SGD][s] > 0 && gm[PT_EARLY][s] / gm[PT_SGD][s] < ratio) ratio = gm[PT_EARLY][s] / gm[PT_SGD][s];
    }
    ex_claim(cl, ok, "SAM-early learns more signal: max γ above SGD's in every seed (smallest ratio %.2f)", ratio);
    if (c->with_sam)
        printf("info  plain SAM for %d epochs: mean test error %.3f, median %.3f, mean train error %.3f "
               "(reported, not asserted: it can memorise flipped labels late, PAPERS.md §1)\n", c->epochs,
               ex_mean(te[PT_SAM], K), ex_median(te[PT_SAM], K), ex_mean(tr[PT_SAM], K));
}

/* Index helpers for the grid: method slot 0 = SGD, 1 = SAM-early. */
static int pt_find(const double *v, int n, double x) {
    int i;
    for (i = 0; i < n; i++)
        if (v[i] == x) return i;
    return -1;
}

static void pt_grid_report(const pt_cfg *c, const ex_opts *o, const pt_plan *pl, ex_claims *cl) {
    int nd = c->n_grid_d, nm = c->n_grid_mu, S = c->grid_seeds, id, im, s, q, complete = 1, ok;
    size_t cells = (size_t)nd * nm;
    double *mean[2], *vals;
    char path[EX_PATH], xt[PT_MAX_GRID][32], yt[PT_MAX_GRID][32];
    const char *xtp[PT_MAX_GRID], *ytp[PT_MAX_GRID];
    ex_table *t;
    const char *head[2 + PT_MAX_GRID];
    mean[0] = (double *)ex_xcalloc(cells, sizeof(double));
    mean[1] = (double *)ex_xcalloc(cells, sizeof(double));
    vals = (double *)ex_xcalloc((size_t)S, sizeof(double));
    for (id = 0; id < nd; id++)
        for (im = 0; im < nm; im++)
            for (q = 0; q < 2; q++) {
                for (s = 0; s < S; s++) {
                    int j = pl->nhead + (((id * nm + im) * S + s) * 2 + q);
                    vals[s] = pl->done[j] ? pl->res[j].test_err : NAN;
                    if (!pl->done[j]) complete = 0;
                }
                mean[q][id * nm + im] = ex_mean(vals, S);
            }
    printf("\nGrid: mean test error over %d seeds per cell, SGD %d epochs / SAM-early %d SAM → %d "
           "(n=%d P=%d σp=%g p=%g B=%d η=%g τ=%g)\n", S, c->epochs, c->sam_epochs, c->grid_epochs, c->n, c->P,
           c->sigma_p, c->noise, c->batch, c->lr, c->rho);
    head[0] = "d \\ ‖μ‖";
    for (im = 0; im < nm; im++) {
        snprintf(xt[im], sizeof xt[im], "%g", c->grid_mu[im]);
        xtp[im] = xt[im];
        head[1 + im] = xtp[im];
    }
    t = ex_table_new(1 + nm, head);
    for (id = 0; id < nd; id++) {
        snprintf(yt[id], sizeof yt[id], "%g", c->grid_d[id]);
        ytp[id] = yt[id];
        ex_table_set(t, id, 0, "%g", c->grid_d[id]);
        for (im = 0; im < nm; im++)
            ex_table_set(t, id, 1 + im, "%.2f/%.2f", mean[0][id * nm + im], mean[1][id * nm + im]);
    }
    ex_table_print(t, "cells: SGD / SAM-early");
    free(t);
    {
        static const char *const pn[2] = {"SGD", "SAM-early"};
        const double *pv[2];
        pv[0] = mean[0];
        pv[1] = mean[1];
        ex_path(o, path, sizeof path, "grid_heatmap", "svg", 1);
        ex_svg_heatmaps(path, "Mean test error: SGD vs SAM-early (Chen et al.)", 2, pn, pv, nm, xtp, "signal ‖μ‖",
                        nd, ytp, "dimension d", 0.0, 0.5, "%.2f", "test error");
        printf("figure: %s\n", path);
    }
    {
        ex_plot p;
        double xs[PT_MAX_GRID], ys[2][PT_MAX_GRID][PT_MAX_GRID];
        char names[2][PT_MAX_GRID][48];
        ex_plot_init(&p, "Test error against signal strength (solid SGD, dashed SAM-early)", "‖μ‖",
                     "mean test error");
        for (im = 0; im < nm; im++) xs[im] = c->grid_mu[im];
        for (q = 0; q < 2 && 2 * nd <= EX_SVG_MAX_SERIES; q++)
            for (id = 0; id < nd; id++) {
                ex_series *sr;
                for (im = 0; im < nm; im++) ys[q][id][im] = mean[q][id * nm + im];
                snprintf(names[q][id], sizeof names[q][id], "%s d=%g", q ? "SAM-early" : "SGD", c->grid_d[id]);
                sr = ex_plot_add(&p, names[q][id], nm, xs, ys[q][id]);
                sr->dashed = q;
                sr->markers = 1;
                sr->color = id + 1; /* one colour per d for both methods */
            }
        p.hline = c->noise;
        p.hline_label = "Bayes risk p";
        p.ymin = 0;
        ex_path(o, path, sizeof path, "grid_lines", "svg", 1);
        ex_svg_lines(path, &p);
        printf("figure: %s\n", path);
    }

    printf("\nClaims (Chen et al. 2023, grid, on cell means):\n");
    if (!complete) {
        ex_claim_skip(cl, "grid claims need every cell; this process ran shard %d/%d (merge the CSVs)", o->shard_k,
                      o->shard_n);
    } else {
        int i2 = pt_find(c->grid_mu, nm, 2.0), dlo = 0, dhi = 0, mlo = 0, mhi = 0;
        for (id = 1; id < nd; id++) {
            if (c->grid_d[id] < c->grid_d[dlo]) dlo = id;
            if (c->grid_d[id] > c->grid_d[dhi]) dhi = id;
        }
        for (im = 1; im < nm; im++) {
            if (c->grid_mu[im] < c->grid_mu[mlo]) mlo = im;
            if (c->grid_mu[im] > c->grid_mu[mhi]) mhi = im;
        }
        if (i2 < 0 || nd < 2) {
            ex_claim_skip(cl, "the ‖μ‖ = 2 claim needs ‖μ‖ = 2 and two d values in the grid");
        } else {
            double worst = HUGE_VAL;
            ok = mean[0][dhi * nm + i2] >= mean[0][dlo * nm + i2] + 0.10;
            for (id = 0; id < nd; id++) {
                double gap = mean[0][id * nm + i2] - mean[1][id * nm + i2];
                if (gap < worst) worst = gap;
            }
            ok = ok && worst >= 0.10;
            ex_claim(cl, ok, "at ‖μ‖=2 SGD degrades with d (%.3f at d=%g vs %.3f at d=%g, need +0.10) and "
                     "SAM-early <= SGD − 0.10 at every d (smallest gap %.3f)", mean[0][dhi * nm + i2],
                     c->grid_d[dhi], mean[0][dlo * nm + i2], c->grid_d[dlo], worst);
        }
        if (nm < 2) {
            ex_claim_skip(cl, "the signal-strength claim needs two ‖μ‖ values");
        } else {
            double worst = HUGE_VAL;
            for (id = 0; id < nd; id++) {
                double gap = mean[0][id * nm + mlo] - mean[0][id * nm + mhi];
                if (gap < worst) worst = gap;
            }
            ex_claim(cl, worst >= 0.2, "at every d SGD needs signal: error at ‖μ‖=%g >= error at ‖μ‖=%g + 0.2 "
                     "(smallest gap %.3f)", c->grid_mu[mlo], c->grid_mu[mhi], worst);
        }
        {
            double worst = -HUGE_VAL, worst_hi = -HUGE_VAL;
            int any = 0;
            for (id = 0; id < nd; id++)
                for (im = 0; im < nm; im++) {
                    double diff = mean[1][id * nm + im] - mean[0][id * nm + im];
                    if (diff > worst) worst = diff;
                    if (c->grid_mu[im] >= 3) {
                        any = 1;
                        if (mean[1][id * nm + im] > worst_hi) worst_hi = mean[1][id * nm + im];
                    }
                }
            ex_claim(cl, worst <= 0.03, "SAM-early is never worse: SAM-early <= SGD + 0.03 in every cell "
                     "(largest excess %.3f)", worst);
            if (any)
                ex_claim(cl, worst_hi <= 0.16, "SAM-early generalises once ‖μ‖ >= 3, whatever d: error <= 0.16 "
                         "in every such cell (worst %.3f)", worst_hi);
            else
                ex_claim_skip(cl, "no cell with ‖μ‖ >= 3 in the grid");
        }
    }
    free(mean[0]);
    free(mean[1]);
    free(vals);
}

/* --grid-csv: fill the grid runs from a CSV this program wrote (for
 * instance shards merged as --help shows). Every row must be a grid run the
 * current flags plan (same method, d, ‖μ‖, seed, epochs); else a usage error. */
static void pt_load_grid(const pt_cfg *c, const char *path, pt_plan *pl, int njobs) {
    FILE *f = fopen(path, "r");
    char line[1024];
    int lineno = 0, loaded = 0, j;
    if (!f) ex_usage_error("--grid-csv", "cannot open '%s': %s", path, strerror(errno));
    if (!fgets(line, sizeof line, f) || strncmp(line, pt_csv_header, strlen(pt_csv_header)) != 0)
        ex_usage_error("--grid-csv", "'%s' does not start with the grid.csv header", path);
    while (fgets(line, sizeof line, f)) {
        char *field[32], *p = line;
        int nf = 0, run;
        const pt_run *r;
        pt_result *x;
        lineno++;
        if (line[0] == '\n' || line[0] == 0) continue;
        while (nf < 32) {
            field[nf++] = p;
            p = strchr(p, ',');
            if (!p) break;
            *p++ = 0;
        }
        if (nf != 23) ex_usage_error("--grid-csv", "row %d has %d fields, want 23", lineno, nf);
        /* match by content (the run index depends on --headline) */
        for (run = pl->nhead; run < njobs; run++) {
            r = &pl->jobs[run].run;
            if (strcmp(field[1], pt_method_name[r->method]) == 0 && atoi(field[2]) == r->d &&
                strtod(field[3], NULL) == r->mu && strtoull(field[15], NULL, 10) == r->seed)
                break;
        }
        if (run >= njobs)
            ex_usage_error("--grid-csv", "row %d (%s d=%s mu=%s seed=%s) is not a run of the grid flags", lineno,
                           field[1], field[2], field[3], field[15]);
        r = &pl->jobs[run].run;
        if (atoi(field[13]) != r->epochs || atoi(field[14]) != r->sam_epochs || atoi(field[4]) != c->n ||
            strtod(field[7], NULL) != c->noise)
            ex_usage_error("--grid-csv", "row %d: epochs, sam_epochs, n or noise differ from the flags", lineno);
        x = &pl->res[run];
        x->flipped = atoi(field[16]);
        x->train_err = strtod(field[17], NULL);
        x->test_err = strtod(field[18], NULL);
        x->train_loss = strtod(field[19], NULL);
        x->test_loss = strtod(field[20], NULL);
        x->max_gamma = strtod(field[21], NULL);
        x->seconds = strtod(field[22], NULL);
        if (!pl->done[run]) loaded++;
        pl->done[run] = 1;
    }
    fclose(f);
    for (j = pl->nhead; j < njobs; j++)
        if (!pl->done[j]) break;
    printf("grid: %d runs loaded from %s%s\n", loaded, path, j < njobs ? " (some runs missing)" : "");
}

int main(int argc, char **argv) {
    pt_cfg c;
    ex_opts o;
    ex_cli cli;
    ex_claims cl;
    pt_plan pl;
    pt_job *jobs;
    double *cost;
    int njobs = 0, s, mth, id, im, q, j;
    static const double dd[] = {500, 1000, 2000, 4000}, dm[] = {1, 2, 3, 4, 6};
    double t0 = ex_now();

    memset(&c, 0, sizeof c);
    c.d = 2000; c.mu = 2; c.n = 20; c.n_test = 1000; c.P = 2; c.sigma_p = 1; c.noise = 0.1;
    c.batch = 5; c.lr = 0.1; c.rho = 0.3; c.m = 0; c.width = 10; c.sigma0 = 0.01;
    c.epochs = 200; c.sam_epochs = 50; c.early_epochs = 400; c.grid_epochs = 200; c.grid_seeds = 8;
    c.headline = 1; c.grid = 1; c.with_sam = 1;
    c.n_grid_d = 4; memcpy(c.grid_d, dd, sizeof dd);
    c.n_grid_mu = 5; memcpy(c.grid_mu, dm, sizeof dm);
    memset(&o, 0, sizeof o);
    memset(&cl, 0, sizeof cl);
    o.seeds = 6;
    o.out = "out/phase_transition";

    ex_cli_init(&cli, "phase_transition",
                "Chen et al. 2023: SGD overfits harmfully unless n‖μ‖⁴ ≳ d P⁴ σp⁴, SAM(-early) overfits benignly\n"
                "at ‖μ‖ = Ω̃(1) whatever d. Headline run (SGD, SAM, SAM-early at d=2000, ‖μ‖=2) and a d × ‖μ‖ grid\n"
                "of SGD vs SAM-early, a two-layer ReLU patch CNN trained on signal/noise patch data.",
                &o);
    ex_flag_int(&cli, "d", &c.d, "[1,1000000]", "patch dimension d of the headline run");
    ex_flag_double(&cli, "mu", &c.mu, "(0,1e6]", "signal strength ‖μ‖ of the headline run");
    ex_flag_int(&cli, "n", &c.n, "[1,100000]", "training samples");
    ex_flag_int(&cli, "n-test", &c.n_test, "[1,10000000]", "test samples (fresh, same generator)");
    ex_flag_int(&cli, "P", &c.P, "[2,1024]", "patches per sample (one signal patch, P-1 noise patches)");
    ex_flag_double(&cli, "sigma-p", &c.sigma_p, "(0,1e6]", "noise standard deviation σp");
    ex_flag_double(&cli, "noise", &c.noise, "[0,0.5)", "label-flip probability p (train and test; Bayes risk p)");
    ex_flag_switch(&cli, "indep-noise", &c.indep_noise, "independent ξ per noise patch (default: the same ξ)");
    ex_flag_int(&cli, "batch", &c.batch, "[1,100000]", "mini-batch size B (epochs of reshuffled disjoint batches)");
    ex_flag_double(&cli, "lr", &c.lr, "(0,100]", "learning rate η");
    ex_flag_double(&cli, "rho", &c.rho, "[0,100]", "SAM radius τ (global gradient norm per batch)");
    ex_flag_int(&cli, "m", &c.m, "[0,100000]", "samples per SAM perturbation (m-sharpness); 0 = the whole batch");
    ex_flag_int(&cli, "width", &c.width, "[1,100000]", "filters per class (the paper's m)");
    ex_flag_double(&cli, "sigma0", &c.sigma0, "(0,100]", "initialisation standard deviation σ0");
    ex_flag_int(&cli, "epochs", &c.epochs, "[1,1000000]", "epochs of SGD and of SAM");
    ex_flag_int(&cli, "sam-epochs", &c.sam_epochs, "[1,1000000]", "SAM-early: epochs of SAM before switching to SGD");
    ex_flag_int(&cli, "early-epochs", &c.early_epochs, "[1,1000000]", "SAM-early: total epochs in the headline run");
    ex_flag_int(&cli, "grid-epochs", &c.grid_epochs, "[1,1000000]", "SAM-early: total epochs in the grid");
    ex_flag_int(&cli, "grid-seeds", &c.grid_seeds, "[1,100000]", "seeds per grid cell");
    ex_flag_list(&cli, "grid-d", c.grid_d, &c.n_grid_d, PT_MAX_GRID, "[1,1000000]", "grid values of d");
    ex_flag_list(&cli, "grid-mu", c.grid_mu, &c.n_grid_mu, PT_MAX_GRID, "(0,1e6]", "grid values of ‖μ‖");
    ex_flag_switch(&cli, "headline", &c.headline, "run the headline experiment");
    ex_flag_switch(&cli, "grid", &c.grid, "run the d × ‖μ‖ grid");
    ex_flag_switch(&cli, "sam", &c.with_sam, "include plain SAM in the headline run");
    ex_flag_string(&cli, "grid-csv", &c.grid_csv, "report on this grid.csv (e.g. merged from shards) instead of "
                   "running the grid; the grid flags must match it");
    cli.epilog = "Examples:\n  phase_transition                      headline + grid at the defaults (~10 s)\n"
                 "  phase_transition --no-grid --seeds 16  headline only, more seeds\n"
                 "  phase_transition --no-headline --shard 0/4 --out o   a quarter of the grid\n"
                 "  phase_transition --no-headline --grid-csv grid.csv   claims and figures of merged shards";
    ex_cli_parse(&cli, argc, argv);
    for (id = 0; id < c.n_grid_d; id++)
        if (c.grid_d[id] != floor(c.grid_d[id])) ex_usage_error("--grid-d", "%g is not an integer", c.grid_d[id]);
    if (c.sam_epochs > c.early_epochs) ex_usage_error("--sam-epochs", "must be <= --early-epochs (%d)", c.early_epochs);
    if (c.grid && c.sam_epochs > c.grid_epochs) ex_usage_error("--sam-epochs", "must be <= --grid-epochs (%d)", c.grid_epochs);
    if (c.batch > c.n) ex_usage_error("--batch", "must be <= --n (%d)", c.n);
    if (c.m > c.batch) ex_usage_error("--m", "must be <= --batch (%d)", c.batch);
    if (!c.headline && !c.grid) ex_usage_error("--no-grid", "nothing to run (both --no-headline and --no-grid)");

    /* The plan: headline runs (seed-major, methods inside), then grid runs
     * (d, ‖μ‖, seed, {SGD, SAM-early}). */
    jobs = (pt_job *)ex_xcalloc((size_t)(o.seeds * PT_METHODS + c.n_grid_d * c.n_grid_mu * c.grid_seeds * 2 + 1),
                                sizeof(pt_job));
    pl.nhead = 0;
    if (c.headline) {
        for (s = 0; s < o.seeds; s++)
            for (mth = 0; mth < PT_METHODS; mth++) {
                pt_job *jb = &jobs[njobs++];
                jb->run.method = mth;
                jb->run.d = c.d;
                jb->run.mu = c.mu;
                jb->run.seed = o.seed + (uint64_t)s;
                jb->run.epochs = mth == PT_EARLY ? c.early_epochs : c.epochs;
                jb->run.sam_epochs = mth == PT_SAM ? jb->run.epochs : mth == PT_EARLY ? c.sam_epochs : 0;
                jb->run.curves = 1;
                jb->grid = 0;
            }
        pl.nhead = njobs;
    }
    if (c.grid)
        for (id = 0; id < c.n_grid_d; id++)
            for (im = 0; im < c.n_grid_mu; im++)
                for (s = 0; s < c.grid_seeds; s++)
                    for (q = 0; q < 2; q++) {
                        pt_job *jb = &jobs[njobs++];
                        jb->run.method = q ? PT_EARLY : PT_SGD;
                        jb->run.d = (int)c.grid_d[id];
                        jb->run.mu = c.grid_mu[im];
                        jb->run.seed = o.seed + (uint64_t)s;
                        jb->run.epochs = q ? c.grid_epochs : c.epochs;
                        jb->run.sam_epochs = q ? c.sam_epochs : 0;
                        jb->run.curves = 0;
                        jb->grid = 1;
                        jb->cell = id * c.n_grid_mu + im;
                    }
    pl.cfg = &c;
    pl.jobs = jobs;
    pl.njobs = njobs;
    pl.res = (pt_result *)ex_xcalloc((size_t)njobs, sizeof(pt_result));
    pl.done = (unsigned char *)ex_xcalloc((size_t)njobs, 1);
    /* --no-sam: plain SAM runs keep their slot (the run index of the others
     * does not change) but are not trained. */
    if (!c.with_sam)
        for (j = 0; j < pl.nhead; j++)
            if (jobs[j].run.method == PT_SAM) jobs[j].run.epochs = 0;
    /* Tasks: the PT_METHODS runs of a headline seed, the two runs of a grid
     * cell and seed. Cost ~ d × epochs (SAM epochs twice), plus the data. */
    pl.runs = (pt_run *)ex_xcalloc((size_t)njobs, sizeof(pt_run));
    pl.tasks = (pt_task *)ex_xcalloc((size_t)njobs, sizeof(pt_task));
    cost = (double *)ex_xcalloc((size_t)njobs, sizeof(double));
    pl.ntasks = 0;
    if (c.grid && c.grid_csv) pt_load_grid(&c, c.grid_csv, &pl, njobs);
    for (j = 0; j < njobs; j += (j < pl.nhead ? PT_METHODS : 2)) {
        if (j >= pl.nhead && c.grid_csv) break; /* loaded, not run */
        pt_task *tk = &pl.tasks[pl.ntasks];
        int k;
        tk->first = j;
        tk->count = j < pl.nhead ? PT_METHODS : 2;
        cost[pl.ntasks] = 0;
        for (k = 0; k < tk->count; k++) {
            const pt_run *r = &jobs[j + k].run;
            pl.runs[j + k] = *r;
            cost[pl.ntasks] += (double)r->d * (r->epochs + r->sam_epochs + 20);
        }
        pl.ntasks++;
    }
    {
        unsigned char *tdone = (unsigned char *)ex_xcalloc((size_t)pl.ntasks, 1);
        int t, k;
        ex_run(&o, c.headline && c.grid ? "phase_transition headline+grid"
                   : c.headline ? "phase_transition headline" : "phase_transition grid",
               pl.ntasks, pt_task_fn, &pl, NULL, 0, tdone, cost);
        for (t = 0; t < pl.ntasks; t++)
            for (k = 0; k < pl.tasks[t].count; k++) pl.done[pl.tasks[t].first + k] |= tdone[t];
        free(tdone);
    }

    /* CSV, in run order. */
    {
        char path[EX_PATH];
        FILE *f;
        if (c.headline) {
            f = ex_csv_open(&o, "headline", pt_csv_header, path, sizeof path);
            for (j = 0; j < pl.nhead; j++)
                if (pl.done[j] && jobs[j].run.epochs > 0) pt_csv_row(f, j, &c, &jobs[j].run, &pl.res[j]);
            ex_csv_close(f, path);
            printf("csv: %s\n", path);
        }
        if (c.grid) {
            f = ex_csv_open(&o, "grid", pt_csv_header, path, sizeof path);
            for (j = pl.nhead; j < njobs; j++)
                if (pl.done[j]) pt_csv_row(f, j, &c, &jobs[j].run, &pl.res[j]);
            ex_csv_close(f, path);
            printf("csv: %s\n", path);
        }
    }
    if (c.headline) pt_headline_report(&c, &o, &pl, &cl);
    if (c.grid) pt_grid_report(&c, &o, &pl, &cl);
    printf("\nfigures and CSV in %s/ (%.1f s)\n", o.out, ex_now() - t0);
    for (j = 0; j < njobs; j++) {
        free(pl.res[j].curve_gamma);
        free(pl.res[j].curve_loss);
    }
    free(pl.res);
    free(pl.done);
    free(pl.runs);
    free(pl.tasks);
    free(jobs);
    free(cost);
    return ex_claims_exit(&cl);
}
