/* noise_memorization — the mechanism behind Chen et al. 2023 (arXiv
 * 2310.07269): SAM stops the early memorisation of noise. Under SGD, the
 * own-class filters w_{y_i,r} align with the noise ξ_i of the training
 * samples (ρ̄ grows, noise neurons fire); SAM takes its gradient at W + ε,
 * where those noise neurons are switched off, so it learns the signal (γ)
 * instead.
 *
 * Per epoch, for SGD and SAM on the same data, init and batches (8 seeds):
 *   max γ              signal learnt: max_{j,r} j⟨w_{j,r} − w⁽⁰⁾_{j,r}, μ⟩
 *   mean ρ̄, max ρ̄      noise memorised: own-class coefficients ρ_{y_i,r,i} > 0
 *                      from the exact n×n solve (sam_chen_tracker)
 *   active at grad     fraction of own-class noise neurons ⟨w_{y_i,r}, ξ_i⟩ > 0
 *                      at the point where each step takes its gradient
 *                      (W + ε under SAM, W under SGD), over the step's samples
 *   active at W        the same fraction at W over all training samples
 * PASS over epochs 1..--claim-epochs (seed means): active at grad under SAM
 * <= 0.25 × SGD's; mean ρ̄ under SAM <= 0.25 × SGD's; max γ under SAM > SGD's
 * from epoch 2 on. Max ρ̄ and the active fraction at W are plotted but are not
 * evidence: they do not separate the methods (PAPERS.md §1).
 */
#include "common.h"
#define SAM_IMPLEMENTATION
#include "../sam.h"
#include "chen.h"

enum { NM_SGD, NM_SAM, NM_METHODS };
static const char *const nm_method_name[NM_METHODS] = {"SGD", "SAM"};

/* Per-epoch metrics, in the column order of curves.csv. */
enum { NM_GAMMA, NM_MEAN_RHO, NM_MAX_RHO, NM_MIN_RHO, NM_ACT_W, NM_ACT_GRAD, NM_LOSS, NM_METRICS };

typedef struct nm_cfg {
    int d, n, n_test, P, width, batch, m, epochs, claim_epochs, indep_noise;
    double mu, sigma_p, noise, lr, rho, sigma0;
} nm_cfg;

typedef struct nm_result {
    double *curve[NM_METRICS]; /* epochs+1 values each */
    double train_err, test_err, seconds;
    int flipped;
} nm_result;

typedef struct nm_plan {
    const nm_cfg *cfg;
    const ex_opts *opt;
} nm_plan;

/* Own-class noise neurons active at the gradient point, summed over steps. */
typedef struct nm_count {
    double active, total;
} nm_count;

static void nm_hook(void *user, const ex_chen_run *r, const float *point, const size_t *idx, size_t nb) {
    nm_count *cnt = (nm_count *)user;
    const sam_dataset *ds = &r->train;
    size_t d = r->cfg.d, m = r->cfg.width, b, j, q, k;
    for (b = 0; b < nb; b++) {
        size_t i = idx[b];
        size_t first = ds->y[i] > 0 ? 0 : m; /* rows of class y_i */
        for (q = 0; q < ds->noise_count; q++) {
            const float *xi = ds->noise + (i * ds->noise_count + q) * d;
            for (j = first; j < first + m; j++) {
                const float *wr = point + j * d;
                double z = 0;
                for (k = 0; k < d; k++) z += (double)wr[k] * xi[k];
                cnt->active += z > 0;
                cnt->total += 1;
            }
        }
    }
}

