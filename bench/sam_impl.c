/* bench/sam_impl.c — the implementation of sam.h, compiled as C99 (the
 * benchmarks in bench/ C++ files see only its declarations, as a user's C++ would). */
#define SAM_IMPLEMENTATION
#include "../sam.h"
