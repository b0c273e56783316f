/*
 * plugins/sdk/logscan.h - incremental, crash-safe scanning of local CLI
 * usage logs (JSONL), shared by the claude_logs and codex_logs plugins.
 * Private to libmeterd-plugin.a (not installed, not part of
 * meterd/util.h); SDK + libc + jansson only.
 *
 * Model
 *   - Every deduplicated usage event is one ls_ent (64 bytes): its dedup
 *     keys (64-bit hashes), the file it came from, its 15-minute slot, its
 *     model and its token buckets.  Cells (md_usage_cell) are derived from
 *     the live entries at the end of every run that changed something, so
 *     removing a file's contribution (truncation, rotation) is "mark its
 *     entries dead" and replacing a duplicate is "overwrite the entry".
 *   - One state file (state_dir/logscan.state) holds the entries, then the
 *     file index (path, device, inode, size, mtime, offset of the next
 *     unread line, plugin parser state), the model names, the cells and a
 *     plugin blob, after a header with their counts.  The entries come
 *     first because they are final before the cells are: a run writes
 *     them (most of the file) while it builds the cells (ls_save_start).
 *     The file is replaced atomically (mdu_statefile: tmp + fsync +
 *     rename + fsync of the directory, the core's own code) and only at
 *     the end of a run, so a kill at any moment leaves the previous
 *     consistent state.  A run over
 *     an unchanged tree reads the index and the cells, stats every file and
 *     never opens a log (nor reads the entries section).
 *   - state_dir/lock is flock()ed for the whole run: the daemon and
 *     `meterd report daily` may run the same plugin at once.
 *   - Threads: the files to read are parsed by up to LS_MAX_THREADS
 *     threads (pthreads, inside the plugin's helper process), each taking
 *     the next unread file; the parser turns lines into records (ls_emit)
 *     and touches nothing shared.  The thread that called ls_scan applies
 *     the records file by file in index order, line by line, so dedup,
 *     model numbering, entry order and float sums are exactly those of a
 *     single-threaded scan.  Records travel in 64 KiB chunks; at most
 *     LS_CHUNKS_MAX chunks wait at any time (a thread whose file is not the
 *     one being applied waits for room), so memory stays bounded whatever
 *     the tree.  When a file stops early (budget), files after it are
 *     discarded unapplied: their offsets stay where they were.
 *   - Reading is streamed through a fixed LS_BUF buffer per thread (pread:
 *     a file may grow or shrink while it is read; a mapping would turn a
 *     shrink into SIGBUS, and measured no faster here).  A line longer than
 *     the buffer is first scanned for the plugin's markers without keeping
 *     it; only a long line that carries a marker is read whole (up to
 *     LS_LINE_CAP, beyond which it is skipped with a note).  A last line
 *     without its newline is not consumed: the offset stays before it.
 *   - Which lines are parsed: without a classifier, exactly the lines that
 *     carry a marker (the search jumps from marker to marker).  With one
 *     (ls_plugin_fns.classify), each line is first decided from its start:
 *     LS_LINE_SKIP lines are stepped over with memchr, their bytes never
 *     examined (a long one is not searched for markers either);
 *     LS_LINE_PARSE lines are parsed; LS_LINE_UNKNOWN lines fall back to
 *     the marker search of that line.  A classifier must only decide lines
 *     in a shape it recognises exactly (key order, no whitespace, no
 *     escapes), so that any other writer's lines still go by the markers;
 *     its SKIP is where it may differ from the marker rule, for lines a
 *     real writer does not produce (see codex_logs.c classify_line).
 *   - Walking: ls_walk opens each directory relative to its parent and
 *     stats its files relative to it; ls_walk_n shares a tree among the
 *     scan threads (the first levels are read breadth first until there
 *     are LS_WALK_SPLIT directories per thread).  Symbolic links are never
 *     followed; the order of the files found does not matter (ls_scan
 *     sorts them by identity).
 *
 * Ownership: ls_scan owns every array it allocates (ls_clear releases them);
 * strings handed to callbacks are borrowed for the call.
 */

#ifndef METERD_LOGSCAN_H
#define METERD_LOGSCAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "meterd/util.h"

#define LS_BUF (1u << 20)           /* read buffer (per scanning thread)     */

#define LS_CHUNK (64u << 10)        /* record chunk                          */

