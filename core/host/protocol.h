/*
 * protocol.h - the daemon <-> helper wire format, both directions: the job
 * the daemon sends to a helper and the result the helper sends back.
 *
 * A collection in process isolation runs in a helper: the daemon binary
 * re-executed with "--worker" (runner.c starts it, worker.c is its main).
 *
 * Framing (what holds on the wire):
 *   - fd 0 (PROTOCOL_JOB_FD) carries the job: one JSON object, at most
 *     PROTOCOL_JOB_MAX bytes, ended by the end of the stream.  A job that
 *     is larger or not JSON gives an MD_ERR_INTERNAL result, not a crash.
 *   - fd 3 (PROTOCOL_RESULT_FD) carries the result: one compact JSON
 *     object followed by a single "\n" (protocol_result_encode).  Compact
 *     JSON holds no raw newline, so the newline marks a complete result
 *     even while a child the plugin forked still holds the pipe open.
 *     A result with usage cells is preceded by "P<n>\n" and the n bytes
 *     of its cells packed (below); the JSON, and so the frame, ends at the
 *     first newline after them (protocol_result_complete).
 *     The reader accepts at most PROTOCOL_RESULT_MAX bytes; more, nothing,
 *     a truncated or a malformed result is an error (the daemon reports
 *     the collection as crashed), never undefined behaviour.
 *   - the helper's stdout is redirected to its stderr (the log), so
 *     nothing a plugin prints can corrupt the result stream.
 *   - inline mode (a daemon thread runs the job) sends the same result
 *     text over a socket; the reader does not require the final newline.
 *
 * The job:
 *   {"instance", "plugin_path", "options": {..}, "secret_options": [names],
 *    "secrets": [values], "state_dir": path|null, "timeout_ms": n,
 *    "deadline_epoch": epoch seconds, "log_level": n,
 *    "usage_generation": "N" (decimal string: exact for any 64-bit value),
 *    "memory_limit": bytes}
 * "log_level", "deadline_epoch", "usage_generation" and "memory_limit"
 * are optional for the reader (absent: the helper's default level,
 * timeout_ms alone, 0, no limit).
 *
 * The result (also the "data" of each provider in the snapshot file, so
 * its keys are append-only and readers ignore keys they do not know):
 *   {"error": null|{"class","message"}, "retry_after": n|null,
 *    "metrics": [metric_to_json ...], "notes": [..], "raw": <json>|null,
 *    "started_at", "finished_at"}
 * plus, only when has_usage: "usage": {"since": n, "generation": "N",
 * "cells": [[slot_start, model|null, tokens_input_uncached,
 * tokens_cache_read, tokens_cache_write, tokens_output, tokens_reasoning,
 * tokens_total, cost_usd, tokens_cache_write_1h, events], ...]} with each
 * bucket a number, null (unknown) or "na" (not applicable); a cell without
 * tokens_cache_write_1h (an older helper) reads it as unknown.  The reader
 * validates every cell as put_usage does.
 *
 * Packed cells (the wire only; protocol_result_to_json never makes them):
 * a JSON value per bucket made printing (helper) and parsing (reader) the
 * cells cost some 40 000 instructions per cell, so the helper sends them
 * as binary records
 * ahead of the JSON, whose "usage" then holds "cells": [] and "packed":
 * {"models": [names], "count": cells, "bytes": n}.  A record (protocol.c
 * has the layout) carries the same values the JSON array would, each
 * number as the JSON form reads back (an integral value through an
 * integer), and a model as its index in "models"; the reader validates
 * every cell as for JSON.  More than 256 distinct models, or a model
 * that is not UTF-8, and the cells go as JSON.
 *
 * Ownership: the *_to_json functions return new references; a
 * protocol_job borrows every pointer from the job object it was read from
 * (which must outlive it); protocol_result_from_json/_decode fill a
 * collect_result the caller releases (left empty, initialised, on error).
 * Errors: 0, or -1 with *err malloc'd (conventions.h).
 * Threads: no shared state; safe from any thread.
 */
#ifndef METERD_PROTOCOL_H
#define METERD_PROTOCOL_H

#include <stddef.h>
#include <jansson.h>
#include "provider_conf.h"
#include "result.h"

