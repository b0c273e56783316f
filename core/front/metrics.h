/*
 * metrics.h - GET /metrics: the daemon's state in the Prometheus text
 * exposition format 0.0.4 (names, labels and meanings: doc/metrics.md).
 * A pure function of provider views, usage totals and the quota set
 * (forecasts and alerts, quotas.h): no I/O, no clock except the `now`
 * passed in, no lock.
 *
 * Invariants of the output:
 *   - every family of series has one # HELP and one # TYPE line, and its
 *     samples follow them contiguously; families are never repeated;
 *   - unknown is not zero: a value that is unknown or not applicable has
 *     no sample at all (never 0, never NaN);
 *   - label values are escaped as the format wants (backslash, double
 *     quote, newline) and are valid UTF-8 (an invalid byte becomes
 *     U+FFFD);
 *   - no two samples of a family have the same labels (a meter id a
 *     provider reports twice is shown once, the first);
 *   - an alert class is a state set: a meter (or family) whose class is
 *     known has one sample per known class, 1 for the current one and 0
 *     for the others; one whose class is unknown has none.
 * Ownership: metrics_render returns a malloc'd text the caller frees; it
 * borrows its inputs only during the call.
 * Threads: no shared state; safe from any thread.
 */
#ifndef METERD_METRICS_H
#define METERD_METRICS_H

#include <stddef.h>
#include "buf.h"
#include "quotas.h"
#include "usage_counter.h"
#include "view.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The whole exposition for n provider views, nt usage totals and the
 * quota set q of the same view set (NULL: no alert or forecast samples)
 * at now (epoch seconds).  *len gets its length. */
char *metrics_render(const provider_view *v, size_t n, const usage_total *t,
                     size_t nt, const quota_set *q, double now, size_t *len);

/* Append s to b escaped as a label value (without the quotes).  Exposed
 * for unit tests. */
void metrics_escape_label(buf *b, const char *s);

#endif
