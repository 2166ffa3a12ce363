/* examples/chen.h — one training run in Chen et al.'s setting (PAPERS.md §1),
 * shared by phase_transition, noise_memorization and first_order_magic.
 * Include after sam.h.
 *
 * A run owns its context, data, model and buffers, so runs can go on
 * different threads. One seed drives independent streams: the training set
 * (SAM_STREAM_TRAIN_DATA), the test set (SAM_STREAM_TEST_DATA), the
 * initialisation (SAM_STREAM_INIT), the batch order (SAM_STREAM_SHUFFLE) and
 * random directions (SAM_STREAM_DIRECTIONS): every method run on one seed
 * sees the same data, init and batch order.
 */
#ifndef EX_CHEN_H
#define EX_CHEN_H

typedef struct ex_chen_cfg {
    size_t n, n_test, d, P, width, batch;
    double mu, sigma_p, noise, sigma0, lr;
    int indep_noise;
} ex_chen_cfg;

/* The Chen CNN: binary, ReLU, logistic loss; its sam_model view. */
EX_API sam_status ex_cnn_make(sam_ctx *ctx, size_t d, size_t P, size_t width, sam_cnn *net, sam_model *m) {
    sam_cnn_config cc;
    sam_status st;
    sam_cnn_config_default(&cc); /* binary, ReLU, logistic loss */
    cc.patches = P;
    cc.patch_dim = d;
    cc.width = width;
    cc.classes = 2;
    if ((st = sam_cnn_init(ctx, net, &cc)) != SAM_OK) return st;
    *m = net->model; /* its self points at net, which stays where it is */
    return SAM_OK;
}

/* Samples per forward pass in ex_chen_eval (the work memory is sized for it). */
#define EX_CHEN_EVAL_CHUNK 256

typedef struct ex_chen_run {
    sam_ctx ctx;
    ex_chen_cfg cfg;
    sam_dataset train, test;
    sam_cnn cnn;
    sam_model model;
    sam_opt opt;
    int have_opt;
    size_t D;
    float *w, *w0;
    size_t *perm;
    void *work;
    int flipped;
} ex_chen_run;

EX_API void ex_chen_free(ex_chen_run *r) {
    sam_dataset_free(&r->train);
    sam_dataset_free(&r->test);
    if (r->have_opt) sam_opt_free(&r->opt);
    free(r->w);
    free(r->w0);
    free(r->perm);
    free(r->work);
    sam_ctx_free(&r->ctx);
    memset(r, 0, sizeof *r);
}

