/*
 * state_int.h - what the two parts of the daemon's state share and
 * nothing else: state.c (provider runtime state, the mailbox) and
 * state_views.c (building and publishing view sets).  The contract is
 * daemon.h.
 *
 * Invariants:
 *   - a struct shared_result is an immutable copy of one provider's
 *     collect_result, reference counted: pstate.pub holds one reference
 *     and every view set that shows it one more;
 *   - it is created only by state_views.c (when a view set is built) and
 *     freed by whoever drops the last reference.
 */
#ifndef METERD_STATE_INT_H
#define METERD_STATE_INT_H

#include "daemon.h"

/* Drop one reference to s (NULL is fine); the last frees it. */
void shared_result_release(struct shared_result *s);

#endif
