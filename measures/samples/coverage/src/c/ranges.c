/* A tiny C unit measured by gcc --coverage and lcov for the coverage
   samples: some lines and branches are exercised by main(), some on
   purpose not. */
#include <stdio.h>

static int clamp(int v, int lo, int hi) {
    if (v < lo)
        return lo;
    if (v > hi)
        return hi;
    return v;
}

static int overlap(int a0, int a1, int b0, int b1) {
    int lo = a0 > b0 ? a0 : b0;
    int hi = a1 < b1 ? a1 : b1;
    if (hi < lo)
        return 0;
    return hi - lo;
}

static int unused_sum(int n) {
    int total = 0;
    for (int i = 0; i < n; i++)
        total += i;
    return total;
}

int main(int argc, char **argv) {
    (void)argv;
    int c = clamp(15, 0, 10) + clamp(5, 0, 10);
    int o = overlap(0, 10, 5, 20);
    if (argc > 5)
        c += unused_sum(argc);
    printf("%d %d\n", c, o);
    return 0;
}
