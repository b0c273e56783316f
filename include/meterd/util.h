/*
 * meterd/util.h - the plugin SDK's helper library (libmeterd-plugin.a).
 *
 * meterd/plugin.h is the ABI between the core and a plugin; this header
 * is not.  It declares helpers a plugin links STATICALLY from
 * libmeterd-plugin.a, built with -fvisibility=hidden: they become part of
 * the plugin's own image, are never exported from the plugin's .so and
 * never resolved against the daemon, so they carry no ABI of their own.
 * A newer meterd may change them; a plugin built against an older copy
 * keeps the copy it linked.  Link:
 *     cc -fPIC -shared -fvisibility=hidden -o x.so x.c \
 *        -lmeterd-plugin -ljansson -lm -Wl,-z,defs
 * Everything here goes through the md_host table or libc and jansson;
 * nothing touches daemon symbols.
 *
 * Prefix: every name is mdu_ / MDU_ ("meterd utility").  It sits in the
 * SDK's md_ namespace, and the extra letter tells a reader that the
 * function is linked from the archive rather than called through md_host.
 *
 * Invariants and ownership (for every function below)
 *   - Unknown is not zero: a value that is missing, null, malformed,
 *     non-finite or (unless allowed) negative comes back MD_UNKNOWN, never
 *     as 0.
 *   - json_t results are borrowed from the document passed in, and strings
 *     returned are borrowed likewise, unless the comment says "new
 *     reference" or "malloc'd".
 *   - A function that takes (host, ctx) and returns -1 or NULL has already
 *     called host->fail() with an error class and message; the plugin only
 *     returns -1 from collect().  Functions without ctx report errors by
 *     their return value and errno only.
 *   - No function keeps state between calls; all are safe to call from a
 *     plugin's collect() in any order.
 *
 * The civil-date, token-bucket and state-file functions are the same code
 * the core uses for its own dates, usage records and state files (the
 * archive is built from those sources), so a plugin and the core cannot
 * disagree about a bucket sum or a date.
 */
#ifndef METERD_UTIL_H
#define METERD_UTIL_H

#include <jansson.h>
#include <stddef.h>

#include "meterd/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest provider error text the HTTP helpers put in a failure message. */
#define MDU_MAX_MESSAGE 300

/* ------------------------------------------------------------------ */
/* Tolerant reading of JSON values                                     */
/* ------------------------------------------------------------------ */

/* Follow a dotted path ("rate_limit.primary_window.used_percent") through
 * nested objects.  Returns the value (borrowed), or NULL when root is NULL,
 * a step is missing or not an object, or a key is longer than 127 bytes. */
json_t *mdu_path(const json_t *root, const char *path);

/* The string at a dotted path (borrowed), or NULL when missing or not a
 * JSON string. */
const char *mdu_str(const json_t *obj, const char *path);

/* A JSON number, or a numeric string ("18.42", "0E-10", " 5 ", parsed by
 * host->parse_number), as a known md_num.  MD_UNKNOWN for NULL, null,
 * other types, malformed text, non-finite values, and negative values
 * unless allow_negative is set (balances may be negative; counters not). */
md_num mdu_num_value(const md_host *h, const json_t *v, int allow_negative);

/* Deprecated: the old name of mdu_num_value, kept (as a real symbol in the
 * archive, too) so that out-of-tree plugins still build and link. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((deprecated("use mdu_num_value")))
#endif
md_num mdu_num_ex(const md_host *h, const json_t *v, int allow_negative);

/* The non-negative number at a dotted path (mdu_num_value without
 * negatives). */
md_num mdu_num(const md_host *h, const json_t *obj, const char *path);

/* The boolean at a dotted path: 1 true, 0 false, -1 missing or not a
 * JSON boolean. */
int mdu_bool(const json_t *obj, const char *path);

/* The timestamp at a dotted path, in one dialect (see md_ts_dialect; a
 * JSON number is handed to the dialect as its decimal text).  MD_UNKNOWN
 * when missing, null, of another type, or not parseable in the dialect.
 * Needs host ABI 1.1 (host->parse_timestamp). */