#define LS_CHUNKS_MAX 32u           /* chunks in flight (2 MiB)              */

#define LS_LINE_CAP (64u << 20)     /* longest usage line we will parse      */

#define LS_WALK_SPLIT 4u            /* directories per thread (ls_walk_n)    */

/* 2: ls_ent and ls_cell_disk carry the one-hour cache writes; 3:
 * ls_cell_disk carries the cost parts; 4: the entries come right after
 * the header.  A state file of another layout is discarded (a full
 * re-scan). */
#define LS_MAGIC "MDLSCAN4"

#define LS_ORPHAN UINT32_MAX        /* entry of a file that disappeared      */

#define LS_MAX_MARKERS 4

/* ls_ent.flags */
#define LS_F_SIDECHAIN 0x01u

#define LS_F_SPEED 0x02u       /* usage.speed was present (ccusage tie-break) */

#define LS_F_COST 0x04u        /* cost known                                  */

#define LS_F_CW_KNOWN 0x08u    /* cache_write reported                        */

#define LS_F_CW_NA 0x10u       /* cache_write not applicable for the source   */

#define LS_F_REAS 0x20u        /* reasoning reported                          */

#define LS_F_DEAD 0x40u        /* removed (compacted away at save)            */

#define LS_F_REKEYED 0x80u     /* replaced by a copy under another exact key  */

enum { LS_IN, LS_CR, LS_CW, LS_OUT, LS_REAS, LS_NTOK };

typedef struct ls_ent {
    uint64_t key;     /* exact dedup key, 0 = never deduped                */
    uint64_t mkey;    /* message-only key (sidechain replays), 0 = none    */
    uint32_t file;    /* index into ls_state.files, or LS_ORPHAN           */
    uint32_t slot;    /* slot_start / 900                                  */
    uint16_t model;   /* 0 = unknown model, else models[model - 1]         */
    uint16_t flags;
    uint32_t tok[LS_NTOK];
    float cost;
    uint32_t cw1h;    /* part of tok[LS_CW] with the one-hour TTL; its
                         state follows LS_CW's (0 when not split)      */
} ls_ent;

/* Per-file parser state the plugins keep (codex: previous cumulative
 * totals and current model). */
typedef struct ls_pstate {   /* .model: apply step; the rest: parser */
    uint64_t prev[LS_NTOK + 1];
    uint32_t model;     /* model index + 1, 0 none */
    uint32_t flags;
} ls_pstate;

typedef struct ls_file_disk {
    uint64_t dev, ino, size, offset;
    int64_t mtime_ns;
    uint32_t path_len;
    uint32_t flags;     /* LS_FILE_* */
    ls_pstate ps;
} ls_file_disk;

#define LS_FILE_SEEN 0x1u   /* present in this run's walk                 */

#define LS_FILE_EOF 0x2u    /* read to its end at the recorded size       */

typedef struct ls_file {
    ls_file_disk d;
    char *path;         /* identity of the file (plugin-defined)          */
    char *real;         /* where it is now (NULL: same as path)           */
} ls_file;

typedef struct ls_cell_disk {
    uint32_t slot;
    uint16_t model;
    uint16_t known;     /* bit per LS_* bucket + bit 5 total + bit 6 cost */
    uint16_t na;        /* bit per bucket: not applicable                 */
    uint16_t pad;
    uint32_t events;
    double v[LS_NTOK + 2]; /* buckets, total, cost                        */
    double cw1h;           /* one-hour cache writes (state: LS_CW's)      */
    /* cost parts (md_usage_cell.cost_usd_own, ABI 1.7), when the plugin
     * asked for them (ls_state.cost_parts): the own costs of the events
     * that carried one; the other events' tokens per MD_PRICED_* bucket
     * and their per-event excess over MD_USAGE_TIER_TOKENS */
    double own_cost;
    double priced[MD_PRICED_N];
    double above[MD_PRICED_N];
    uint32_t parts_known;  /* 1: the parts above are complete             */
    uint32_t pad2;
} ls_cell_disk;

typedef struct ls_hdr {
    char magic[8];
    uint32_t n_files, n_models, n_cells, n_ents;
    uint64_t generation;
    uint64_t paths_bytes, models_bytes, blob_len;
    uint32_t complete;   /* every file read to its end at least once      */
    uint32_t pad;
} ls_hdr;

