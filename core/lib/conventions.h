/*
 * conventions.h - the conventions every core module follows, stated once.
 *
 * Error shape.  A function that can fail with a message returns int and
 * takes `char **err` as its last parameter:
 *   0   success; *err is left untouched;
 *   -1  failure; *err is a malloc'd, human-readable message without a
 *       trailing newline or "error:" prefix (the caller frees it).
 * err_set() builds that return in one statement.  Functions that collect
 * many problems at once (configuration loading and checking) append them
 * to a diag_list (log.h) instead, each with its file, line and column, and
 * return how many they added.  Deep code never prints: only main, the
 * scheduler and the HTTP front decide what reaches the log.
 *
 * Lifecycle verbs, for a struct S that owns memory:
 *   S_init(S *)     make an empty, valid S (a zeroed S is valid as well
 *                   unless the header says otherwise);
 *   S_release(S *)  free what S owns; S itself is the caller's and must be
 *                   S_init()ed again before reuse;
 *   S_clear(S *)    S_release() + S_init(): empty again, ready for reuse;
 *   S_free(S *)     S_release() + free(S) for an S that was allocated by
 *                   S_new(); NULL is a no-op.
 * A release may leave S zeroed or re-initialised as a courtesy; callers
 * rely on that only where the function is named S_clear.  A refcounted S
 * (view_set, quota_set, shared_result, refresh_waiter) pairs
 * S_acquire/S_release instead: release drops one reference and the last
 * one frees S.  Functions that free an array of S take the array and its
 * length (S_array_free(S *v, size_t n), or the plural: packages_free) and
 * free every element and the array.  A function named *_done is a
 * predicate ("has it finished?"), never a lifecycle verb.
 *
 * Ownership words used in comments: "owned" (freed by the struct's
 * release), "borrowed" (must outlive the struct), "caller frees" (a
 * returned pointer), "new reference" / "borrowed reference" (jansson).
 */
#ifndef METERD_CONVENTIONS_H
#define METERD_CONVENTIONS_H

#include "meterd/plugin.h"   /* MD_PRINTF */

/* *err = the formatted message (malloc'd); returns -1.  err may be NULL
 * (then the message is dropped). */
int err_set(char **err, const char *fmt, ...) MD_PRINTF(2, 3);

#endif
