/*
 * t/unit/logscan_needles.c - the marker search of the SDK log scanner
 * (plugins/sdk/logscan.c ls_needles_find) finds exactly the earliest
 * occurrence a naive search finds: one needle (the vector loop, its
 * windows at the end) and several, on random text dense in the needles'
 * bytes, at every length and alignment around the vector widths.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "logscan.h"

/* The earliest occurrence of any of the markers in p[0..n), or NULL. */
static const char *naive(const char *const *m, size_t nm, const char *p,
                         size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nm; j++) {
            size_t l = strlen(m[j]);
            if (l <= n - i && memcmp(p + i, m[j], l) == 0)
                return p + i;
        }
    return NULL;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned k)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng % k);
}

/* Random trials of markers m over an alphabet of their bytes; returns the
 * number of disagreements (the first few printed). */
static size_t trials(const char *const *m, size_t nm, int n_trials,
                     size_t *found)
{
    ls_needles nd;
    ls_needles_init(&nd, m, nm);
    char alpha[64];
    size_t na = 0;
    for (size_t j = 0; j < nm; j++)
        for (const char *c = m[j]; *c && na < sizeof alpha - 2; c++)
            alpha[na++] = *c;
    alpha[na++] = 'x';
    alpha[na++] = '\n';
    static char buf[512 + 64];
    size_t bad = 0;
    for (int t = 0; t < n_trials; t++) {
        size_t off = rnd(64), n = rnd(400);
        for (size_t i = 0; i < n; i++)
            buf[off + i] = alpha[rnd((unsigned)na)];
        /* sometimes plant one whole, near the end where the windows are */
        if (n > 20 && rnd(2)) {
            const char *w = m[rnd((unsigned)nm)];
            size_t l = strlen(w), at = n - l - rnd(20);
            memcpy(buf + off + at, w, l);
        }
        const char *want = naive(m, nm, buf + off, n);
        const char *got = ls_needles_find(&nd, buf + off, n);
        *found += want != NULL;
        if (got != want && bad++ < 5)
            printf("#   n=%zu off=%zu: want %td got %td\n", n, off,
                   want ? want - (buf + off) : -1, got ? got - (buf + off) : -1);
    }
    return bad;
}

int main(void)
{
    static const char *const one[] = {":null"};
    static const char *const usage[] = {"\"usage\":{"};
    static const char *const two[] = {"\"token_count\"", "\"turn_context\""};
    size_t found = 0;
    ok(trials(one, 1, 100000, &found) == 0 && found > 1000,
       "one short needle: the earliest occurrence, as a naive search");
    found = 0;
    ok(trials(usage, 1, 100000, &found) == 0 && found > 1000,
       "one needle of 9 bytes: the earliest occurrence");
    found = 0;
    ok(trials(two, 2, 100000, &found) == 0 && found > 1000,
       "two needles: the earliest occurrence of either");
    return done_testing();
}
