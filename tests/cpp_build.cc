// tests/cpp_build.cc — the header compiled as C++ (-std=c++11 -Werror) and used.
#define SAM_IMPLEMENTATION
#include "../sam.h"
#include <cstdio>

int main() {
    sam_ctx ctx;
    if (sam_ctx_init(&ctx, NULL) != SAM_OK) return 1;
    float x[5] = {1, 2, 3, 4, 5};
    double d = 0;
    if (sam_dot(&ctx, 5, x, x, &d) != SAM_OK || d != 55.0) { std::printf("C++ build: dot wrong\n"); return 1; }
    std::printf("C++ build: ok (sam.h %s, %s)\n", sam_version(), sam_isa_name(ctx.isa));
    sam_ctx_free(&ctx);
    return 0;
}
