/* tests/test_nn.c — included by tests/run.c. */

static void tests_nn(void) {
}
