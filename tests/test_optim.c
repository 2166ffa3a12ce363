/* tests/test_optim.c — included by tests/run.c. */

static void tests_optim(void) {
}