static int nm_job(void *user, int job, void *result, char *err, size_t errlen) {
    const nm_plan *pl = (const nm_plan *)user;
    const nm_cfg *c = pl->cfg;
    nm_result *res = (nm_result *)result;
    int method = job % NM_METHODS, e, q;
    uint64_t seed = pl->opt->seed + (uint64_t)(job / NM_METHODS);
    ex_chen_cfg cc;
    ex_chen_run r;
    sam_opt_config oc;
    sam_chen_tracker tr;
    sam_chen_coef coef;
    int have_tr = 0;
    double t0 = ex_now();
    memset(&cc, 0, sizeof cc);
    cc.n = (size_t)c->n;
    cc.n_test = (size_t)c->n_test;
    cc.d = (size_t)c->d;
    cc.P = (size_t)c->P;
    cc.width = (size_t)c->width;
    cc.batch = (size_t)c->batch;
    cc.mu = c->mu;
    cc.sigma_p = c->sigma_p;
    cc.noise = c->noise;
    cc.sigma0 = c->sigma0;
    cc.lr = c->lr;
    cc.indep_noise = c->indep_noise;
    for (q = 0; q < NM_METRICS; q++) res->curve[q] = (double *)ex_xcalloc((size_t)c->epochs + 1, sizeof(double));
    if (ex_chen_setup(&r, &cc, seed, err, errlen)) goto fail;
    ex_chen_opt_config(&r, seed, &oc);
    if (method == NM_SAM) {
        oc.method = SAM_METHOD_SAM;
        oc.rho = c->rho;
        oc.samples_per_perturbation = (size_t)c->m;
    }
    if (ex_chen_opt_init(&r, &oc, err, errlen)) goto fail;
    if (sam_chen_tracker_init(&r.ctx, &tr, &r.train, cc.width, r.w0) != SAM_OK) {
        snprintf(err, errlen, "%s", sam_ctx_message(&r.ctx));
        goto fail;
    }
    have_tr = 1;
    res->flipped = r.flipped;
    for (e = 0; e <= c->epochs; e++) {
        nm_count cnt;
        double loss = NAN;
        cnt.active = cnt.total = 0;
        if (e > 0 && ex_chen_epoch_split(&r, &loss, nm_hook, &cnt, err, errlen)) goto fail;
        if (sam_chen_tracker_eval(&r.ctx, &tr, r.w, &coef, NULL, NULL) != SAM_OK) {
            snprintf(err, errlen, "%s", sam_ctx_message(&r.ctx));
            goto fail;
        }
        res->curve[NM_GAMMA][e] = coef.max_gamma;
        res->curve[NM_MEAN_RHO][e] = coef.mean_rho_pos;
        res->curve[NM_MAX_RHO][e] = coef.max_rho_pos;
        res->curve[NM_MIN_RHO][e] = coef.min_rho_neg;
        res->curve[NM_ACT_W][e] = coef.active_frac;
        res->curve[NM_ACT_GRAD][e] = cnt.total > 0 ? cnt.active / cnt.total : NAN;
        res->curve[NM_LOSS][e] = loss;
    }
    if (ex_chen_eval(&r, 0, &res->train_err, NULL, err, errlen)) goto fail;
    if (ex_chen_eval(&r, 1, &res->test_err, NULL, err, errlen)) goto fail;
    res->seconds = ex_now() - t0;
    sam_chen_tracker_free(&tr);
    ex_chen_free(&r);
    return 0;
fail:
    if (have_tr) sam_chen_tracker_free(&tr);
    ex_chen_free(&r);
    return 1;
}