md_time mdu_time(const md_host *h, md_ctx *ctx, const json_t *obj,
                 const char *path, md_ts_dialect dialect);

/* ------------------------------------------------------------------ */
/* Units and unknown-aware arithmetic (an unknown input gives unknown)  */
/* ------------------------------------------------------------------ */

/* 0-1 fraction -> 0-100 percent. */
md_num mdu_fraction_to_percent(md_num fraction);
/* Remaining share (0-100) -> used share (0-100), clamped at 0. */
md_num mdu_remaining_to_used_percent(md_num remaining);
/* Minor currency units (cents) -> major units (dollars). */
md_num mdu_minor_to_major(md_num cents);

/* a + b when both are known; unknown otherwise (also when one is not
 * applicable). */
md_num mdu_add(md_num a, md_num b);
/* a - b clamped at 0 when both are known; unknown otherwise. */
md_num mdu_sub(md_num a, md_num b);

/* ------------------------------------------------------------------ */
/* Disjoint token buckets                                              */
/* ------------------------------------------------------------------ */

/* The six buckets of one usage figure (doc/providers.md):
 *   total = input_uncached + cache_read + cache_write + output,
 * reasoning is an informational subset of output.  A bucket whose concept
 * does not exist for the source is MD_NOT_APPLICABLE. */
typedef struct mdu_tokens {
    md_num input_uncached; /* input neither read from nor written to cache */
    md_num cache_read;     /* input served from a cache                    */
    md_num cache_write;    /* input written to a cache                     */
    md_num output;         /* all output, reasoning included               */
    md_num reasoning;      /* subset of output, informational              */
    md_num total;          /* the sum above, when every term is known      */
} mdu_tokens;

/* OpenAI family: input counts cached input inside it, output counts
 * reasoning inside it; cache writes are not applicable.  total = input +
 * output when both are known. */
mdu_tokens mdu_tokens_openai(md_num input_incl_cached, md_num cached,
                             md_num output_incl_reasoning, md_num reasoning);

/* Anthropic family: four additive counters; reasoning is unknown (not
 * broken out); total = their sum when all four are known. */
mdu_tokens mdu_tokens_anthropic(md_num input_uncached, md_num cache_read,
                                md_num cache_write, md_num output);

/* Emit the six buckets as "usage" metrics with unit "tokens", ids
 * "tokens_<bucket>_<period>" (tokens_output_today) and labels
 * "Tokens <bucket> (<period_label>)".  period must keep the id within 64
 * bytes.  Rejections by the host are the host's to note. */
void mdu_emit_tokens(const md_host *h, md_ctx *ctx, const mdu_tokens *t,
                     const char *period, const char *period_label,
                     md_confidence confidence);

/* ------------------------------------------------------------------ */
/* Civil dates (proleptic Gregorian, UTC)                              */
/* ------------------------------------------------------------------ */

/* Days since 1970-01-01 of year y, month m (1-12), day d (1-31); no range
 * check (day 32 is the next month's first).  Exact for any year a long
 * long holds divided by 400. */
long long mdu_days_from_civil(long long y, unsigned m, unsigned d);
/* The date of days since 1970-01-01 (inverse of the above). */
void mdu_civil_from_days(long long days, long long *y, unsigned *m,
                         unsigned *d);
/* 1 when y is a leap year, else 0. */
int mdu_is_leap_year(long long y);
/* Length of month m (1-12) of year y; 0 for a month out of range. */
unsigned mdu_days_in_month(long long y, unsigned m);

/* ------------------------------------------------------------------ */
/* Secrets                                                             */
/* ------------------------------------------------------------------ */

/* The api_key option, registered with host->add_secret.  Returns it
 * (host-owned, valid during the callback), or NULL after failing the
 * collection with MD_ERR_AUTH ("no api_key configured: set api_key: HINT
 * or api_key_file") when it is unset or empty; make no request then. */
const char *mdu_api_key(const md_host *h, md_ctx *ctx, const char *hint);

/* "Authorization: Bearer TOKEN" as a malloc'd header line; the token is
 * registered as a secret first.  NULL when out of memory (the caller fails
 * the collection, MD_ERR_INTERNAL).  Release with mdu_free_secret(). */