typedef struct ls_state {
    /* persisted */
    ls_hdr h;
    ls_file *files;
    size_t n_files, cap_files;
    char **models;
    size_t n_models, cap_models;
    ls_cell_disk *cells;
    size_t n_cells;
    unsigned char *blob;          /* plugin blob (codex rate limits)      */
    size_t blob_len;
    ls_ent *ents;
    size_t n_ents, cap_ents;
    int ents_loaded;
    /* run */
    int fd_state;                 /* open state file for lazy entry load  */
    off_t ents_off;
    uint32_t *ix_key, *ix_mkey;   /* open addressing, entry index + 1     */
    size_t ix_cap;
    uint32_t min_changed;         /* earliest changed slot, UINT32_MAX    */
    int changed;                  /* cells must be rebuilt                */
    int cells_stale;              /* ls_finish_cells has work to do       */
    int dirty;                    /* state file must be rewritten         */
    uint32_t cutoff_slot;         /* retention                            */
    int cost_parts;               /* cells carry cost parts (the plugin's
                                     events may carry their own cost)     */
    size_t files_read, lines_skipped_long, events_added;
    const char *markers[LS_MAX_MARKERS];
    size_t n_markers;
    int state_refused;            /* logscan.state was a link or not a
                                     regular file: not read (ls_load),
                                     noted by ls_report                   */
} ls_state;

/* 64-bit hash of p[0..n) (FNV-1a with a final avalanche); never 0, so 0
 * can mean "no key". */
uint64_t ls_hash(const void *p, size_t n, uint64_t seed);

/* strdup that returns NULL on out-of-memory (no abort in a plugin). */
char *ls_strdup(const char *s);

/* "YYYY-MM-DDTHH:MM:SS[.fff...]Z" quickly; anything else through the host's
 * RFC 3339 parser.  Returns 0 and *out epoch seconds. */
int ls_parse_ts(const md_host *h, const char *s, double *out);

/* v saturated at UINT32_MAX (token counts of one entry). */
uint32_t ls_sat32(uint64_t v);

/* Model index + 1 for name (interned); 0 for NULL. */
uint16_t ls_model(ls_state *st, const char *name);

/* Entry with this exact key (not replaced under another key), or NULL. */
ls_ent *ls_find_key(ls_state *st, uint64_t k);

/* First entry (in insertion order) with this message key for which
 * either side is a sidechain copy, or NULL. */
ls_ent *ls_find_mkey(ls_state *st, uint64_t mk, int cand_sc);

/* Note that the cell of slot changed (cells are rebuilt from it on). */
void ls_touch(ls_state *st, uint32_t slot);

/* Append an entry (indexed when it has keys).  Returns 0 or -1 (OOM). */
int ls_add(ls_state *st, const ls_ent *e);

/* The sum of an entry's input, cache and output buckets. */
uint64_t ls_ent_total(const ls_ent *e);

/* Release everything st owns and reset it (fd_state closed, -1). */
void ls_clear(ls_state *st);

/* Load everything but the entries (read lazily by ls_load_ents).  A
 * missing or unreadable state file means "start from scratch"; so does
 * one that is a symbolic link or not a regular file, which is not
 * followed (O_NOFOLLOW) and sets st->state_refused. */
void ls_load(ls_state *st, const char *dir);

/* Write the whole state atomically.  Returns 0 or -1 (errno kept). */
int ls_save(ls_state *st, const char *dir);

/* ls_save on a thread of its own, in two parts, so that the file is
 * written and fsynced while the caller works:
 *   ls_save_start   once the entries are final (after ls_finish_ents):
 *                   the thread writes them, while the caller builds the
 *                   cells (ls_finish_cells only reads the entries) and
 *                   sets the rest of st;
 *   ls_save_release once the rest of st is final (go), or to give the
 *                   save up (!go: the old file stays);
 *   ls_save_wait    the result; releases with go first if not done.
 * Between start and release the entries must not change; between
 * release and wait nothing of st may change (ls_put_usage,
 * ls_emit_periods and ls_report only read it).  ls_save_wait must follow
 * every ls_save_start before the plugin returns: the result, which
 * carries the cells, reaches the core only after collect returns, so the
 * state file is on disk before the core saves the cells it claims, and a
 * failed wait fails the run (the core drops the cells of a failed run).
 * Without a thread (none can be made) each part runs in its caller. */
