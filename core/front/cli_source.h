/*
 * cli_source.h - where `meterd status` and `meterd check` get the usage
 * document: from the running daemon (GET /api/automation/usage), else
 * rendered from the snapshot the daemon left in its state_dir.
 *
 * The daemon's address is --url (http://HOST:PORT[/...] or unix:/PATH),
 * else the config's `listen` ("host:port", "[::1]:port", "unix:/path";
 * a wildcard host is asked on loopback).  One HTTP request, no proxy,
 * bounded by CLI_HTTP_TIMEOUT_MS.  The snapshot is turned into rows by the
 * daemon's own code (state_init + state_load_snapshot + state_views +
 * render_usage), so the rows are those a daemon started on that snapshot
 * would serve; the document says meta.data_source "snapshot_fallback".
 *
 * Invariants: after cli_source_load() returns 0, doc is a usage document
 * (an object whose schema is "meterd.usage.v1" and whose providers is an
 * array).  Every pointer in cli_source is owned; cli_source_release()
 * frees them all.  A zeroed cli_source is a valid empty one.
 */
#ifndef METERD_CLI_SOURCE_H
#define METERD_CLI_SOURCE_H

#include <jansson.h>

#define CLI_HTTP_TIMEOUT_MS 3000L
#define CLI_HTTP_CONNECT_TIMEOUT_MS 2000L

typedef struct cli_source {
    json_t *doc;             /* owned reference: the usage document */
    int from_snapshot;       /* doc was rendered from the snapshot */
    char *daemon;            /* where the daemon was asked, e.g.
                                "http://127.0.0.1:9477" or "unix:/run/m";
                                NULL when no address was known */
    char *daemon_error;      /* why the daemon did not answer, or NULL */
    char *snapshot_path;     /* the snapshot read (from_snapshot), or NULL */
    double snapshot_saved_at;   /* its saved_at (epoch), 0 when unknown */
} cli_source;

/* Options shared by the commands: -c FILE and --url URL. */
typedef struct cli_target {
    const char *config_path; /* borrowed */
    const char *url;         /* borrowed; NULL: the config's listen */
} cli_target;

void cli_source_init(cli_source *s);
void cli_source_release(cli_source *s);

/* Ask the daemon, else read the snapshot.  Returns 0 with s->doc, or -1
 * with *err saying why neither worked (s->daemon / s->daemon_error are
 * still set for the caller's message). */
int cli_source_load(cli_source *s, const cli_target *t, char **err);

/* Whether url is a form --url accepts (http://, https:// or unix:/). */
int cli_url_valid(const char *url);

#endif