#define PROTOCOL_JOB_FD 0
#define PROTOCOL_RESULT_FD 3
#define PROTOCOL_JOB_MAX ((size_t)8 * 1024 * 1024)
#define PROTOCOL_RESULT_MAX ((size_t)16 * 1024 * 1024)

/* A job as the helper reads it.  Every pointer is borrowed from the job
 * object. */
typedef struct protocol_job {
    const char *instance;
    const char *plugin_path;
    const char *state_dir;          /* NULL: none */
    const json_t *options;          /* object, or NULL */
    const json_t *secret_options;   /* array of option names, or NULL */
    const json_t *secrets;          /* array of secret values, or NULL */
    long long budget_ms;            /* >= 0 */
    unsigned long long usage_generation;   /* 0 when absent */
    int log_level;                  /* an md_log_level, -1 when absent */
    long long memory_limit;         /* bytes of address space; 0: none */
} protocol_job;

/* The job for a collection of pc: state_dir is the plugin's directory
 * (NULL: none), remaining_ms its budget, usage_generation the generation
 * of pc's usage cells the daemon's usage store holds (0: none).  The
 * values of pc's secret options are listed in "secrets". */
json_t *protocol_job_to_json(const provider_conf *pc, const char *state_dir,
                             long long remaining_ms,
                             unsigned long long usage_generation);
/* Read a job.  budget_ms is the smaller of timeout_ms and the time left
 * until deadline_epoch (the wall clock is read here: the job's time in
 * transit counts), never negative. */
int protocol_job_from_json(const json_t *job, protocol_job *out, char **err);

/* The result as JSON (see above). */
json_t *protocol_result_to_json(const collect_result *r);
int protocol_result_from_json(const json_t *obj, collect_result *out,
                              char **err);

/* The result as the helper writes it: compact JSON and "\n".  Caller
 * frees; *len is its length.  NULL when it cannot be encoded. */
char *protocol_result_encode(const collect_result *r, size_t *len);
/* The reverse for the bytes a reader received (len 0: "no output"; more
 * than PROTOCOL_RESULT_MAX, truncated or malformed: -1). */
int protocol_result_decode(const char *buf, size_t len, collect_result *out,
                           char **err);
/* Whether the len bytes a reader has so far end a whole result: they end
 * with a newline that is not inside the packed cells.  A malformed
 * packed header counts as complete at a newline (the decode says why). */
int protocol_result_complete(const char *buf, size_t len);

/* ---- The probe (meterd --probe, probe.h) ---------------------------
 *
 * Framing as for a collection: the request on fd 0 (ended by the end of
 * the stream), the reply on fd 3 as one compact JSON object and "\n".
 *
 * The request:
 *   {"plugin_path", "instance", "check": bool, "options": {..},
 *    "secrets": [values], "log_level": n}
 * The reply:
 *   {"loaded": false, "class": "config"|"abi", "message": text}
 * or
 *   {"loaded": true, "descriptor": {"name", "version", "abi_major",
 *    "abi_minor", "options": [{"name", "type", "required", "default",
 *    "help"}], "default_interval_ms", "min_interval_ms", "produces",
 *    "has_check", "env": [variable names]},
 *    "check": null (not run) | {"error": null | text}}
 * default_interval_ms and min_interval_ms are 0 for a descriptor whose
 * struct_size does not reach them (before ABI 1.1); produces is what
 * plugin_produces() says. */

/* What the daemon knows of a plugin: the descriptor's facts, owned.
 * options ends with a zeroed entry; every string is owned. */
typedef struct probe_facts {
    char *name, *version;
    unsigned abi_major, abi_minor;
    md_option *options;
    size_t n_options;
    long long default_interval_ms, min_interval_ms;
    unsigned produces;           /* MD_PRODUCES_* bits */
    int has_check;
    json_t *env;                 /* array of variable names (ABI 1.6) */
} probe_facts;

void probe_facts_release(probe_facts *f);
/* The descriptor's facts as JSON (new reference). */
json_t *protocol_facts_to_json(const md_plugin *d);
/* Read facts; 0, or -1 with *err (out left zeroed). */
int protocol_facts_from_json(const json_t *j, probe_facts *out, char **err);
/* A synthetic descriptor for code that validates against a table (no
 * function pointers; borrows from f, which must outlive it). */
md_plugin probe_facts_descriptor(const probe_facts *f);

#endif