char *mdu_bearer(const md_host *h, md_ctx *ctx, const char *token);

/* Overwrite with zeros, then free, a malloc'd string that held a secret.
 * NULL is accepted. */
void mdu_free_secret(char *s);

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

/* The base_url option joined with path ("https://x/" + "/v1/y" gives
 * "https://x/v1/y", no doubled slash), malloc'd; NULL when out of memory.
 * An unset base_url counts as "". */
char *mdu_url(const md_host *h, md_ctx *ctx, const char *path);

/* For check(): the base_url option, when set, must start with http:// or
 * https://.  Returns 0, or -1 after failing with MD_ERR_CONFIG. */
int mdu_check_base_url(const md_host *h, md_ctx *ctx);

/* The provider's error text from a response body into out (len bytes,
 * always NUL-terminated, "" when none): JSON error.message, error (a
 * string), message or detail; else an HTML <title>. */
void mdu_error_message(const md_http_response *r, char *out, size_t len);

/* Fail the collection for a non-2xx response: 401/403 MD_ERR_AUTH (hint,
 * when not NULL, is appended: which command renews the credentials), 429
 * MD_ERR_RATE_LIMITED, anything else MD_ERR_HTTP; the message is
 * "HTTP <status>: <provider text>".  A Retry-After header (seconds or
 * HTTP-date) is passed to host->retry_after.  Needs host ABI 1.1. */
void mdu_fail_status(const md_host *h, md_ctx *ctx,
                     const md_http_response *r, const char *hint);

/* mdu_fail_status for providers that keep their error text under another
 * key ({"code", "msg", "success"}): the string at the dotted msg_path is
 * the provider text when present, else whatever mdu_error_message finds. */
void mdu_fail_status_path(const md_host *h, md_ctx *ctx,
                          const md_http_response *r, const char *hint,
                          const char *msg_path);

/* GET url with headers ("Name: value", NULL-terminated, or NULL) and
 * expect a 2xx JSON object.  Returns 0 with *json (new reference) and,
 * when resp_out is not NULL, *resp_out (release with host->http_free);
 * the body becomes the raw payload when keep_raw is set.  Returns -1 with
 * *json (and *resp_out) NULL after failing the collection: the transport's
 * class (MD_ERR_NETWORK, MD_ERR_TIMEOUT, ...), mdu_fail_status for a
 * non-2xx status, MD_ERR_BAD_DATA for a body that is not a JSON object. */
int mdu_get_json(const md_host *h, md_ctx *ctx, const char *url,
                 const char *const *headers, const char *auth_hint,
                 int keep_raw, json_t **json, md_http_response **resp_out);

/* mdu_get_json for providers whose responses carry rate-limit headers:
 * the headers of every response that arrived (errors too) become metrics
 * through host->emit_rate_limits (ABI 1.1) first; a non-2xx fails through
 * mdu_fail_status_path (msg_path NULL: the usual keys); a 2xx JSON object
 * is always kept as the raw payload.  label names the request in messages
 * ("GET /v1/x").  Returns 0 with *json (new reference), or -1 with *json
 * NULL after failing the collection. */
int mdu_get_json_rl(const md_host *h, md_ctx *ctx, const char *url,
                    const char *label, const char *const *headers,
                    const char *auth_hint, const char *msg_path,
                    json_t **json);

/* The common case of mdu_get_json_rl: GET base_url + path with
 * "Authorization: Bearer <token>" (token registered as a secret) and
 * "Accept: application/json"; label "GET <path>".  Returns 0 with *json
 * (new reference), or -1 with *json NULL after failing the collection
 * (MD_ERR_INTERNAL when out of memory). */
int mdu_get_bearer_json(const md_host *h, md_ctx *ctx, const char *path,
                        const char *token, const char *auth_hint,
                        const char *msg_path, json_t **json);

/* ------------------------------------------------------------------ */
/* Format drift                                                        */
/* ------------------------------------------------------------------ */