int main(int argc, char **argv) {
    nm_cfg c;
    ex_opts o;
    ex_cli cli;
    ex_claims cl;
    nm_plan pl;
    nm_result *res;
    unsigned char *done;
    int njobs, j, e, q, mth, s, K, E, complete = 1;
    char path[EX_PATH];
    double t0 = ex_now();

    memset(&c, 0, sizeof c);
    c.d = 2000; c.mu = 2; c.n = 20; c.n_test = 1000; c.P = 2; c.sigma_p = 1; c.noise = 0.1;
    c.batch = 5; c.lr = 0.1; c.rho = 0.3; c.m = 0; c.width = 10; c.sigma0 = 0.01;
    c.epochs = 20; c.claim_epochs = 10;
    memset(&o, 0, sizeof o);
    memset(&cl, 0, sizeof cl);
    o.seeds = 8;
    o.out = "out/noise_memorization";
    ex_cli_init(&cli, "noise_memorization",
                "Chen et al. 2023's mechanism: SAM keeps noise neurons inactive at the point where it takes its\n"
                "gradient (W + ε), so it memorises less noise (ρ̄) and learns more signal (γ) than SGD early on.\n"
                "Per-epoch curves for SGD and SAM on the same data, init and batches.",
                &o);
    ex_flag_int(&cli, "d", &c.d, "[1,1000000]", "patch dimension d");
    ex_flag_double(&cli, "mu", &c.mu, "(0,1e6]", "signal strength ‖μ‖");
    ex_flag_int(&cli, "n", &c.n, "[1,100000]", "training samples (n·noise vectors must stay < d)");
    ex_flag_int(&cli, "n-test", &c.n_test, "[1,10000000]", "test samples (final test error)");
    ex_flag_int(&cli, "P", &c.P, "[2,1024]", "patches per sample");
    ex_flag_double(&cli, "sigma-p", &c.sigma_p, "(0,1e6]", "noise standard deviation σp");
    ex_flag_double(&cli, "noise", &c.noise, "[0,0.5)", "label-flip probability p");
    ex_flag_switch(&cli, "indep-noise", &c.indep_noise, "independent ξ per noise patch");
    ex_flag_int(&cli, "batch", &c.batch, "[1,100000]", "mini-batch size B");
    ex_flag_double(&cli, "lr", &c.lr, "(0,100]", "learning rate η");
    ex_flag_double(&cli, "rho", &c.rho, "[0,100]", "SAM radius τ");
    ex_flag_int(&cli, "m", &c.m, "[0,100000]", "samples per SAM perturbation; 0 = the whole batch");
    ex_flag_int(&cli, "width", &c.width, "[1,100000]", "filters per class");
    ex_flag_double(&cli, "sigma0", &c.sigma0, "(0,100]", "initialisation standard deviation σ0");
    ex_flag_int(&cli, "epochs", &c.epochs, "[1,1000000]", "epochs");
    ex_flag_int(&cli, "claim-epochs", &c.claim_epochs, "[2,1000000]", "the claims hold over epochs 1..this");
    ex_cli_parse(&cli, argc, argv);
    if (c.batch > c.n) ex_usage_error("--batch", "must be <= --n (%d)", c.n);
    if (c.m > c.batch) ex_usage_error("--m", "must be <= --batch (%d)", c.batch);
    if ((double)c.n * (c.indep_noise ? c.P - 1 : 1) >= c.d)
        ex_usage_error("--n", "the noise vectors (%d) must be fewer than d (%d) for the coefficient solve",
                       c.n * (c.indep_noise ? c.P - 1 : 1), c.d);

    K = o.seeds;
    E = c.epochs;
    njobs = K * NM_METHODS;
    pl.cfg = &c;
    pl.opt = &o;
    res = (nm_result *)ex_xcalloc((size_t)njobs, sizeof(nm_result));
    done = (unsigned char *)ex_xcalloc((size_t)njobs, 1);
    ex_run(&o, "noise_memorization", njobs, nm_job, &pl, res, sizeof(nm_result), done, NULL);

    {
        FILE *f = ex_csv_open(&o, "curves",
                              "run,method,seed,epoch,max_gamma,mean_rho_pos,max_rho_pos,min_rho_neg,active_at_w,"
                              "active_at_grad,train_loss", path, sizeof path);
        for (j = 0; j < njobs; j++) {
            if (!done[j]) continue;
            for (e = 0; e <= E; e++) {
                fprintf(f, "%d,%s,%llu,%d", j, nm_method_name[j % NM_METHODS],
                        (unsigned long long)(o.seed + (uint64_t)(j / NM_METHODS)), e);
                for (q = 0; q < NM_METRICS; q++) fprintf(f, ",%.6g", res[j].curve[q][e]);
                fprintf(f, "\n");
            }
        }
        ex_csv_close(f, path);
        printf("csv: %s\n", path);
        f = ex_csv_open(&o, "runs", "run,method,seed,epochs,flipped,train_err,test_err,max_gamma,seconds", path,
                        sizeof path);
        for (j = 0; j < njobs; j++)
            if (done[j])
                fprintf(f, "%d,%s,%llu,%d,%d,%.6f,%.6f,%.6g,%.3f\n", j, nm_method_name[j % NM_METHODS],
                        (unsigned long long)(o.seed + (uint64_t)(j / NM_METHODS)), E, res[j].flipped,
                        res[j].train_err, res[j].test_err, res[j].curve[NM_GAMMA][E], res[j].seconds);
        ex_csv_close(f, path);
        printf("csv: %s\n", path);
    }
    for (j = 0; j < njobs; j++)
        if (!done[j]) complete = 0;

    /* Seed means per epoch. */
    {
        double *mean[NM_METRICS][NM_METHODS], *lo[NM_METRICS][NM_METHODS], *hi[NM_METRICS][NM_METHODS];
        double *col = (double *)ex_xcalloc((size_t)K, sizeof(double)), *x;
        static const char *const head[] = {"epoch", "max γ SGD", "SAM", "mean ρ̄ SGD", "SAM", "max ρ̄ SGD", "SAM",
                                           "active@grad SGD", "SAM", "active@W SGD", "SAM"};
        static const int shown[5] = {NM_GAMMA, NM_MEAN_RHO, NM_MAX_RHO, NM_ACT_GRAD, NM_ACT_W};
        static const char *const title[5] = {
            "Signal: max γ (mean over seeds; band min–max)",
            "Noise memorised: mean own-class ρ̄ (mean over seeds)",
            "max ρ̄ (plotted, not evidence: it does not separate SGD and SAM)",
            "Own-class noise neurons active at the gradient point (SAM: W + ε)",
            "Own-class noise neurons active at W (plotted, not evidence)"};
        static const char *const file[5] = {"max_gamma", "mean_rho", "max_rho", "active_at_grad", "active_at_w"};
        static const char *const ylab[5] = {"max γ", "mean ρ̄", "max ρ̄", "active fraction", "active fraction"};
        ex_table *t;
        int ok, ce = c.claim_epochs < E ? c.claim_epochs : E;
        double worst;
        x = (double *)ex_xcalloc((size_t)E + 1, sizeof(double));
        for (e = 0; e <= E; e++) x[e] = e;
        for (q = 0; q < NM_METRICS; q++)
            for (mth = 0; mth < NM_METHODS; mth++) {
                mean[q][mth] = (double *)ex_xcalloc((size_t)E + 1, sizeof(double));
                lo[q][mth] = (double *)ex_xcalloc((size_t)E + 1, sizeof(double));
                hi[q][mth] = (double *)ex_xcalloc((size_t)E + 1, sizeof(double));
                for (e = 0; e <= E; e++) {
                    for (s = 0; s < K; s++) {
                        j = s * NM_METHODS + mth;
                        col[s] = done[j] ? res[j].curve[q][e] : NAN;
                    }
                    mean[q][mth][e] = ex_mean(col, K);
                    lo[q][mth][e] = ex_min(col, K);
                    hi[q][mth][e] = ex_max(col, K);
                }
            }
        printf("\nChen et al. setting: d=%d ‖μ‖=%g n=%d P=%d σp=%g p=%g B=%d η=%g τ=%g, %d seeds (means)\n", c.d,
               c.mu, c.n, c.P, c.sigma_p, c.noise, c.batch, c.lr, c.rho, K);
        t = ex_table_new(11, head);
        for (e = 0; e <= E; e++) {
            ex_table_set(t, e, 0, "%d", e);
            for (q = 0; q < 5; q++)
                for (mth = 0; mth < NM_METHODS; mth++)
                    ex_table_set(t, e, 1 + 2 * q + mth, "%.3f", mean[shown[q]][mth][e]);
        }
        ex_table_print(t, NULL);
        free(t);
        for (mth = 0; mth < NM_METHODS; mth++) {
            double te[1024], tr[1024];
            for (s = 0; s < K && s < 1024; s++) {
                j = s * NM_METHODS + mth;
                te[s] = done[j] ? res[j].test_err : NAN;
                tr[s] = done[j] ? res[j].train_err : NAN;
            }
            printf("%s after %d epochs: mean test error %.3f, mean train error %.3f\n", nm_method_name[mth], E,
                   ex_mean(te, s), ex_mean(tr, s));
        }
        for (q = 0; q < 5; q++) {
            ex_plot p;
            ex_plot_init(&p, title[q], "epoch", ylab[q]);
            for (mth = 0; mth < NM_METHODS; mth++) {
                ex_series *sr = ex_plot_add(&p, nm_method_name[mth], E + 1, x, mean[shown[q]][mth]);
                sr->lo = lo[shown[q]][mth];
                sr->hi = hi[shown[q]][mth];
                sr->markers = E <= 40;
            }
            if (shown[q] == NM_ACT_GRAD || shown[q] == NM_ACT_W) { p.ymin = 0; p.ymax = 1; }
            ex_path(&o, path, sizeof path, file[q], "svg", 1);
            ex_svg_lines(path, &p);
            printf("figure: %s\n", path);
        }

        printf("\nClaims (Chen et al. 2023, mechanism; seed means over epochs 1..%d):\n", ce);
        if (!complete) {
            ex_claim_skip(&cl, "claims need every seed; this process ran shard %d/%d", o.shard_k, o.shard_n);
        } else {
            worst = 0;
            ok = 1;
            for (e = 1; e <= ce; e++) {
                double r = mean[NM_ACT_GRAD][NM_SAM][e] / mean[NM_ACT_GRAD][NM_SGD][e];
                if (!(mean[NM_ACT_GRAD][NM_SAM][e] <= 0.25 * mean[NM_ACT_GRAD][NM_SGD][e])) ok = 0;
                if (r > worst || r != r) worst = r;
            }
            ex_claim(&cl, ok, "SAM keeps noise neurons off where it takes its gradient: active fraction at W + ε "
                     "<= 0.25 × SGD's at W in every epoch (largest ratio %.3f; epoch 1: %.3f vs %.3f)", worst,
                     mean[NM_ACT_GRAD][NM_SAM][1], mean[NM_ACT_GRAD][NM_SGD][1]);
            worst = 0;
            ok = 1;
            for (e = 1; e <= ce; e++) {
                double r = mean[NM_MEAN_RHO][NM_SAM][e] / mean[NM_MEAN_RHO][NM_SGD][e];
                if (!(mean[NM_MEAN_RHO][NM_SAM][e] <= 0.25 * mean[NM_MEAN_RHO][NM_SGD][e])) ok = 0;
                if (r > worst || r != r) worst = r;
            }
            ex_claim(&cl, ok, "SAM memorises less noise: mean ρ̄ <= 0.25 × SGD's in every epoch (largest ratio "
                     "%.3f; epoch %d: %.3f vs %.3f)", worst, ce, mean[NM_MEAN_RHO][NM_SAM][ce],
                     mean[NM_MEAN_RHO][NM_SGD][ce]);
            worst = HUGE_VAL;
            ok = 1;
            for (e = 2; e <= ce; e++) {
                double gap = mean[NM_GAMMA][NM_SAM][e] - mean[NM_GAMMA][NM_SGD][e];
                if (!(gap > 0)) ok = 0;
                if (gap < worst || gap != gap) worst = gap;
            }
            ex_claim(&cl, ok, "SAM learns more signal: max γ above SGD's from epoch 2 on (smallest gap %.3f; "
                     "epoch %d: %.3f vs %.3f)", worst, ce, mean[NM_GAMMA][NM_SAM][ce], mean[NM_GAMMA][NM_SGD][ce]);
            printf("info  max ρ̄ and the active fraction at W are plotted, not asserted (PAPERS.md §1: they do "
                   "not separate SGD and SAM)\n");
        }
        for (q = 0; q < NM_METRICS; q++)
            for (mth = 0; mth < NM_METHODS; mth++) {
                free(mean[q][mth]);
                free(lo[q][mth]);
                free(hi[q][mth]);
            }
        free(col);
        free(x);
    }
    printf("\nfigures and CSV in %s/ (%.1f s)\n", o.out, ex_now() - t0);
    for (j = 0; j < njobs; j++)
        for (q = 0; q < NM_METRICS; q++) free(res[j].curve[q]);
    free(res);
    free(done);
    return ex_claims_exit(&cl);
}
