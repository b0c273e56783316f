/*
 * mdu_unconst.h - the SDK's private twin of core/lib/unconst.h (plugins
 * cannot include core headers): where a C library API without const
 * forces a const pointer to lose its qualifier, one helper per API.
 *
 * The tree builds with -Wcast-qual; these are the only sanctioned way
 * around it, and only where the callee never writes through the pointer
 * (or writes only state that is not part of the value, like jansson's
 * reference count).
 *
 * Invariants: pure inline functions, no state, thread-safe; they return
 * their argument unchanged and allocate nothing.
 */
#ifndef METERD_MDU_UNCONST_H
#define METERD_MDU_UNCONST_H

#include <stdint.h>
#include <jansson.h>

/* jansson has no const iteration (json_object_foreach) and returns
 * json_t * from lookups on a const json_t *: a read-only walk over a
 * value held as const json_t *, or a strchr-like return of the caller's
 * own value, goes through this. */
static inline json_t *mdu_json_unconst(const json_t *j)
{
    return (json_t *)(uintptr_t)j;
}

/* posix_spawn / execve take char *const argv[]; they never write into
 * the strings. */
static inline char *mdu_spawn_arg(const char *s)
{
    return (char *)(uintptr_t)s;
}

#endif