/* A provider that renames, adds or retypes a field should not be read
 * silently wrong: the plugin lists, for each object it maps, the member
 * names it knows (mapped or knowingly ignored), and the rest become notes
 *     unrecognised field data.level (format may have changed)
 * once per field per day, remembered in <state_dir>/drift.json (without
 * a state directory, as in check-only runs, every collection notes
 * again).  At most MDU_DRIFT_MAX_NOTES notes per collection, the rest
 * summarised in one; field names longer than MDU_DRIFT_MAX_FIELD are cut.
 *     mdu_drift d;
 *     mdu_drift_init(&d, h, ctx);
 *     mdu_drift_keys(&d, doc, "data", data_known);
 *     mdu_drift_type(&d, data, "data", "usage", MDU_DRIFT_NUM);
 *     mdu_drift_release(&d, 1);
 * The fields are private to the helpers; a zeroed mdu_drift may be
 * released.  Nothing here fails the collection: drift is advice. */
#define MDU_DRIFT_MAX_FIELD 120
#define MDU_DRIFT_MAX_NOTES 8

typedef struct mdu_drift {
    const md_host *h;
    md_ctx *ctx;
    json_t *state;      /* {"day": n, "noted": [...]} (owned)        */
    long long day;      /* today, days since the epoch (UTC)         */
    int dirty;          /* state gained a field this collection      */
    int n_notes;        /* notes made this collection                */
    int n_dropped;      /* notes over MDU_DRIFT_MAX_NOTES            */
} mdu_drift;

/* JSON types a mapped member may have (a mask); null always passes. */
enum {
    MDU_DRIFT_NUM = 1,  /* a number, or a string host->parse_number reads */
    MDU_DRIFT_STR = 2,
    MDU_DRIFT_BOOL = 4,
    MDU_DRIFT_OBJ = 8,
    MDU_DRIFT_ARR = 16,
};

/* Start a collection's drift notes: read today's already-noted fields.
 * A missing, unreadable or stale drift.json is an empty list.  Cannot
 * fail (out of memory: every field is noted, none remembered). */
void mdu_drift_init(mdu_drift *d, const md_host *h, md_ctx *ctx);

/* Note one unrecognised field, a dotted path ("data.level", "limits[].x"),
 * unless it was noted today.  field is copied. */
void mdu_drift_note(mdu_drift *d, const char *field);

/* Note every member of obj (when it is an object; anything else is
 * ignored) whose name is not in known (NULL-terminated); fields are named
 * "prefix.member", or "member" when prefix is NULL or "".  Returns the
 * number of unknown members, noted today already or not. */
int mdu_drift_keys(mdu_drift *d, const json_t *obj, const char *prefix,
                   const char *const *known);

/* Note obj.member when it is present, not null, and of a type outside
 * accepted (MDU_DRIFT_* bits).  Returns 1 when it is of the wrong type
 * (noted now or earlier today), else 0. */
int mdu_drift_type(mdu_drift *d, const json_t *obj, const char *prefix,
                   const char *member, int accepted);

/* End the collection's drift notes: note how many were over the limit,
 * and, when remember is set (pass whether the collection succeeded: a
 * failed one is retried and should note again), replace drift.json with
 * today's list.  A failed write is not reported; it only repeats a note.
 * Frees what d owns and zeroes d. */
void mdu_drift_release(mdu_drift *d, int remember);

/* ------------------------------------------------------------------ */
/* OAuth refresh of a CLI's credentials file                           */
/* ------------------------------------------------------------------ */

