/*
 * rank.h - coalescing provider instances into families and choosing the
 * governing meter of each family.  Pure functions of provider views: no
 * I/O, no clock except the `now` passed in.
 *
 * Ranking rules (documented for operators in doc/meterd.yaml.5):
 *   Candidates are the quota-bearing metrics (metric_is_quota_bearing) of
 *   every member that has data.  Provider-reported metrics always come
 *   before estimates (confidence estimated) and local-log snapshots
 *   (source local_log), whatever their values: a log-derived figure never
 *   outranks a provider-reported meter.  Within each group the governing
 *   meter is the one closest to its limit:
 *     1. exhausted metrics first (remaining == 0, or utilization >= 100);
 *     2. then the highest utilization (known or derived);
 *     3. then metrics with a known remaining but no computable utilization
 *        (lowest remaining first);
 *     within equal rank: the shorter time to
 *     reset (unknown reset last), then provider name, then metric id.
 *   usage_remaining is the governing meter's remaining, else
 *   100 - utilization in "percent"; null with a reason otherwise.
 *   actual_current_usage is the `used` of the primary usage metric: the
 *   first metric with known used whose unit is, in this order, "tasks",
 *   "requests", "tokens" (runtime metrics), else the governing meter's used.
 *
 * Details fixed by the implementation (rank.c):
 *   - Members with status disabled take part in nothing (status, metrics);
 *     members whose data is stale (last good records) do take part.
 *   - A metric with known used and a known limit of 0 counts as exhausted
 *     (nothing can be left of an allowance of 0).
 *   - Exhausted metrics all share one rank (then confidence, reset, ...).
 *   - usage_remaining_reason when there is no governing meter:
 *       no member has data: "collection_failed" if a member failed, else
 *         "pending" (or "not_applicable" when every member is disabled);
 *       data exists: "not_applicable" when every metric declares limit,
 *         remaining and utilization not applicable; else "not_reported"
 *         when a quota_window/credits/budget/rate_limit metric exists
 *         (values unknown); else "no_quota_metric".
 *   - status: "ok" when every non-disabled member is ok, "degraded" when
 *     some are, "unavailable" when none is (also when all are disabled).
 */
#ifndef METERD_RANK_H
#define METERD_RANK_H

#include <stddef.h>
#include "view.h"

typedef struct family_summary {
    char *family;                    /* owned */
    const provider_view **members;   /* owned array of borrowed pointers,
                                        in instance-name order */
    size_t n_members;
    const char *status;              /* "ok" | "degraded" | "unavailable" */
    const metric *governing;         /* borrowed, NULL when none */
    const provider_view *governing_member;  /* borrowed */
    const char *governing_reason;    /* "exhausted" | "highest_utilization" |
                                        "lowest_remaining" | NULL */
    md_num usage_remaining;
    const char *usage_remaining_unit;    /* NULL when unknown */
    const char *usage_remaining_reason;  /* NULL when known; else
                                            "no_quota_metric", "not_reported",
                                            "not_applicable",
                                            "collection_failed", "pending" */
    md_num actual_current_usage;
    const char *actual_current_usage_unit;
    int exhausted;                   /* governing meter is exhausted */
    md_time available_again_at;      /* latest reset among exhausted meters;
                                        unknown if any has no reset or when
                                        not exhausted */
} family_summary;

/* Group views by family (v[i].family) and summarise each.  Families are
 * ordered by name.  Returns the count; *out is owned by the caller and
 * released with family_summaries_free().  The summaries borrow from v. */
size_t rank_families(const provider_view *v, size_t n, double now,
                     family_summary **out);
void family_summaries_free(family_summary *fs, size_t n);

/* Order two candidate metrics: negative when a governs before b.
 * Exposed for unit tests. */
int rank_compare(const metric *a, const metric *b, double now);

#endif
