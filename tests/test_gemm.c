/* tests/test_gemm.c — included by tests/run.c. */

static void tests_gemm(void) {
}
