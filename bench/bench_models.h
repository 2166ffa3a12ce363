// bench/bench_models.h — the papers' models on their data, shared by the step
// (bench_optim.cc) and Hessian (bench_sharp.cc) benchmarks.
//   C_CNN          Chen CNN on Chen data: 20 samples, P 2, d 1000, m 10, logistic
//   C_CNN_GENERIC  the same with the Chen-data fast path off (generic patch conv)
//   C_MLP_B1       Wen Bias MLP, d 30, width 500, MSE, 2-parity data (n 100), batch 1
//   C_MLP_EPOCH    the same, batch = the 100 training samples
#ifndef SAM_BENCH_MODELS_H
#define SAM_BENCH_MODELS_H

#include "bench.h"

#include <cstring>

namespace sb {

enum Cfg { C_CNN, C_CNN_GENERIC, C_MLP_B1, C_MLP_EPOCH };
static const char *const kCfgName[] = {"cnn_b20_P2_d1000_m10", "cnn_b20_P2_d1000_m10_generic", "mlp_b1_d30_w500",
                                       "mlp_n100_d30_w500"};

// The data, the model and its initial weights, built on one context.
struct Problem {
    sam_dataset ds;
    sam_cnn cnn;
    sam_mlp mlp;
    const sam_model *model;
    std::vector<float> w0;
    size_t batch;
    double flop_per_grad;
    std::string error;

    Problem(sam_ctx *c, Cfg cfg) : model(NULL), batch(0), flop_per_grad(0) {
        std::memset(&ds, 0, sizeof ds);
        sam_rng rng;
        sam_rng_seed(&rng, 7, SAM_STREAM_INIT);
        if (cfg == C_CNN || cfg == C_CNN_GENERIC) {
            sam_chen_config dc;
            sam_chen_config_default(&dc);
            dc.d = 1000;
            dc.patches = 2;
            sam_cnn_config nc;
            sam_cnn_config_default(&nc);
            nc.patches = 2;
            nc.patch_dim = 1000;
            nc.width = 10;
            nc.no_fast_path = cfg == C_CNN_GENERIC;
            batch = 20;
            if (sam_data_chen(c, &dc, 20, 1, SAM_STREAM_TRAIN_DATA, &ds) != SAM_OK ||
                sam_cnn_init(c, &cnn, &nc) != SAM_OK) {
                error = sam_ctx_message(c);
                return;
            }
            model = &cnn.model;
            w0.resize(model->n_params);
            if (sam_cnn_init_params(c, &cnn, &rng, 0.01f, w0.data()) != SAM_OK) error = sam_ctx_message(c);
            flop_per_grad = 4.0 * 20 * 2 * 20 * 1000;
        } else {
            sam_parity_config pc;
            sam_parity_config_default(&pc);
            pc.d = 30;
            sam_mlp_config mc;
            sam_mlp_config_wen(&mc, SAM_WEN_BIAS, 30, 500);
            batch = cfg == C_MLP_B1 ? 1 : 100;
            if (sam_data_parity(c, &pc, 100, 1, SAM_STREAM_TRAIN_DATA, &ds) != SAM_OK ||
                sam_mlp_init(c, &mlp, &mc) != SAM_OK) {
                error = sam_ctx_message(c);
                return;
            }
            model = &mlp.model;
            w0.resize(model->n_params);
            if (sam_mlp_init_params(c, &mlp, &rng, w0.data()) != SAM_OK) error = sam_ctx_message(c);
            flop_per_grad = 4.0 * (double)batch * 500 * 30;
        }
    }
    ~Problem() { sam_dataset_free(&ds); }

  private:
    Problem(const Problem &);
    Problem &operator=(const Problem &);
};

}  // namespace sb

#endif