/* For plugins that read the OAuth login a provider's own CLI keeps in a
 * JSON file (Claude Code, Codex, the Gemini CLI, Kimi Code): renew an
 * access token that is expired or has less than 5 minutes left, the way
 * the CLI does, without ever breaking the CLI's login.
 *   - Only when the new tokens can be written back (providers rotate
 *     refresh tokens: an unsaved refresh logs the CLI out): the file and
 *     its directory must be writable and the file's owner and group ones
 *     this process can give a replacement; else the collection fails
 *     with auth saying how long the token lasts and how to fix it.
 *   - Under an exclusive flock on the CLI's own lock file (lock_path), or
 *     on "<file>.meterd.lock" when the CLI takes none; waiting is bounded
 *     by a third of the collection's time, 5 s at most.
 *   - The file is re-read under the lock; when the CLI renewed the token
 *     meanwhile, its token is used and no request is sent.
 *   - The refresh-token grant goes through host->http to the token_url
 *     option (cli->token_url when unset).  400/401/403 fails with auth
 *     ("log in again"), the file untouched.
 *   - Only the token fields of the re-read document change; other keys,
 *     key order, indentation and a final newline are kept, and the file is
 *     replaced atomically with its mode and owner
 *     (mdu_statefile_begin_keep).  A symlink is resolved, so it survives.
 * The plugin declares two options, which these functions read:
 *   {"refresh", MD_OPT_STRING, 0, "auto", "auto: renew ...; off: never
 *    touch the file"},
 *   {"token_url", MD_OPT_STRING, 0, "<the CLI's endpoint>", "..."}
 * Every token read or received is registered with host->add_secret. */

/* How a credentials file stores the access token's expiry. */
typedef enum mdu_oauth_expiry_kind {
    MDU_OAUTH_EXPIRY_NONE = 0,  /* not stored (a JWT carries it)          */
    MDU_OAUTH_EXPIRY_EPOCH_MS,  /* integer epoch milliseconds             */
    MDU_OAUTH_EXPIRY_EPOCH_S    /* fractional epoch seconds               */
} mdu_oauth_expiry_kind;

/* One CLI's credentials layout and token endpoint.  Every string is
 * borrowed for the duration of a call; NULL where "or NULL" is said. */
typedef struct mdu_oauth_cli {
    const char *cli;            /* "Claude Code", for messages             */
    const char *renew;          /* "run `claude`", for messages            */
    const char *lifetime;       /* "about 8-12 hours", for messages        */
    const char *token_url;      /* default when the option is unset        */
    const char *lock_path;      /* the CLI's lock file, or NULL            */
    const char *client_id;      /* the CLI's public OAuth client           */
    const char *client_secret;  /* or NULL                                 */
    int json_body;              /* 1: JSON grant body, 0: form-urlencoded  */
    const char *const *headers; /* extra "Name: value" lines (at most 6,
                                   NULL-terminated), or NULL               */
    const char *obj;            /* dotted path of the object holding the
                                   tokens; NULL or "": the root            */
    const char *access_key;     /* member names under obj                  */
    const char *refresh_key;
    const char *id_token_key;   /* or NULL: the file keeps no id token     */
    const char *expiry_key;     /* under obj; NULL with EXPIRY_NONE        */
    mdu_oauth_expiry_kind expiry_kind; /* how a new expiry is written      */
    const char *expires_in_key; /* rewritten when the file has it; or NULL */
    const char *last_refresh_key; /* at the root, RFC 3339; or NULL       */
    double default_lifetime_s;  /* when the answer has no expires_in       */
    /* The access token's expiry (epoch s) in a document, < 0 unknown; or
     * NULL: expiry_key under obj, epoch seconds or milliseconds. */
    double (*expiry)(const md_host *h, md_ctx *ctx, const json_t *doc);
} mdu_oauth_cli;

/* Make *doc, the plugin's parsed copy of the credentials file at path,
 * hold a usable access token.  Returns 0 when nothing was due (a fresh or
 * an unknown expiry), the CLI had renewed it meanwhile, or it was
 * refreshed and written back (in the last two cases *doc was replaced:
 * the old document is released, the new one is the caller's); 1 when
 * refresh is off or a due token has no refresh token (the caller applies
 * its own expiry check, as it does after 0); -1 after host->fail(). */
int mdu_oauth_refresh(const md_host *h, md_ctx *ctx, const mdu_oauth_cli *cli,
                      const char *path, json_t **doc);

/* Register the access, refresh and id tokens of a credentials document
 * (those cli names) with host->add_secret. */
void mdu_oauth_add_secrets(const md_host *h, md_ctx *ctx,
                           const mdu_oauth_cli *cli, const json_t *doc);

/* For check(): refresh must be auto or off, token_url http(s)://.
 * Returns 0, or -1 after failing with MD_ERR_CONFIG. */
int mdu_oauth_check_options(const md_host *h, md_ctx *ctx);

