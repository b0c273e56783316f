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
 * with "duplicate": true (ids of earlier runs come from
 * STATE_DIR/ingest_ids.log, one per line, appended after the usage they
 * carried was saved; the last INGEST_MAX_IDS are remembered).
 */
#ifndef METERD_INGEST_H
#define METERD_INGEST_H

#include <jansson.h>
#include <stddef.h>

#include "daemon.h"

#define INGEST_MAX_BODY (1024 * 1024)
#define INGEST_MAX_ITEMS 1000
#define INGEST_MAX_IDS 10000

/* Handle one request body (any thread but the owner: the body is parsed
 * and validated against the published views here, then applied by the
 * owner thread as one message, all items at once).  Returns
 * the HTTP status: 200 with *response set (new reference) to
 * {"records": [...]}, or an error status with *error set (malloc'd, secrets
 * masked) and *response NULL. */
int ingest_handle(daemon_t *d, const char *body, size_t len, json_t **response,
                  char **error);

/* Forget remembered ids (daemon teardown, owner thread). */
void ingest_free(daemon_t *d);

#endif