struct ls_out;
typedef struct ls_saver {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ls_state *st;
    const char *dir;
    mdu_statefile sf;       /* the temporary file (part one on)          */
    struct ls_out *o;       /* its writer; NULL once closed or failed    */
    size_t live;            /* entries written                           */
    int started;            /* ls_save_start ran, ls_save_wait did not   */
    int running;            /* the thread exists                         */
    int released;           /* under mu: 0 not yet, 1 go, -1 give up     */
    atomic_int abandon;     /* 1 once given up: part one stops early     */
    int rc, err;            /* the save's result and errno               */
} ls_saver;

void ls_save_start(ls_saver *sv, ls_state *st, const char *dir);
void ls_save_release(ls_saver *sv, int go);
/* 0, or -1 with errno set as the save left it. */
int ls_save_wait(ls_saver *sv);

/* flock state_dir/lock, waiting while the deadline allows.  Returns the
 * fd (kept open for the run) or -1. */
int ls_lock(const md_host *h, md_ctx *ctx, const char *dir);

/* One file ls_walk found; id and real are malloc'd, owned by the list. */
typedef struct ls_found {
    char *id;     /* identity (sorted on)           */
    char *real;   /* actual path                    */
    struct stat sb;
} ls_found;

typedef struct ls_list {
    ls_found *v;
    size_t n, cap;
} ls_list;

/* Which file names ls_walk keeps (non-zero: keep). */
typedef int (*ls_accept_fn)(const char *name);

/* Collect regular files (not symlinks, as ccusage's read_dir walk) under
 * dir whose name passes ok into out (identity and path both the real path);
 * recursive when recurse, at most 64 levels deep (depth: start at 0). */
void ls_walk(const char *dir, int recurse, ls_accept_fn ok, ls_list *out,
             int depth);

/* ls_walk(dir, recursive) with the subdirectories of dir shared among
 * `threads` threads (the caller's included; 1: ls_walk).  The files come
 * in no particular order (ls_scan sorts them). */
void ls_walk_n(const char *dir, ls_accept_fn ok, ls_list *out,
               unsigned threads);

/* Release the identities and paths of l and its array. */
void ls_list_release(ls_list *l);

/* Where a parser puts its records (see "Threads" above). */
typedef struct ls_sink ls_sink;

/* What a parser may read: the host (pure services only: parse_time), the
 * retention cut-off and the plugin's read-only configuration. */
typedef struct ls_parse_env {
    const md_host *h;
    uint32_t cutoff_slot;
    const void *conf;
} ls_parse_env;

/* Parse one complete line (without its newline) of a file, in a scanning
 * thread: append what it yields to out with ls_emit.  ps is the file's
 * parser state (all but ps->model, which belongs to the apply step).
 * Returns 0, or -1 on a fatal error (out of memory). */
typedef int (*ls_parse_fn)(const ls_parse_env *env, ls_sink *out,
                           ls_pstate *ps, const char *line, size_t len);

/* Append one record of n bytes (n <= LS_REC_MAX) to out.  0 or -1 (OOM). */
int ls_emit(ls_sink *out, const void *rec, size_t n);

#define LS_REC_MAX 4096u

/* Apply one record, on the thread that owns st, in file order and line
 * order: the same sequence whatever the number of threads.  ps is the
 * file's state in st (only ps->model may be changed here).  Returns 0 or
 * -1 (out of memory). */
typedef int (*ls_apply_fn)(ls_state *st, uint32_t fi, ls_pstate *ps,
                           const void *rec, size_t n, void *user);

/* What a plugin's classifier says about a line from its first bytes. */
enum {
    LS_LINE_UNKNOWN = 0, /* not decided: the marker search decides      */
    LS_LINE_SKIP,        /* parse would yield nothing: skipped unread   */
    LS_LINE_PARSE        /* parse it (it carries a marker)              */
};

/* Optional fast path: decide a line from its start p[0..n) (n: the bytes
 * at hand, the line may go on past them; they may hold the next lines
 * too).  Must answer LS_LINE_UNKNOWN unless the bytes it read settle the
 * question: LS_LINE_SKIP only when parse would emit nothing and change no
 * parser state whatever follows, LS_LINE_PARSE only for a line that
 * carries a marker (so that a classified scan parses no line the marker
 * search would not have found).  Runs on the scanning threads. */
