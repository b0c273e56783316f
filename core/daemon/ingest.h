/*
 * ingest.h - POST /api/telemetry: a gateway reports per-turn usage.
 *
 * Body: one object or an array (at most INGEST_MAX_ITEMS) of
 *   {"provider": "<configured instance>", "route": "chat"?, "model": "..."?,
 *    "at": "RFC 3339"?, "dialect": "openai"?, "id": "caller id"?,
 *    "usage": {<the provider's raw usage object>}?,
 *    "headers": {"<response header>": "<value>", ...}?}
 * at least one of usage and headers.  The dialect is "dialect", else
 * "route" when it names one, else derived from the provider's plugin and
 * family (claude/anthropic -> anthropic, openai/codex -> openai, deepseek,
 * gemini, openrouter, ollama; OpenAI-compatible moonshot, kimi, zai ->
 * openai).  Every item is validated before any is applied (all or
 * nothing).  Usage is normalised (core/usage.c) and added to the
 * provider's cells in the usage store; headers become rate-limit meters
 * (core/ratelimit.c) folded into the provider's metrics.  An item whose id
 * was seen before is not applied again: its stored response is returned
 * with "duplicate": true.
 *
 * Durability: the usage of a request and its ids are committed to the
 * history database (STATE_DIR/meterd.db, table ingest_id) in ONE
 * transaction before the 200 is sent, so an id is recorded exactly when
 * its usage is.  When that write fails the request answers 503, its
 * usage is taken back from memory, its ids are not remembered (the
 * caller's retry is applied, not refused as a duplicate), and the store
 * retries the write (usage_store_retry_due) and at shutdown.
 *
 * Group commit: the requests queued for the owner when it drains its
 * mailbox (state_post_group: at most STATE_GROUP_MAX, and groups of at
 * most INGEST_MAX_ITEMS items) share that transaction: one commit, one
 * fsync, then every one of them is answered - all 200, or all 503 with
 * nothing of any of them recorded.  Each request's outcome is what
 * applying them one after another in arrival order would give (an id
 * sent by two requests of a group: the later is a duplicate).  The
 * commits and the requests they held are counted for /healthz
 * (usage_store_ingest_committed).  Requests
 * still queued at shutdown are applied for at most half a second, the
 * rest answered 503 with nothing recorded.  The last
 * INGEST_MAX_IDS ids are kept (the database prunes older ones at every
 * write) and loaded at start (ingest_load), never under a request; the
 * first answers of the newest INGEST_KEEP_RESPONSES only, as text, so
 * the memory of the ids stays a few MiB at most.
 * Limits: an event time more than INGEST_MAX_FUTURE_S ahead is a 400; a
 * provider keeps at most INGEST_MAX_METERS header meters (further ids are
 * dropped with a note in the record); counts and models per day are
 * bounded by the usage store (USAGE_COUNT_MAX, USAGE_MAX_MODELS_PER_DAY).
 *
 * Ownership: d->ingest (the remembered ids and their first responses) is
 * created and freed here, used on the owner thread only.  An
 * ingest_batch owns its items and the parsed document they point into;
 * ingest_batch_free frees both (NULL is a no-op).
 */
#ifndef METERD_INGEST_H
#define METERD_INGEST_H

#include <jansson.h>
#include <stddef.h>

#include "daemon.h"
#include "usage.h"

#define INGEST_MAX_BODY (1024 * 1024)
#define INGEST_MAX_ITEMS 1000
#define INGEST_MAX_IDS 10000
/* Of those, the newest whose replay repeats the first answer (older
 * ones, and ids of an earlier run, answer {"id", "duplicate": true}). */
#define INGEST_KEEP_RESPONSES 1000
#define INGEST_MAX_METERS 64
#define INGEST_MAX_FUTURE_S 86400.0

/* A request body parsed and validated into items, not yet applied. */
typedef struct ingest_batch ingest_batch;

/* Parse and validate one request body against the view set vs (any
 * thread; what the HTTP thread does before ingest_submit hands the
 * items to the owner; t/fuzz/ingest.c drives it directly).  Returns 200
 * with *out set (ingest_batch_free it), or 400 with *error set
 * (malloc'd, vs's secrets masked) and *out NULL.  Nothing is applied: every item is
 * checked before any is (all or nothing). */
int ingest_parse(const view_set *vs, const char *body, size_t len,
                 ingest_batch **out, char **error);
/* How many items b holds (1..INGEST_MAX_ITEMS). */
size_t ingest_batch_size(const ingest_batch *b);
/* Item i's normalised usage record, or NULL when it carries headers
 * only (borrowed from b). */
const usage_record *ingest_batch_record(const ingest_batch *b, size_t i);
void ingest_batch_free(ingest_batch *b);

/* Where an ingest answer goes: the HTTP status with response (a new
 * reference, {"records": [...]}) on 200, else error (malloc'd, secrets
 * masked) and response NULL; both become the callee's.  Runs on the
 * owner thread, after the 200's usage and ids are committed and a view
 * set showing its meters is published. */
typedef void (*ingest_answer_fn)(void *arg, int status, json_t *response,
                                 char *error);

/* Queue a parsed batch (ingest_parse; taken over, freed in all cases)
 * for the owner thread, which applies all its items at once, in the
 * group commit of the requests queued with it (any thread
 * but the owner; it never waits for the owner).  Returns 0 when queued:
 * answer(arg, ...) will run exactly once, on the owner thread.  -1 when
 * shutting down: answer never runs (the caller answers 503). */
int ingest_submit(daemon_t *d, ingest_batch *b, ingest_answer_fn answer,
                  void *arg);

/* Read the remembered ids at start (owner thread, after the usage store
 * was loaded): from the history database, migrating an ingest_ids.log
 * of an earlier version into it first (renamed ingest_ids.log.migrated). */
void ingest_load(daemon_t *d);

/* Forget remembered ids (daemon teardown, owner thread). */
void ingest_free(daemon_t *d);

#endif
