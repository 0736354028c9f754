/* The machine's memory latency by working-set size: a chase of dependent 8-byte loads around
 * one random cycle (each load's address is the previous load's value, so nothing overlaps).
 * bench/machine.py runs it alone and two at once: a size whose latency grows when both cores
 * chase is held in a cache the two cores share, which two processors in one machine then split.
 *
 *     cache_probe KIB...    one line per size: "<KiB> <ns a load>"
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    for (int arg = 1; arg < argc; arg++) {
        size_t n = (size_t)atol(argv[arg]) * 1024 / sizeof(size_t);
        size_t *next = malloc(n * sizeof(size_t)), *order = malloc(n * sizeof(size_t));
        if (n < 2 || !next || !order) return 1;
        for (size_t i = 0; i < n; i++) order[i] = i;
        srand(1);
        for (size_t i = n - 1; i > 0; i--) {  /* Fisher-Yates: a random visiting order */
            size_t j = ((size_t)rand() * RAND_MAX + rand()) % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (size_t i = 0; i < n; i++) next[order[i]] = order[(i + 1) % n];
        size_t at = 0, steps = 5000000;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t s = 0; s < steps; s++) at = next[at];
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / steps;
        printf("%s %.1f %zu\n", argv[arg], ns, at % 2);  /* `at` printed: the chase is not optimised away */
        free(next);
        free(order);
    }
    return 0;
}
