/* tests/test_data.c — included by tests/run.c. */

static void tests_data(void) {
}
