/*
 * tap.h - a tiny TAP producer for the C unit tests (header only).
 *
 *   plan(3); ok(x == 1, "x is one"); is_int(a, b, "..."); is_str(...);
 *   return done_testing();
 */
#ifndef METERD_TAP_H
#define METERD_TAP_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed, tap_planned = -1;

static inline void plan(int n) { tap_planned = n; printf("1..%d\n", n); fflush(stdout); }

static inline int ok_at(int cond, const char *file, int line, const char *name)
{
    tap_n++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
    if (!cond) {
        tap_failed++;
        printf("#   Failed test '%s'\n#   at %s line %d.\n", name, file, line);
    }
    fflush(stdout);
    return cond;
}
#define ok(cond, name) ok_at(!!(cond), __FILE__, __LINE__, (name))

#define is_int(got, want, name) do { \
    long long g_ = (long long)(got), w_ = (long long)(want); \
    if (!ok(g_ == w_, name)) printf("#          got: %lld\n#     expected: %lld\n", g_, w_); \
} while (0)

#define is_num(got, want, name) do { \
    double g_ = (got), w_ = (want); \
    if (!ok(fabs(g_ - w_) <= 1e-9 * (fabs(w_) + 1.0), name)) printf("#          got: %.17g\n#     expected: %.17g\n", g_, w_); \
} while (0)

#define is_str(got, want, name) do { \
    const char *g_ = (got), *w_ = (want); \
    int same_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0); \
    if (!ok(same_, name)) printf("#          got: '%s'\n#     expected: '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

static inline void diag_line(const char *msg) { printf("# %s\n", msg); }

/* Returns the process exit status: 0 only when all planned tests passed. */
static inline int done_testing(void)
{
    if (tap_planned < 0) printf("1..%d\n", tap_n);
    else if (tap_planned != tap_n) {
        printf("# planned %d tests but ran %d\n", tap_planned, tap_n);
        return 255;
    }
    return tap_failed ? (tap_failed > 254 ? 254 : tap_failed) : 0;
}

#endif
