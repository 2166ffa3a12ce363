/* tests/run.c — the single test runner. Usage: ./run [name-substring]
 * Ends with the line "N passed, N failed"; exit status = number of failed tests (capped). */
#define SAM_IMPLEMENTATION
#include "../sam.h"
#include "test.h"

t_state T;

#include "test_core.c"
#include "test_gemm.c"
#include "test_nn.c"
#include "test_optim.c"
#include "test_data.c"
#include "test_sharp.c"

int main(int argc, char **argv) {
    T.filter = argc > 1 ? argv[1] : NULL;
    {
        sam_ctx ctx;
        sam_ctx_init(&ctx, NULL);
        printf("sam.h %s, best ISA: %s\n", sam_version(), sam_isa_name(ctx.isa));
        sam_ctx_free(&ctx);
    }
    tests_core();
    tests_gemm();
    tests_nn();
    tests_optim();
    tests_data();
    tests_sharp();
    printf("%d passed, %d failed\n", T.passed, T.failed);
    return T.failed > 100 ? 100 : T.failed;
}