/* Whether the refresh option is auto (also when unset): 1, else 0. */
int mdu_oauth_enabled(const md_host *h, md_ctx *ctx);

/* ------------------------------------------------------------------ */
/* Crash-safe state files                                              */
/* ------------------------------------------------------------------ */

/* Replace dir/name atomically: write a private temporary file next to it,
 * fsync it, rename it over dir/name, fsync the directory.  A crash at any
 * moment leaves the old file or the new one, never a mix.
 *     mdu_statefile sf;
 *     if (mdu_statefile_begin(&sf, dir, "x.state") != 0) ... errno
 *     if (mdu_write_all(sf.fd, buf, n) != 0) { mdu_statefile_abort(&sf); ...}
 *     if (mdu_statefile_commit(&sf) != 0) ... errno, sf.failed_step
 * Fields are read-only for the caller except writing to fd. */
typedef struct mdu_statefile {
    int fd;                  /* the temporary file, open for writing      */
    char *tmp;               /* its path (malloc'd)                       */
    char *path;              /* dir/name (malloc'd)                       */
    char *dir;               /* dir (malloc'd)                            */
    const char *failed_step; /* after a failed commit: "write", "rename"
                                or "fsync" (static string)                */
} mdu_statefile;

/* Create the temporary file dir/.name.XXXXXX, mode 0600.  Returns 0, or
 * -1 with errno set and nothing to release. */
int mdu_statefile_begin(mdu_statefile *sf, const char *dir,
                        const char *name);
/* mdu_statefile_begin for replacing a file that belongs to someone else's
 * program (a CLI's credentials): the temporary file gets the mode and the
 * owner and group of the existing dir/name instead of 0600, so that the
 * commit changes its content only.  Returns 0, or -1 with errno set and
 * nothing to release: ENOENT and the like when dir/name cannot be
 * stat'ed, EPERM when this process cannot give that owner or group. */
int mdu_statefile_begin_keep(mdu_statefile *sf, const char *dir,
                             const char *name);
/* fsync and close the temporary file, rename it over dir/name, fsync dir.
 * Returns 0, or -1 with errno and failed_step set; the temporary file is
 * gone either way unless the rename happened.  Releases sf's strings
 * except that failed_step stays readable; do not call abort afterwards. */
int mdu_statefile_commit(mdu_statefile *sf);
/* Give up: close and remove the temporary file, release sf. */
void mdu_statefile_abort(mdu_statefile *sf);

/* write(2) / read(2) all n bytes, retrying on EINTR and short transfers.
 * Return 0, or -1 with errno set (read: also at end of file, errno 0). */
int mdu_write_all(int fd, const void *buf, size_t n);
int mdu_read_all(int fd, void *buf, size_t n);

/* ------------------------------------------------------------------ */
/* HTTP responses read by hand                                         */
/* ------------------------------------------------------------------ */

/* For plugins that call host->http themselves (a POST, a soft failure):
 * the pieces mdu_get_json_rl does for them. */

/* Hand the headers of r (any status) to host->emit_rate_limits, which
 * turns the provider's rate-limit headers into metrics.  Does nothing for
 * a NULL r, a response without headers, or a host older than ABI 1.1. */
void mdu_emit_rate_limit_headers(const md_host *h, md_ctx *ctx,
                                 const md_http_response *r);

/* The body of r as a JSON object (new reference), or NULL after failing
 * the collection with MD_ERR_BAD_DATA: "<label>: expected a JSON object"
 * for another JSON value, "<label>: <parser message>" for text that is
 * not JSON.  The status is not looked at: check it first. */
json_t *mdu_body_json(const md_host *h, md_ctx *ctx,
                      const md_http_response *r, const char *label);

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

/* path with a leading "~" or "~/" replaced by the home directory: $HOME
 * when set and not empty, else the passwd entry of the real user id (as
 * the shells do; a service's helper often runs without HOME).  Any other
 * path, "~user/..." included, is copied unchanged.  Returns a malloc'd
 * string, or NULL with errno set (ENOENT: no home directory is known;
 * ENOMEM). */
char *mdu_expand_home(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* METERD_UTIL_H */
