/* tests/test_sharp.c — included by tests/run.c. */

static void tests_sharp(void) {
}