typedef int (*ls_classify_fn)(const char *p, size_t n);

/* The plugin's half of a scan. */
typedef struct ls_plugin_fns {
    ls_parse_fn parse;
    ls_apply_fn apply;
    ls_classify_fn classify;  /* NULL: every line goes by the markers   */
    const void *conf;   /* handed to parse (read-only, shared by threads) */
    void *user;         /* handed to apply                                */
} ls_plugin_fns;

/* Scanning threads for a `threads` option value v (<= 0: the online CPUs),
 * at most LS_MAX_THREADS. */
unsigned ls_threads(long long v);

#define LS_MAX_THREADS 4

/* memmem for short needles (2..64 bytes), 16 positions at a time: a
 * position is a candidate when both the needle's first and last bytes
 * match (W. Mula's "SIMD-friendly" substring search); candidates are
 * confirmed with memcmp.  glibc's memmem was a quarter of the cold scan. */
const char *ls_memmem(const char *h, size_t hn, const char *nd, size_t nn);

/* The markers of a scan, prepared for a vector search: each tested first
 * on its two rarest bytes (a < b), then compared whole. */
typedef struct ls_needle {
    const char *s;
    size_t n, a, b;
} ls_needle;

typedef struct ls_needles {
    ls_needle v[LS_MAX_MARKERS];
    size_t n, maxb;
} ls_needles;

void ls_needles_init(ls_needles *nd, const char *const *markers, size_t n);

/* The earliest occurrence of any marker in p[0..n), or NULL (AVX2 when
 * the CPU has it, else SSE2). */
const char *ls_needles_find(const ls_needles *nd, const char *p, size_t n);

/* Hand the cells to the core (ABI 1.2).  since_slot: earliest changed
 * slot; everything when the core's generation differs from ours. */
void ls_put_usage(const md_host *h, md_ctx *ctx, ls_state *st, int changed,
                  uint32_t since_slot);

/* Emit today / 5h / 7d token buckets (confidence estimated). */
void ls_emit_periods(const md_host *h, md_ctx *ctx, const ls_state *st,
                     double now, int cw_na_empty, int reas_known_empty);

/* What ls_scan did, for the notes and for the plugin's success. */
typedef struct ls_result {
    size_t files_total, files_done, files_read;
    int complete;   /* every file read to its end                       */
    int failed;     /* fatal error (message logged)                     */
} ls_result;

/* Scan every file of found (identities set, any order; consumed) into st:
 * the incremental core of both plugins.  Stops at ~80 % of the budget
 * (budget_ms = remaining at the start of the collection). */
ls_result ls_scan(const md_host *h, md_ctx *ctx, ls_state *st, ls_list *found,
                  const ls_plugin_fns *fns, unsigned threads,
                  long long budget_ms);

/* After ls_scan, in two steps.  ls_finish_ents: when entries changed or
 * some fell out of the retention window, mark those dead, bump the
 * generation and note that the cells are stale; the entries are final
 * from here (ls_save_start may write them).  ls_finish_cells: rebuild
 * the stale cells from the entries, which it only reads.  ls_finish:
 * both.  Each returns 0 or -1 (out of memory, unreadable state). */
int ls_finish_ents(ls_state *st, double now, double retention_s);
int ls_finish_cells(ls_state *st);
int ls_finish(ls_state *st, double now, double retention_s);
/* ls_finish_ents, then, when the state is dirty, ls_save_start(sv, st,
 * dir) (*saving = 1), then ls_finish_cells: the plugins' way to finish a
 * scan with the entries written meanwhile.  The caller sets the rest of
 * st, then ls_save_release(sv, 1) and ls_save_wait when *saving (or
 * starts the save itself when st became dirty since).  -1 when a step
 * failed: the save, if started, is given up (*saving = 0). */
int ls_finish_saving(ls_state *st, double now, double retention_s,
                     ls_saver *sv, const char *dir, int *saving);

/* The notes every log plugin attaches after a scan: roots (or what was
 * missing), files and events of this run, an unfinished first scan, skipped
 * over-long lines, and why the figures are estimates. */
void ls_report(const md_host *h, md_ctx *ctx, const ls_state *st,
               const ls_result *res, size_t n_roots, const char *roots,
               const char *missing, size_t events, const char *events_what,
               const char *estimate);

#endif