#define EX_TRY(call)                                                                       \
    do {                                                                                   \
        if ((call) != SAM_OK) {                                                            \
            snprintf(err, errlen, "%s", sam_ctx_message(&r->ctx));                         \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

/* Data, model and initial weights for one seed; the optimizer comes next,
 * from ex_chen_opt_config + ex_chen_opt_init. Returns 0, or 1 with err. */
EX_API int ex_chen_setup(ex_chen_run *r, const ex_chen_cfg *c, uint64_t seed, char *err, size_t errlen) {
    sam_chen_config dc;
    sam_rng init;
    size_t i, wb;
    memset(r, 0, sizeof *r);
    r->cfg = *c;
    if (sam_ctx_init(&r->ctx, NULL) != SAM_OK) {
        snprintf(err, errlen, "sam_ctx_init failed");
        return 1;
    }
    sam_chen_config_default(&dc);
    dc.d = c->d;
    dc.patches = c->P;
    dc.mu_norm = c->mu;
    dc.sigma_p = c->sigma_p;
    dc.flip_p = c->noise;
    dc.independent_noise = c->indep_noise;
    EX_TRY(sam_data_chen(&r->ctx, &dc, c->n, seed, SAM_STREAM_TRAIN_DATA, &r->train));
    EX_TRY(sam_data_chen(&r->ctx, &dc, c->n_test, seed, SAM_STREAM_TEST_DATA, &r->test));
    EX_TRY(ex_cnn_make(&r->ctx, c->d, c->P, c->width, &r->cnn, &r->model));
    r->D = r->model.n_params;
    r->w = (float *)ex_xmalloc(sizeof(float) * r->D);
    r->w0 = (float *)ex_xmalloc(sizeof(float) * r->D);
    r->perm = (size_t *)ex_xmalloc(sizeof(size_t) * c->n);
    wb = sam_model_work_bytes(&r->model, c->n > EX_CHEN_EVAL_CHUNK ? c->n : EX_CHEN_EVAL_CHUNK);
    r->work = ex_xmalloc(wb);
    /* Chen et al.: every filter N(0, σ0²), second layer fixed. */
    sam_rng_seed(&init, seed, SAM_STREAM_INIT);
    EX_TRY(sam_cnn_init_params(&r->ctx, &r->cnn, &init, (float)c->sigma0, r->w));
    memcpy(r->w0, r->w, sizeof(float) * r->D);
    r->flipped = 0;
    for (i = 0; i < c->n; i++)
        if (r->train.y_clean && r->train.y[i] != r->train.y_clean[i]) r->flipped++;
    return 0;
}

/* Error and mean logistic loss of the current weights on the training or
 * test set, from one forward pass (sam_model_predict): a sample is wrong when
 * y·f <= 0 (as sam_model_error counts it), its loss is softplus(−y·f) in
 * double, the stable form the library's logistic loss uses. One pass instead
 * of sam_model_error + sam_model_loss_grad halves the cost of evaluating on
 * the 1000 test samples. */
EX_API int ex_chen_eval(ex_chen_run *r, int test, double *error, double *loss, char *err, size_t errlen) {
    const sam_dataset *ds = test ? &r->test : &r->train;
    size_t start, wrong = 0;
    double sum = 0;
    for (start = 0; start < ds->n; start += EX_CHEN_EVAL_CHUNK) {
        size_t i, cn = ds->n - start < EX_CHEN_EVAL_CHUNK ? ds->n - start : EX_CHEN_EVAL_CHUNK;
        size_t idx[EX_CHEN_EVAL_CHUNK];
        float out[EX_CHEN_EVAL_CHUNK];
        sam_batch b;
        for (i = 0; i < cn; i++) idx[i] = start + i;
        b.data = ds;
        b.idx = idx;
        b.n = cn;
        EX_TRY(sam_model_predict(&r->ctx, &r->model, r->w, &b, out, r->work));
        for (i = 0; i < cn; i++) {
            double m = (double)ds->y[start + i] * (double)out[i], t = -m;
            if (m <= 0.0) wrong++;
            sum += t > 0.0 ? t + log1p(exp(-t)) : log1p(exp(t));
        }
    }
    *error = (double)wrong / (double)ds->n;
    if (loss) *loss = sum / (double)ds->n;
    return 0;
}

/* max γ = max_{j,r} j⟨w_{j,r} − w⁽⁰⁾_{j,r}, μ⟩ (PAPERS.md §1): 2m dot products. */
EX_API double ex_chen_max_gamma(const ex_chen_run *r) {
    size_t j, k, d = r->cfg.d, m = r->cfg.width;
    const float *mu = r->train.signal;
    double best = -HUGE_VAL;
    for (j = 0; j < 2 * m; j++) {
        double s = 0;
        for (k = 0; k < d; k++) s += ((double)r->w[j * d + k] - r->w0[j * d + k]) * mu[k];
        if (j >= m) s = -s;
        if (s > best) best = s;
    }
    return best;
}

/* Back to the initial weights with no optimizer, so that the next method
 * of the same seed starts from the same point on the same data (the data
 * are generated once per seed and shared by the methods). */
EX_API void ex_chen_rewind(ex_chen_run *r) {
    if (r->have_opt) sam_opt_free(&r->opt);
    r->have_opt = 0;
    memcpy(r->w, r->w0, sizeof(float) * r->D);
}

/* An optimizer configuration for this run: plain SGD at the run's lr and
 * batch size, the seed's shuffle and direction streams (sam_opt seeds them
 * with SAM_STREAM_SHUFFLE / SAM_STREAM_DIRECTIONS). The caller then sets the
 * method (SAM, Rand-SAM), rho, N, m, sam_epochs. */
EX_API void ex_chen_opt_config(const ex_chen_run *r, uint64_t seed, sam_opt_config *oc) {
    sam_opt_config_default(oc);
    oc->base = SAM_BASE_SGD;
    oc->lr = r->cfg.lr;
    oc->method = SAM_METHOD_NONE;
    oc->batch_size = r->cfg.batch;
    oc->dataset_size = r->cfg.n;
    oc->last_batch = SAM_LAST_BATCH_DROP; /* disjoint batches of exactly B */
    oc->seed = seed;
}

EX_API int ex_chen_opt_init(ex_chen_run *r, const sam_opt_config *oc, char *err, size_t errlen) {
    EX_TRY(sam_opt_init(&r->ctx, &r->opt, oc, &r->model, NULL, 0));
    r->have_opt = 1;
    return 0;
}

/* One epoch of reshuffled disjoint batches (sam_opt_epoch). */
EX_API int ex_chen_epoch(ex_chen_run *r, double *mean_loss, char *err, size_t errlen) {
    EX_TRY(sam_opt_epoch(&r->ctx, &r->opt, &r->model, r->w, &r->train, mean_loss));
    return 0;
}

/* Called at the point where each step's gradient is taken (W + ε under SAM,
 * W under SGD or SAM-early after the switch) with that step's samples. */
typedef void (*ex_grad_point_fn)(void *user, const ex_chen_run *r, const float *point, const size_t *idx,
                                 size_t nb);

/* The same epoch by the split form (ascend, look at w + ε, descend) with the
 * optimizer's own shuffle stream, so batches are those of sam_opt_epoch. */
EX_API int ex_chen_epoch_split(ex_chen_run *r, double *mean_loss, ex_grad_point_fn hook, void *user, char *err,
                               size_t errlen) {
    size_t start, B = r->cfg.batch, nb = 0;
    double sum = 0;
    sam_opt_info info;
    sam_rng_permutation(&r->opt.rng_shuffle, r->cfg.n, r->perm);
    for (start = 0; start + B <= r->cfg.n; start += B) {
        sam_batch b;
        b.data = &r->train;
        b.idx = r->perm + start;
        b.n = B;
        EX_TRY(sam_opt_ascend(&r->ctx, &r->opt, &r->model, r->w, &b, &info));
        if (hook) hook(user, r, sam_opt_perturbed_point(&r->opt, r->w), b.idx, b.n);
        EX_TRY(sam_opt_descend(&r->ctx, &r->opt, &r->model, r->w, &b, &info));
        sum += info.loss;
        nb++;
    }
    sam_opt_end_epoch(&r->opt);
    if (mean_loss) *mean_loss = nb ? sum / (double)nb : NAN;
    return 0;
}

#endif /* EX_CHEN_H */
