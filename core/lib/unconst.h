/*
 * unconst.h - the few places where a C library API without const forces
 * a const pointer to lose its qualifier, each named after that API.
 *
 * The tree builds with -Wcast-qual: a plain (T *) cast of a const pointer
 * is a warning.  These helpers are the only sanctioned way around it, and
 * only where the callee never writes through the pointer (or writes only
 * state that is not part of the value, like jansson's reference count).
 * A helper that would let code write into an object it was handed as
 * const does not belong here: make the pointer non-const at its source.
 *
 * Invariants: pure inline functions, no state, thread-safe; they return
 * their argument unchanged and allocate nothing.
 */
#ifndef METERD_UNCONST_H
#define METERD_UNCONST_H

#include <stdint.h>
#include <stdlib.h>
#include <jansson.h>

/* jansson has no const iteration (json_object_foreach, json_object_iter)
 * and json_incref takes json_t *: a read-only walk over, or a new
 * reference to, a value held as const json_t * goes through this. */
static inline json_t *json_unconst(const json_t *j)
{
    return (json_t *)(uintptr_t)j;
}

/* execve / posix_spawn take the argument vector as char *const argv[]
 * for historical reasons; they never write into the strings. */
static inline char *spawn_arg(const char *s)
{
    return (char *)(uintptr_t)s;
}

/* libmicrohttpd (0.9.75, Debian bookworm's) takes the body of
 * MHD_create_response_from_buffer as void * even with
 * MHD_RESPMEM_PERSISTENT or MHD_RESPMEM_MUST_COPY, where it only reads
 * it (later versions add const _static and _copy variants). */
static inline void *mhd_buffer(const void *p)
{
    return (void *)(uintptr_t)p;
}

/* The SDK ABI types the strings of md_option as const char * (a plugin's
 * descriptor is static); when the host builds an md_option of its own
 * from a probe's reply those strings are malloc'd, and this frees them. */
static inline void free_owned_str(const char *s)
{
    free((char *)(uintptr_t)s);
}

#endif
