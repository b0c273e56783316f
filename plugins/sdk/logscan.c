/*
 * plugins/sdk/logscan.c - the incremental log scanner (see logscan.h for
 * the model, the state file and the invariants).
 */
#include "logscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- small helpers ---- */

uint64_t ls_hash(const void *p, size_t n, uint64_t seed)
{
    /* FNV-1a 64 with a final avalanche (splitmix) so that open addressing
     * on the low bits behaves. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1;
}

char *ls_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int ls_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

int ls_parse_ts(const md_host *h, const char *s, double *out)
{
    size_t n = strlen(s);
    int fast = n >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' &&
               s[13] == ':' && s[16] == ':' && s[n - 1] == 'Z';
    static const int dig[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    for (size_t i = 0; fast && i < sizeof dig / sizeof dig[0]; i++)
        fast = s[dig[i]] >= '0' && s[dig[i]] <= '9';
    if (fast && n > 20) {
        fast = s[19] == '.' && n > 21;
        for (size_t i = 20; fast && i < n - 1; i++)
            fast = s[i] >= '0' && s[i] <= '9';
    }
    if (fast) {
#define LS_D2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
        int y = LS_D2(0) * 100 + LS_D2(2), mo = LS_D2(5), d = LS_D2(8);
        int hh = LS_D2(11), mi = LS_D2(14), ss = LS_D2(17);
#undef LS_D2
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mi > 59 ||
            ss > 60)
            return -1;
        double frac = 0, scale = 0.1;
        for (size_t i = 20; i < n - 1; i++, scale /= 10)
            frac += (s[i] - '0') * scale;
        *out = (double)(mdu_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                        hh * 3600 + mi * 60 + ss) + frac;
        return 0;
    }
    md_time t;
    if (h->parse_time(s, &t) != 0 || t.state != MD_KNOWN)
        return -1;
    *out = t.epoch;
    return 0;
}

uint32_t ls_sat32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* ---- models ---- */

uint16_t ls_model(ls_state *st, const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < st->n_models; i++)
        if (strcmp(st->models[i], name) == 0)
            return (uint16_t)(i + 1);
    if (st->n_models >= 65000 ||
        ls_grow((void **)&st->models, &st->cap_models, st->n_models + 1,
                sizeof(char *)))
        return 0;
    char *d = ls_strdup(name);
    if (!d)
        return 0;
    st->models[st->n_models++] = d;
    return (uint16_t)st->n_models;
}

/* ---- dedup index ---- */

static void ls_ix_put(uint32_t *ix, size_t cap, uint64_t k, uint32_t idx1)
{
    size_t m = cap - 1, i = (size_t)k & m;
    while (ix[i])
        i = (i + 1) & m;
    ix[i] = idx1;
}

static int ls_ix_build(ls_state *st, size_t need)
{
    size_t cap = 1024;
    while (cap < need * 2)
        cap *= 2;
    uint32_t *a = calloc(cap, sizeof *a), *b = calloc(cap, sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    free(st->ix_key);
    free(st->ix_mkey);
    st->ix_key = a;
    st->ix_mkey = b;
    st->ix_cap = cap;
    for (size_t e = 0; e < st->n_ents; e++) {
        const ls_ent *x = &st->ents[e];
        if (x->flags & LS_F_DEAD)
            continue;
        if (x->key)
            ls_ix_put(a, cap, x->key, (uint32_t)(e + 1));
        if (x->mkey)
            ls_ix_put(b, cap, x->mkey, (uint32_t)(e + 1));
    }
    return 0;
}

ls_ent *ls_find_key(ls_state *st, uint64_t k)
{
    if (!st->ix_cap)
        return NULL;
    size_t m = st->ix_cap - 1;
    for (size_t i = (size_t)k & m; st->ix_key[i]; i = (i + 1) & m) {
        ls_ent *x = &st->ents[st->ix_key[i] - 1];
        if (x->key == k && !(x->flags & (LS_F_DEAD | LS_F_REKEYED)))
            return x;
    }
    return NULL;
}

ls_ent *ls_find_mkey(ls_state *st, uint64_t mk, int cand_sc)
{
    if (!st->ix_cap)
        return NULL;
    size_t m = st->ix_cap - 1;
    ls_ent *best = NULL;
    for (size_t i = (size_t)mk & m; st->ix_mkey[i]; i = (i + 1) & m) {
        ls_ent *x = &st->ents[st->ix_mkey[i] - 1];
        if (x->mkey != mk || (x->flags & LS_F_DEAD))
            continue;
        if (!cand_sc && !(x->flags & LS_F_SIDECHAIN))
            continue;
        if (!best || x < best)
            best = x;
    }
    return best;
}

void ls_touch(ls_state *st, uint32_t slot)
{
    st->changed = 1;
    st->dirty = 1;
    if (slot < st->min_changed)
        st->min_changed = slot;
}

int ls_add(ls_state *st, const ls_ent *e)
{
    if (ls_grow((void **)&st->ents, &st->cap_ents, st->n_ents + 1,
                sizeof *e))
        return -1;
    if ((e->key || e->mkey) && (st->n_ents + 1) * 2 > st->ix_cap &&
        ls_ix_build(st, st->n_ents + 1 + st->n_ents / 2))
        return -1;
    st->ents[st->n_ents] = *e;
    uint32_t idx1 = (uint32_t)(st->n_ents + 1);
    st->n_ents++;
    if (e->key)
        ls_ix_put(st->ix_key, st->ix_cap, e->key, idx1);
    if (e->mkey)
        ls_ix_put(st->ix_mkey, st->ix_cap, e->mkey, idx1);
    ls_touch(st, e->slot);
    st->events_added++;
    return 0;
}

/* Remove the contribution of file index fi (truncated or rotated). */
static void ls_drop_file(ls_state *st, uint32_t fi)
{
    for (size_t e = 0; e < st->n_ents; e++) {
        ls_ent *x = &st->ents[e];
        if (x->file == fi && !(x->flags & LS_F_DEAD)) {
            x->flags |= LS_F_DEAD;
            ls_touch(st, x->slot);
        }
    }
}

uint64_t ls_ent_total(const ls_ent *e)
{
    return (uint64_t)e->tok[LS_IN] + e->tok[LS_CR] + e->tok[LS_CW] +
           e->tok[LS_OUT];
}

/* ---- state file ---- */

void ls_clear(ls_state *st)
{
    for (size_t i = 0; i < st->n_files; i++) {
        free(st->files[i].path);
        free(st->files[i].real);
    }
    for (size_t i = 0; i < st->n_models; i++)
        free(st->models[i]);
    free(st->files);
    free(st->models);
    free(st->cells);
    free(st->blob);
    free(st->ents);
    free(st->ix_key);
    free(st->ix_mkey);
    if (st->fd_state >= 0)
        close(st->fd_state);
    memset(st, 0, sizeof *st);
    st->fd_state = -1;
}

/* Read a NUL-separated string blob of n strings into *out. */
static int ls_read_strings(int fd, size_t bytes, size_t n, char **out)
{
    char *blob = malloc(bytes + 1);
    if (!blob || mdu_read_all(fd, blob, bytes)) {
        free(blob);
        return -1;
    }
    blob[bytes] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (off >= bytes) {
            free(blob);
            return -1;
        }
        out[i] = ls_strdup(blob + off);
        off += strlen(blob + off) + 1;
    }
    free(blob);
    return 0;
}

void ls_load(ls_state *st, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/logscan.state", dir);
    /* Never through a link someone planted in the state directory, and
     * never blocked on a FIFO there: only a regular file is state. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        st->state_refused = errno == ELOOP;
        goto fresh;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        st->state_refused = 1;
        goto fresh;
    }
    ls_hdr h;
    if (mdu_read_all(fd, &h, sizeof h) || memcmp(h.magic, LS_MAGIC, 8))
        goto bad;
    /* The sections' sizes must add up to the file's: a header that
     * does not describe its file (a torn or foreign one) starts over. */
    uint64_t want = sizeof h, part;
    int over = 0;
    over |= __builtin_mul_overflow((uint64_t)h.n_ents, sizeof(ls_ent), &part) ||
            __builtin_add_overflow(want, part, &want);
    over |= __builtin_mul_overflow((uint64_t)h.n_files, sizeof(ls_file_disk),
                                   &part) ||
            __builtin_add_overflow(want, part, &want);
    over |= __builtin_mul_overflow((uint64_t)h.n_cells, sizeof(ls_cell_disk),
                                   &part) ||
            __builtin_add_overflow(want, part, &want);
    over |= __builtin_add_overflow(want, h.paths_bytes, &want) ||
            __builtin_add_overflow(want, h.models_bytes, &want) ||
            __builtin_add_overflow(want, h.blob_len, &want);
    if (over || want != (uint64_t)sb.st_size)
        goto bad;
    /* the entries follow the header; they are read when needed */
    st->ents_off = (off_t)sizeof h;
    if (lseek(fd, st->ents_off + (off_t)h.n_ents * (off_t)sizeof(ls_ent),
              SEEK_SET) < 0)
        goto bad;
    st->files = calloc(h.n_files ? h.n_files : 1, sizeof *st->files);
    st->models = calloc(h.n_models ? h.n_models : 1, sizeof(char *));
    st->cells = malloc((h.n_cells ? h.n_cells : 1) * sizeof *st->cells);
    st->blob = malloc(h.blob_len ? h.blob_len : 1);
    if (!st->files || !st->models || !st->cells || !st->blob)
        goto bad;
    st->cap_files = h.n_files ? h.n_files : 1;
    st->cap_models = h.n_models ? h.n_models : 1;
    {
        /* one read for the whole index (a re-scan is mostly this and the
         * stats: a read() per record cost a syscall per file) */
        ls_file_disk *recs = malloc((h.n_files ? h.n_files : 1) * sizeof *recs);
        if (!recs || mdu_read_all(fd, recs, h.n_files * sizeof *recs)) {
            free(recs);
            goto bad;
        }
        for (size_t i = 0; i < h.n_files; i++)
            st->files[i].d = recs[i];
        free(recs);
    }
    {
        char **paths = calloc(h.n_files ? h.n_files : 1, sizeof(char *));
        if (!paths || ls_read_strings(fd, h.paths_bytes, h.n_files, paths)) {
            free(paths);
            goto bad;
        }
        for (size_t i = 0; i < h.n_files; i++) {
            st->files[i].path = paths[i];
            st->files[i].d.flags &= ~LS_FILE_SEEN;
        }
        st->n_files = h.n_files;
        free(paths);
    }
    if (ls_read_strings(fd, h.models_bytes, h.n_models, st->models))
        goto bad;
    st->n_models = h.n_models;
    if (mdu_read_all(fd, st->cells, h.n_cells * sizeof *st->cells) ||
        mdu_read_all(fd, st->blob, h.blob_len))
        goto bad;
    st->n_cells = h.n_cells;
    st->blob_len = h.blob_len;
    st->h = h;
    st->fd_state = fd;
    return;
bad:
    close(fd);
    ls_clear(st);
fresh:
    memset(&st->h, 0, sizeof st->h);
    memcpy(st->h.magic, LS_MAGIC, 8);
    st->ents_loaded = 1;
}

/* Read the entries section (once, before the first change). */
static int ls_load_ents(ls_state *st)
{
    if (st->ents_loaded)
        return 0;
    st->ents_loaded = 1;
    size_t n = st->h.n_ents;
    if (!n)
        return 0;
    if (ls_grow((void **)&st->ents, &st->cap_ents, n, sizeof *st->ents))
        return -1;
    if (lseek(st->fd_state, st->ents_off, SEEK_SET) < 0 ||
        mdu_read_all(st->fd_state, st->ents, n * sizeof *st->ents))
        return -1;
    st->n_ents = n;
    return ls_ix_build(st, n);
}

/* The state file's writer: small pieces (a file record, a path, a model
 * name) gather in a buffer, so that a tree of n files costs a few writes
 * rather than 2n; a large piece (the entries) goes straight through, in
 * LS_SYNC_STEP pieces after each of which the kernel is asked to start
 * writing it back (sync_file_range), so that the commit's fsync finds
 * most of the file on disk already instead of starting then. */
#define LS_SYNC_STEP (4u << 20)

typedef struct ls_out {
    int fd;
    int rc, err;         /* the first failure and its errno */
    const atomic_int *stop;   /* set: give up (ls_save_release, !go) */
    off_t off, synced;   /* bytes written; bytes whose writeback started */
    size_t len;
    unsigned char buf[64u << 10];
} ls_out;

static void ls_out_fail(ls_out *o, int err)
{
    o->rc = -1;
    o->err = err ? err : EIO;   /* a write of 0 bytes sets no errno */
}

static void ls_out_write(ls_out *o, const void *p, size_t n)
{
    if (o->rc)
        return;
    if (o->stop && atomic_load_explicit(o->stop, memory_order_relaxed)) {
        ls_out_fail(o, ECANCELED);
        return;
    }
    errno = 0;
    if (mdu_write_all(o->fd, p, n) != 0) {
        ls_out_fail(o, errno);
        return;
    }
    o->off += (off_t)n;
    if (!o->rc && o->off - o->synced >= (off_t)LS_SYNC_STEP) {
        /* advisory: a failure here shows in the commit's fsync */
        (void)sync_file_range(o->fd, o->synced, o->off - o->synced,
                              SYNC_FILE_RANGE_WRITE);
        o->synced = o->off;
    }
}

static void ls_out_flush(ls_out *o)
{
    if (o->len)
        ls_out_write(o, o->buf, o->len);
    o->len = 0;
}

static void ls_out_put(ls_out *o, const void *p, size_t n)
{
    if (o->rc)
        return;
    if (o->len + n > sizeof o->buf)
        ls_out_flush(o);
    if (n >= sizeof o->buf) {
        const unsigned char *b = p;
        for (size_t k; n; b += k, n -= k) {
            k = n < LS_SYNC_STEP ? n : LS_SYNC_STEP;
            ls_out_write(o, b, k);
        }
        return;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

/* Part one of a save: the temporary file, a placeholder for the header
 * (written last, at offset 0, once the counts are known) and the live
 * entries, in insertion order (keeps ccusage's "first wins" order across
 * runs).  Only reads st->ents. */
static void save_begin(ls_saver *sv)
{
    ls_state *st = sv->st;
    sv->o = malloc(sizeof *sv->o);
    if (!sv->o) {
        sv->rc = -1;
        sv->err = ENOMEM;
        return;
    }
    if (mdu_statefile_begin(&sv->sf, sv->dir, "logscan.state") != 0) {
        sv->rc = -1;
        sv->err = errno;
        free(sv->o);
        sv->o = NULL;
        return;
    }
    ls_out *o = sv->o;
    *o = (ls_out){.fd = sv->sf.fd, .stop = &sv->abandon};
    ls_hdr zero;
    memset(&zero, 0, sizeof zero);
    ls_out_put(o, &zero, sizeof zero);
    sv->live = 0;
    for (size_t e = 0, run = 0; !o->rc && e <= st->n_ents; e++) {
        if (e == st->n_ents || (st->ents[e].flags & LS_F_DEAD)) {
            if (run)
                ls_out_put(o, &st->ents[e - run], run * sizeof(ls_ent));
            sv->live += run;
            run = 0;
        } else
            run++;
    }
}

/* Part two: the rest of st (final by now), the header, the commit; or,
 * when !go, nothing but removing the temporary file. */
static void save_end(ls_saver *sv, int go)
{
    ls_state *st = sv->st;
    ls_out *o = sv->o;
    if (!o)
        return;   /* part one failed: rc and err are set */
    if (go) {
        for (size_t i = 0; i < st->n_files; i++)
            ls_out_put(o, &st->files[i].d, sizeof st->files[i].d);
        for (size_t i = 0; i < st->n_files; i++)
            ls_out_put(o, st->files[i].path, strlen(st->files[i].path) + 1);
        for (size_t i = 0; i < st->n_models; i++)
            ls_out_put(o, st->models[i], strlen(st->models[i]) + 1);
        ls_out_put(o, st->cells, st->n_cells * sizeof *st->cells);
        if (st->blob_len)
            ls_out_put(o, st->blob, st->blob_len);
        ls_out_flush(o);
        ls_hdr h = st->h;
        memcpy(h.magic, LS_MAGIC, 8);
        h.n_files = (uint32_t)st->n_files;
        h.n_models = (uint32_t)st->n_models;
        h.n_cells = (uint32_t)st->n_cells;
        h.n_ents = (uint32_t)sv->live;
        h.blob_len = st->blob_len;
        h.paths_bytes = h.models_bytes = 0;
        for (size_t i = 0; i < st->n_files; i++)
            h.paths_bytes += strlen(st->files[i].path) + 1;
        for (size_t i = 0; i < st->n_models; i++)
            h.models_bytes += strlen(st->models[i]) + 1;
        errno = 0;
        if (!o->rc && pwrite(o->fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
            ls_out_fail(o, errno);
    }
    int rc = go ? o->rc : -1;
    int e = go ? o->err : ECANCELED;
    free(o);
    sv->o = NULL;
    if (rc) {
        mdu_statefile_abort(&sv->sf);
        sv->rc = -1;
        sv->err = e;
        return;
    }
    sv->rc = mdu_statefile_commit(&sv->sf);
    sv->err = sv->rc ? errno : 0;
}

int ls_save(ls_state *st, const char *dir)
{
    ls_saver sv = {.st = st, .dir = dir};
    save_begin(&sv);
    save_end(&sv, 1);
    if (sv.rc)
        errno = sv.err;
    return sv.rc ? -1 : 0;
}

static void *save_main(void *arg)
{
    ls_saver *sv = arg;
    save_begin(sv);
    pthread_mutex_lock(&sv->mu);
    while (!sv->released)
        pthread_cond_wait(&sv->cv, &sv->mu);
    int go = sv->released > 0;
    pthread_mutex_unlock(&sv->mu);
    save_end(sv, go);
    return NULL;
}

void ls_save_start(ls_saver *sv, ls_state *st, const char *dir)
{
    *sv = (ls_saver){.st = st, .dir = dir, .started = 1};
    atomic_init(&sv->abandon, 0);
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->cv, NULL);
    /* Signals stay with the thread that called us. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    sv->running = pthread_create(&sv->tid, NULL, save_main, sv) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!sv->running)
        save_begin(sv);
}

void ls_save_release(ls_saver *sv, int go)
{
    if (!sv->started || sv->released)
        return;
    if (!go)   /* seen between the entries' pieces: stop writing them */
        atomic_store_explicit(&sv->abandon, 1, memory_order_relaxed);
    if (!sv->running) {
        sv->released = go ? 1 : -1;
        save_end(sv, go);
        return;
    }
    pthread_mutex_lock(&sv->mu);
    sv->released = go ? 1 : -1;
    pthread_cond_signal(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
}

int ls_save_wait(ls_saver *sv)
{
    if (!sv->started)
        return 0;
    ls_save_release(sv, 1);
    if (sv->running)
        pthread_join(sv->tid, NULL);
    sv->running = 0;
    sv->started = 0;
    pthread_cond_destroy(&sv->cv);
    pthread_mutex_destroy(&sv->mu);
    if (sv->rc)
        errno = sv->err;
    return sv->rc ? -1 : 0;
}

/* ---- lock ---- */

int ls_lock(const md_host *h, md_ctx *ctx, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", dir);
    /* O_NOFOLLOW: O_CREAT through a planted link would create its target. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR)
            break;
        if (h->remaining_ms(ctx) < 200)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    close(fd);
    return -1;
}

/* ---- file index ---- */

/* ---- walking ---- */

/* Append the regular file path[0..plen)/name, whose stat is sb, to out.
 * Returns 0, or -1 on out of memory. */
static int ls_walk_add(ls_list *out, const char *path, size_t plen,
                       const char *name, const struct stat *sb)
{
    if (ls_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v))
        return -1;
    size_t nl = strlen(name);
    char *real = malloc(plen + 1 + nl + 1);
    if (!real)
        return -1;
    memcpy(real, path, plen);
    real[plen] = '/';
    memcpy(real + plen + 1, name, nl + 1);
    ls_found *f = &out->v[out->n++];
    f->real = real;
    f->id = NULL;
    f->sb = *sb;
    return 0;
}

/* What the walks do with directory entry de of d: LS_ENTRY_SKIP ("." and
 * "..", symlinks, files ok() refuses, entries that vanished),
 * LS_ENTRY_DIR or LS_ENTRY_FILE (*sb then holds its lstat).  d_type
 * spares a stat per directory and per symlink; files need theirs anyway
 * (size, mtime, inode). */
enum { LS_ENTRY_SKIP, LS_ENTRY_DIR, LS_ENTRY_FILE };

static int ls_walk_entry(DIR *d, const struct dirent *de, ls_accept_fn ok,
                         struct stat *sb)
{
    const char *name = de->d_name;
    if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
        return LS_ENTRY_SKIP;
    if (de->d_type == DT_LNK || (de->d_type == DT_REG && !ok(name)))
        return LS_ENTRY_SKIP;
    if (de->d_type == DT_DIR)
        return LS_ENTRY_DIR;
    if (fstatat(dirfd(d), name, sb, AT_SYMLINK_NOFOLLOW) != 0)
        return LS_ENTRY_SKIP;
    return S_ISDIR(sb->st_mode) ? LS_ENTRY_DIR : LS_ENTRY_FILE;
}

/* The walk below directory dfd (consumed), whose path is path[0..plen)
 * (path has room for 4096 bytes: deeper names are skipped).  Entries are
 * opened and stat'ed relative to dfd: no path is resolved twice. */
static void ls_walk_fd(int dfd, char *path, size_t plen, int recurse,
                       ls_accept_fn ok, ls_list *out, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        struct stat sb;
        int kind = ls_walk_entry(d, de, ok, &sb);
        if (kind == LS_ENTRY_SKIP)
            continue;
        int is_dir = kind == LS_ENTRY_DIR;
        if (is_dir) {
            size_t nl = strlen(name);
            if (!recurse || depth >= 64 || plen + 1 + nl >= 4096)
                continue;
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY |
                                              O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            path[plen] = '/';
            memcpy(path + plen + 1, name, nl + 1);
            ls_walk_fd(sub, path, plen + 1 + nl, recurse, ok, out, depth + 1);
            path[plen] = '\0';
        } else if (S_ISREG(sb.st_mode) && ok(name) &&
                   plen + 1 + strlen(name) < 4096) {
            if (ls_walk_add(out, path, plen, name, &sb))
                break;
        }
    }
    closedir(d);
}

void ls_walk(const char *dir, int recurse, ls_accept_fn ok, ls_list *out,
             int depth)
{
    char path[4096];
    size_t plen = strlen(dir);
    if (depth > 64 || plen >= sizeof path)
        return;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    memcpy(path, dir, plen + 1);
    ls_walk_fd(dfd, path, plen, recurse, ok, out, depth);
}

/* The shared walk (ls_walk_n): the first levels are read on the calling
 * thread, breadth first, until there are enough directories to share
 * (LS_WALK_SPLIT per thread) or no deeper level; then each thread takes
 * the next of these directories and walks it whole (ls_walk_fd). */
typedef struct ls_wdir {
    char *path;
    int depth;
} ls_wdir;

typedef struct ls_walk_job {
    ls_accept_fn ok;
    ls_wdir *dirs;
    size_t n;
    size_t next;         /* under mu                                     */
    pthread_mutex_t mu;
} ls_walk_job;

typedef struct ls_walk_thr {
    ls_walk_job *job;
    ls_list out;
} ls_walk_thr;

static void *ls_walk_worker(void *arg)
{
    ls_walk_thr *t = arg;
    ls_walk_job *j = t->job;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n)
            break;
        char path[4096];
        size_t plen = strlen(j->dirs[i].path);
        memcpy(path, j->dirs[i].path, plen + 1);
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd >= 0)
            ls_walk_fd(dfd, path, plen, 1, j->ok, &t->out, j->dirs[i].depth);
    }
    return NULL;
}

/* Read the directories of level (paths consumed) into out (files) and
 * *next (subdirectories, one level deeper).  Returns -1 on out of memory. */
static int ls_walk_level(ls_accept_fn ok, ls_wdir *level, size_t n,
                         ls_list *out, ls_wdir **next, size_t *n_next)
{
    size_t cap = 0;
    int rc = 0;
    *next = NULL;
    *n_next = 0;
    for (size_t i = 0; i < n; i++) {
        DIR *d = rc ? NULL : opendir(level[i].path);
        size_t plen = strlen(level[i].path);
        struct dirent *de;
        while (d && !rc && (de = readdir(d))) {
            const char *name = de->d_name;
            struct stat sb;
            int kind = ls_walk_entry(d, de, ok, &sb);
            if (kind == LS_ENTRY_SKIP)
                continue;
            int is_dir = kind == LS_ENTRY_DIR;
            size_t nl = strlen(name);
            if (plen + 1 + nl >= 4096)
                continue;
            if (is_dir) {
                if (level[i].depth >= 64)
                    continue;
                char *sub = malloc(plen + 1 + nl + 1);
                if (!sub || ls_grow((void **)next, &cap, *n_next + 1,
                                    sizeof **next)) {
                    free(sub);
                    rc = -1;
                    break;
                }
                memcpy(sub, level[i].path, plen);
                sub[plen] = '/';
                memcpy(sub + plen + 1, name, nl + 1);
                (*next)[(*n_next)++] = (ls_wdir){sub, level[i].depth + 1};
            } else if (S_ISREG(sb.st_mode) && ok(name))
                rc = ls_walk_add(out, level[i].path, plen, name, &sb);
        }
        if (d)
            closedir(d);
        free(level[i].path);
    }
    return rc;
}

void ls_walk_n(const char *dir, ls_accept_fn ok, ls_list *out,
               unsigned threads)
{
    if (threads > LS_MAX_THREADS)
        threads = LS_MAX_THREADS;
    ls_wdir *level = threads > 1 ? malloc(sizeof *level) : NULL;
    char *root = level ? ls_strdup(dir) : NULL;
    if (!root) {
        free(level);
        ls_walk(dir, 1, ok, out, 0);
        return;
    }
    level[0] = (ls_wdir){root, 0};
    size_t n = 1;
    while (n && n < LS_WALK_SPLIT * threads) {
        ls_wdir *next;
        size_t n_next;
        int rc = ls_walk_level(ok, level, n, out, &next, &n_next);
        free(level);
        level = next;
        n = n_next;
        if (rc) {
            for (size_t i = 0; i < n; i++)
                free(level[i].path);
            n = 0;
        }
    }
    ls_walk_job j = {.ok = ok, .dirs = level, .n = n, .next = 0};
    pthread_mutex_init(&j.mu, NULL);
    ls_walk_thr thr[LS_MAX_THREADS];
    pthread_t tid[LS_MAX_THREADS];
    unsigned started = 1;
    memset(thr, 0, sizeof thr);
    for (unsigned i = 0; i < threads; i++)
        thr[i].job = &j;
    for (; n && started < threads; started++)
        if (pthread_create(&tid[started], NULL, ls_walk_worker, &thr[started]))
            break;
    ls_walk_worker(&thr[0]); /* this thread walks too */
    for (unsigned i = 1; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&j.mu);
    for (size_t i = 0; i < n; i++)
        free(level[i].path);
    free(level);
    for (unsigned i = 0; i < started; i++) {
        ls_list *l = &thr[i].out;
        if (l->n && ls_grow((void **)&out->v, &out->cap, out->n + l->n,
                            sizeof *out->v) == 0) {
            memcpy(out->v + out->n, l->v, l->n * sizeof *l->v);
            out->n += l->n;
            free(l->v);
        } else
            ls_list_release(l);
    }
}

static int ls_found_cmp(const void *a, const void *b)
{
    return strcmp(((const ls_found *)a)->id, ((const ls_found *)b)->id);
}

void ls_list_release(ls_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].id);
        free(l->v[i].real);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- reading lines ---- */

const char *ls_memmem(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn < 2 || nn > 64 || hn < nn)
        return nn > hn ? NULL : memmem(h, hn, nd, nn);
    size_t last = nn - 1, i = 0;
#if defined(__SSE2__)
    const __m128i f = _mm_set1_epi8(nd[0]), l = _mm_set1_epi8(nd[last]);
    for (; i + last + 16 <= hn; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(h + i + last));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(a, f), _mm_cmpeq_epi8(b, l)));
        while (m) {
            unsigned k = (unsigned)__builtin_ctz(m);
            if (memcmp(h + i + k + 1, nd + 1, last - 1) == 0)
                return h + i + k;
            m &= m - 1;
        }
    }
#endif
    for (; i + nn <= hn; i++)
        if (h[i] == nd[0] && h[i + last] == nd[last] &&
            memcmp(h + i + 1, nd + 1, last - 1) == 0)
            return h + i;
    return NULL;
}

/* How common a byte is in JSON log text (higher: more common); a rough
 * English-letter order with JSON punctuation and digits near the top.
 * Only used to pick which two bytes of a marker the vector filter tests:
 * the first and last bytes of a JSON marker are quotes, the commonest
 * byte of the text, and verifying every quote pair cost as much as the
 * scan itself. */
static int ls_byte_rank(unsigned char c)
{
    static const char order[] = "\" e:,taoinsr0123456789hldcum.pfgywb-{}"
                                "TAOISNRHLDCUMPFGYWBvk_VKx/jqzXJQZ";
    const char *p = c ? strchr(order, c) : NULL;
    return p ? (int)(sizeof order - (size_t)(p - order)) : 0;
}

void ls_needles_init(ls_needles *nd, const char *const *markers, size_t n)
{
    memset(nd, 0, sizeof *nd);
    for (size_t i = 0; i < n && i < LS_MAX_MARKERS; i++) {
        ls_needle *x = &nd->v[nd->n++];
        x->s = markers[i];
        x->n = strlen(markers[i]);
        if (x->n < 2)
            continue; /* scalar path only */
        /* the two rarest bytes at distinct positions, a before b */
        size_t r1 = 0, r2 = 1;
        if (ls_byte_rank((unsigned char)x->s[r2]) <
            ls_byte_rank((unsigned char)x->s[r1])) {
            r1 = 1;
            r2 = 0;
        }
        for (size_t k = 2; k < x->n; k++) {
            int rk = ls_byte_rank((unsigned char)x->s[k]);
            if (rk < ls_byte_rank((unsigned char)x->s[r1])) {
                r2 = r1;
                r1 = k;
            } else if (rk < ls_byte_rank((unsigned char)x->s[r2]))
                r2 = k;
        }
        x->a = r1 < r2 ? r1 : r2;
        x->b = r1 < r2 ? r2 : r1;
        if (x->b > nd->maxb)
            nd->maxb = x->b;
    }
}

/* Does needle x occur at p (with n bytes available)? */
static int ls_needle_at(const ls_needle *x, const char *p, size_t n)
{
    return x->n <= n && memcmp(p, x->s, x->n) == 0;
}

static const char *ls_first_tail(const ls_needles *nd, const char *p,
                                 size_t i, size_t n)
{
    for (; i < n; i++)
        for (size_t j = 0; j < nd->n; j++)
            if (p[i] == nd->v[j].s[0] && ls_needle_at(&nd->v[j], p + i, n - i))
                return p + i;
    return NULL;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define LS_HAVE_AVX2 1
#include <immintrin.h>
/* ls_first_avx2 for one needle (claude_logs' marker, the ":null" search):
 * no per-needle arrays in the loop, 64 bytes per round. */
__attribute__((target("avx2"))) static const char *
ls_first1_avx2(const ls_needles *nd, const char *p, size_t n)
{
    const ls_needle *x = &nd->v[0];
    const __m256i A = _mm256_set1_epi8(x->s[x->a]), B = _mm256_set1_epi8(x->s[x->b]);
    const char *pa = p + x->a, *pb = p + x->b;
    size_t i = 0;
    for (; i + x->b + 64 <= n; i += 64) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)(pa + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)(pb + i));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(pa + i + 32));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(const void *)(pb + i + 32));
        uint64_t m =
            (uint32_t)_mm256_movemask_epi8(_mm256_and_si256(
                _mm256_cmpeq_epi8(a0, A), _mm256_cmpeq_epi8(b0, B))) |
            (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_and_si256(
                _mm256_cmpeq_epi8(a1, A), _mm256_cmpeq_epi8(b1, B))) << 32;
        while (m) {
            unsigned k = (unsigned)__builtin_ctzll(m);
            if (ls_needle_at(x, p + i + k, n - i - k))
                return p + i + k;
            m &= m - 1;
        }
    }
    if (x->b + 32 > n)
        return ls_first_tail(nd, p, i, n);
    /* The rest in at most two 32-byte windows, the last one ending where
     * the last possible start ends (positions before i masked off): no
     * byte-by-byte tail, which every short search paid. */
    for (;;) {
        size_t j = i + x->b + 32 <= n ? i : n - x->b - 32;
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)(pa + j));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)(pb + j));
        uint64_t m = (uint32_t)_mm256_movemask_epi8(_mm256_and_si256(
            _mm256_cmpeq_epi8(a0, A), _mm256_cmpeq_epi8(b0, B)));
        m &= ~(uint64_t)0 << (i - j);
        while (m) {
            unsigned k = (unsigned)__builtin_ctzll(m);
            if (ls_needle_at(x, p + j + k, n - j - k))
                return p + j + k;
            m &= m - 1;
        }
        if (j != i)
            return NULL; /* that was the last window */
        i += 32;
        if (i + x->b >= n)
            return NULL;
    }
}

__attribute__((target("avx2"))) static const char *
ls_first_avx2(const ls_needles *nd, const char *p, size_t n)
{
    size_t i = 0;
    __m256i A[LS_MAX_MARKERS], B[LS_MAX_MARKERS];
    for (size_t j = 0; j < nd->n; j++) {
        A[j] = _mm256_set1_epi8(nd->v[j].s[nd->v[j].a]);
        B[j] = _mm256_set1_epi8(nd->v[j].s[nd->v[j].b]);
    }
    for (; i + nd->maxb + 32 <= n; i += 32) {
        uint32_t m[LS_MAX_MARKERS], all = 0;
        for (size_t j = 0; j < nd->n; j++) {
            const ls_needle *x = &nd->v[j];
            __m256i va = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + x->a));
            __m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + x->b));
            m[j] = (uint32_t)_mm256_movemask_epi8(_mm256_and_si256(
                _mm256_cmpeq_epi8(va, A[j]), _mm256_cmpeq_epi8(vb, B[j])));
            all |= m[j];
        }
        while (all) {
            unsigned k = (unsigned)__builtin_ctz(all);
            for (size_t j = 0; j < nd->n; j++)
                if (((m[j] >> k) & 1u) &&
                    ls_needle_at(&nd->v[j], p + i + k, n - i - k))
                    return p + i + k;
            all &= all - 1;
        }
    }
    return ls_first_tail(nd, p, i, n);
}
#endif

static const char *ls_first_sse2(const ls_needles *nd, const char *p, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    __m128i A[LS_MAX_MARKERS], B[LS_MAX_MARKERS];
    for (size_t j = 0; j < nd->n; j++) {
        A[j] = _mm_set1_epi8(nd->v[j].s[nd->v[j].a]);
        B[j] = _mm_set1_epi8(nd->v[j].s[nd->v[j].b]);
    }
    for (; i + nd->maxb + 16 <= n; i += 16) {
        unsigned m[LS_MAX_MARKERS], all = 0;
        for (size_t j = 0; j < nd->n; j++) {
            const ls_needle *x = &nd->v[j];
            __m128i va = _mm_loadu_si128((const __m128i *)(const void *)(p + i + x->a));
            __m128i vb = _mm_loadu_si128((const __m128i *)(const void *)(p + i + x->b));
            m[j] = (unsigned)_mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(va, A[j]), _mm_cmpeq_epi8(vb, B[j])));
            all |= m[j];
        }
        while (all) {
            unsigned k = (unsigned)__builtin_ctz(all);
            for (size_t j = 0; j < nd->n; j++)
                if (((m[j] >> k) & 1u) &&
                    ls_needle_at(&nd->v[j], p + i + k, n - i - k))
                    return p + i + k;
            all &= all - 1;
        }
    }
#endif
    return ls_first_tail(nd, p, i, n);
}

const char *ls_needles_find(const ls_needles *nd, const char *p, size_t n)
{
    for (size_t j = 0; j < nd->n; j++)
        if (nd->v[j].n < 2) /* a one-byte or empty marker: plain scan */
            return ls_first_tail(nd, p, 0, n);
#ifdef LS_HAVE_AVX2
    if (__builtin_cpu_supports("avx2"))
        return nd->n == 1 ? ls_first1_avx2(nd, p, n) : ls_first_avx2(nd, p, n);
#endif
    return ls_first_sse2(nd, p, n);
}

/* ---- the scanning threads ---- */

typedef struct ls_chunk {
    struct ls_chunk *next;
    size_t len;
    unsigned char data[LS_CHUNK];
} ls_chunk;

/* One file to read: planned and applied by the owner of the state, read by
 * one scanning thread. */
typedef struct ls_task {
    uint32_t fi;
    const char *path;       /* borrowed from st->files[fi]                */
    uint64_t offset;        /* start; then the next unread line            */
    ls_pstate ps;           /* the parser's copy                           */
    int done;               /* the reader finished (under the lock)        */
    int rc;                 /* 1 read to the end, 0 stopped, -1 fatal      */
    int opened;
    size_t skipped_long;
    ls_chunk *head, *tail;  /* records not applied yet (under the lock)    */
} ls_task;

typedef struct ls_pipe {
    /* read-only while threads run */
    const ls_plugin_fns *fns;
    ls_parse_env env;
    ls_needles nd;
    int64_t stop_at_ms;     /* CLOCK_MONOTONIC ms: stop reading from here  */
    int threaded;
    ls_task *tasks;
    size_t n_tasks;
    /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_apply, cv_room;
    size_t next;            /* next task to hand out                        */
    size_t applying;        /* the task whose records are being applied     */
    size_t in_flight;       /* chunks handed over, not applied yet          */
    ls_chunk *spare;        /* applied chunks, for the next ls_emit: a fresh
                               64 KiB chunk per fill cost a malloc, and
                               fresh pages (faults, clearing) whenever
                               free() had given the heap's top back      */
    int quit;
    /* the direct (single-threaded) path applies chunks as they fill */
    ls_state *st;
    int apply_failed;
} ls_pipe;

struct ls_sink {
    ls_pipe *pp;
    ls_task *t;
    ls_chunk *cur;
    int failed;
};

static int64_t ls_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Apply every record of chunk c to st (file order is the caller's). */
static int ls_apply_chunk(ls_pipe *pp, ls_state *st, const ls_task *t,
                          const ls_chunk *c)
{
    size_t off = 0;
    while (off < c->len) {
        uint32_t n;
        memcpy(&n, c->data + off, sizeof n);
        off += sizeof n;
        if (pp->fns->apply(st, t->fi, &st->files[t->fi].d.ps, c->data + off,
                           n, pp->fns->user))
            return -1;
        off += (n + 7u) & ~(size_t)7u;
    }
    return 0;
}

/* Hand the current chunk over (threaded: queue it and maybe wait for room;
 * direct: apply it now). */
static int ls_sink_flush(ls_sink *k)
{
    ls_chunk *c = k->cur;
    if (!c || !c->len)
        return 0;
    ls_pipe *pp = k->pp;
    if (!pp->threaded) {
        int rc = ls_apply_chunk(pp, pp->st, k->t, c);
        c->len = 0;
        if (rc)
            pp->apply_failed = 1;
        return rc;
    }
    k->cur = NULL;
    c->next = NULL;
    size_t me = (size_t)(k->t - pp->tasks);
    pthread_mutex_lock(&pp->mu);
    if (k->t->tail)
        k->t->tail->next = c;
    else
        k->t->head = c;
    k->t->tail = c;
    pp->in_flight++;
    if (me == pp->applying)
        pthread_cond_signal(&pp->cv_apply);
    /* the file being applied never waits: its chunks make the room */
    while (!pp->quit && pp->in_flight >= LS_CHUNKS_MAX && me != pp->applying)
        pthread_cond_wait(&pp->cv_room, &pp->mu);
    int quit = pp->quit;
    pthread_mutex_unlock(&pp->mu);
    return quit ? -1 : 0;
}

int ls_emit(ls_sink *k, const void *rec, size_t n)
{
    if (k->failed || n > LS_REC_MAX)
        return -1;
    size_t need = sizeof(uint32_t) + ((n + 7u) & ~(size_t)7u);
    if (k->cur && k->cur->len + need > LS_CHUNK && ls_sink_flush(k)) {
        k->failed = 1;
        return -1;
    }
    if (!k->cur) {
        ls_pipe *pp = k->pp;
        if (pp->threaded) {
            pthread_mutex_lock(&pp->mu);
            k->cur = pp->spare;
            if (k->cur)
                pp->spare = k->cur->next;
            pthread_mutex_unlock(&pp->mu);
        }
        if (!k->cur)
            k->cur = malloc(sizeof *k->cur);
        if (!k->cur) {
            k->failed = 1;
            return -1;
        }
        k->cur->len = 0;
        k->cur->next = NULL;
    }
    ls_chunk *c = k->cur;
    uint32_t n32 = (uint32_t)n;
    memcpy(c->data + c->len, &n32, sizeof n32);
    memcpy(c->data + c->len + sizeof n32, rec, n);
    c->len += need;
    return 0;
}

/* Scan a long line starting at file offset start without keeping it: find
 * its end (*end = offset of the newline) and whether a marker occurs (not
 * looked for when nd is NULL: a line classified SKIP).
 * Returns 1 found end, 0 EOF without newline, -1 read error. */
static int ls_scan_long(const ls_needles *nd, int fd, char *buf, off_t start,
                        off_t *end, int *marker)
{
    size_t keep = 0;
    off_t pos = start;
    *marker = 0;
    for (;;) {
        ssize_t n = pread(fd, buf + keep, LS_BUF - keep, pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        size_t have = keep + (size_t)n;
        char *nl = memchr(buf + keep, '\n', (size_t)n);
        size_t upto = nl ? (size_t)(nl - buf) : have;
        if (nd && !*marker && ls_needles_find(nd, buf, upto))
            *marker = 1;
        if (nl) {
            *end = pos + (off_t)(nl - (buf + keep));
            return 1;
        }
        pos += n;
        /* keep a tail so a marker split across reads is still seen */
        keep = have < 64 ? have : 64;
        memmove(buf, buf + have - keep, keep);
    }
}

/* Parse the complete lines of buf[0..len) (file bytes from a line start)
 * that matter: *pos = the bytes consumed (up to the end of the last
 * complete line; the rest is an unfinished line), *long_skip = 1 when that
 * unfinished line was classified SKIP.  Returns 0, or -1 when parse failed
 * (fatal). */
static int ls_lines(ls_pipe *pp, ls_task *t, ls_sink *k, const char *buf,
                    size_t len, size_t *pos_out, int *long_skip)
{
    const ls_parse_fn parse = pp->fns->parse;
    const ls_classify_fn classify = pp->fns->classify;
    size_t pos = 0;
    *long_skip = 0;
    /* With a classifier: line by line, each decided from its first bytes
     * where it can be; a skipped line is passed over with memchr, its
     * bytes never examined.  Without one (or for a line it cannot
     * decide): the marker search decides. */
    while (classify && pos < len) {
        int c = classify(buf + pos, len - pos);
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) {
            *long_skip = c == LS_LINE_SKIP;
            break; /* not complete yet: refill (or a long line) */
        }
        size_t ll = (size_t)(nl - (buf + pos));
        if (c == LS_LINE_PARSE ||
            (c == LS_LINE_UNKNOWN && ls_needles_find(&pp->nd, buf + pos, ll))) {
            if (parse(&pp->env, k, &t->ps, buf + pos, ll))
                return -1;
        }
        pos += ll + 1;
    }
    /* Jump from marker to marker: only the lines that carry one are
     * delimited; the rest is consumed up to the last newline. */
    while (!classify) {
        const char *m = ls_needles_find(&pp->nd, buf + pos, len - pos);
        if (!m) {
            const char *ln = memrchr(buf + pos, '\n', len - pos);
            if (ln)
                pos = (size_t)(ln - buf) + 1;
            break;
        }
        const char *ls = memrchr(buf + pos, '\n', (size_t)(m - (buf + pos)));
        size_t start = ls ? (size_t)(ls - buf) + 1 : pos;
        const char *nl = memchr(m, '\n', len - (size_t)(m - buf));
        if (!nl) {
            pos = start; /* its line is not complete yet */
            break;
        }
        size_t ll = (size_t)(nl - (buf + start));
        if (parse(&pp->env, k, &t->ps, buf + start, ll))
            return -1;
        pos = (size_t)(nl - buf) + 1;
    }
    *pos_out = pos;
    return 0;
}

/* A line longer than the buffer starts at *off: step over it, parsing it
 * when it carries a marker (not looked for when long_skip).  Returns 1 on
 * (*off past it), 0 stop (cut off: not consumed), -1 fatal. */
static int ls_long_line(ls_pipe *pp, ls_task *t, ls_sink *k, int fd,
                        char *buf, off_t *off, int long_skip)
{
    off_t end;
    int marker;
    int s = ls_scan_long(long_skip ? NULL : &pp->nd, fd, buf, *off, &end,
                         &marker);
    if (s <= 0)
        return 0;
    size_t ll = (size_t)(end - *off);
    if (marker && ll <= LS_LINE_CAP) {
        char *big = malloc(ll + 1);
        if (big && pread(fd, big, ll, *off) == (ssize_t)ll) {
            if (pp->fns->parse(&pp->env, k, &t->ps, big, ll)) {
                free(big);
                return -1;
            }
        } else
            t->skipped_long++;
        free(big);
    } else if (marker)
        t->skipped_long++;
    *off = end + 1;
    return 1;
}

/* Read task t's file from its offset into sink k, parsing every complete
 * line that matters.  Sets t->rc: 1 read to the end, 0 stopped early
 * (deadline), -1 fatal (out of memory). */
static void ls_read_file(ls_pipe *pp, ls_task *t, char *buf, ls_sink *k)
{
    int fd = open(t->path, O_RDONLY | O_CLOEXEC);
    t->rc = 1;
    if (fd < 0)
        return; /* vanished between stat and open: try next time */
    t->opened = 1;
    off_t off = (off_t)t->offset;
    size_t len = 0;           /* bytes in buf, starting at file offset off */
    for (;;) {
        if (ls_mono_ms() >= pp->stop_at_ms) {
            t->rc = 0;
            break;
        }
        ssize_t n = pread(fd, buf + len, LS_BUF - len, off + (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EOF (or error): an unfinished line stays unread */
        len += (size_t)n;
        size_t pos = 0;
        int long_skip = 0;
        if (ls_lines(pp, t, k, buf, len, &pos, &long_skip)) {
            t->rc = -1;
            break;
        }
        off += (off_t)pos;
        len -= pos;
        memmove(buf, buf + pos, len);
        t->offset = (uint64_t)off;
        if (len < LS_BUF)
            continue;
        /* A line longer than the buffer. */
        len = 0;
        int s = ls_long_line(pp, t, k, fd, buf, &off, long_skip);
        if (s < 0)
            t->rc = -1;
        if (s <= 0)
            break; /* cut off: not consumed */
        t->offset = (uint64_t)off;
    }
    close(fd);
}

/* Read task t completely into its sink and flush it; t->rc as above. */
static void ls_run_task(ls_pipe *pp, ls_task *t, char *buf)
{
    ls_sink k = {.pp = pp, .t = t, .cur = NULL, .failed = 0};
    ls_read_file(pp, t, buf, &k);
    if (k.failed || ls_sink_flush(&k))
        t->rc = -1;
    free(k.cur);
}

static void *ls_worker(void *arg)
{
    ls_pipe *pp = arg;
    char *buf = malloc(LS_BUF);
    pthread_mutex_lock(&pp->mu);
    while (!pp->quit && pp->next < pp->n_tasks) {
        ls_task *t = &pp->tasks[pp->next++];
        pthread_mutex_unlock(&pp->mu);
        if (buf)
            ls_run_task(pp, t, buf);
        else
            t->rc = -1;
        pthread_mutex_lock(&pp->mu);
        t->done = 1;
        if ((size_t)(t - pp->tasks) == pp->applying)
            pthread_cond_signal(&pp->cv_apply);
    }
    pthread_mutex_unlock(&pp->mu);
    free(buf);
    return NULL;
}

/* The file's reading is over (its records applied): record where it got. */
static void ls_task_end(ls_state *st, const ls_task *t)
{
    ls_file *f = &st->files[t->fi];
    uint32_t model = f->d.ps.model; /* the apply step's */
    f->d.offset = t->offset;
    f->d.ps = t->ps;
    f->d.ps.model = model;
    st->files_read += (size_t)t->opened;
    st->lines_skipped_long += t->skipped_long;
    if (t->rc == 1)
        f->d.flags |= LS_FILE_EOF;
}

/* Apply the tasks in order while threads read them.  Returns 0, 1 when a
 * file stopped early (later files discarded), -1 on a fatal error. */
static int ls_apply_threaded(ls_pipe *pp, ls_state *st)
{
    int rc = 0;
    for (size_t j = 0; j < pp->n_tasks && !rc; j++) {
        ls_task *t = &pp->tasks[j];
        for (;;) {
            pthread_mutex_lock(&pp->mu);
            while (!t->head && !t->done)
                pthread_cond_wait(&pp->cv_apply, &pp->mu);
            ls_chunk *c = t->head;
            int done = t->done;
            size_t got = 0;
            for (ls_chunk *x = c; x; x = x->next)
                got++;
            t->head = t->tail = NULL;
            pp->in_flight -= got;
            if (got)
                pthread_cond_broadcast(&pp->cv_room);
            pthread_mutex_unlock(&pp->mu);
            ls_chunk *last = NULL;
            for (ls_chunk *x = c; x; last = x, x = x->next)
                if (!rc && ls_apply_chunk(pp, st, t, x))
                    rc = -1;
            if (c) { /* back to the readers */
                pthread_mutex_lock(&pp->mu);
                last->next = pp->spare;
                pp->spare = c;
                pthread_mutex_unlock(&pp->mu);
            }
            if (done)
                break;
        }
        if (!rc && t->rc < 0)
            rc = -1;
        if (!rc) {
            ls_task_end(st, t);
            if (t->rc == 0)
                rc = 1;
        }
        pthread_mutex_lock(&pp->mu);
        pp->applying = j + 1;
        if (rc)
            pp->quit = 1;
        pthread_cond_broadcast(&pp->cv_room);
        pthread_mutex_unlock(&pp->mu);
    }
    return rc;
}

/* Read and apply every task with `threads` scanning threads (1: on this
 * thread, no pthreads).  Returns 0, 1 (stopped early) or -1. */
static int ls_pipe_run(ls_pipe *pp, ls_state *st, unsigned threads)
{
    if (threads > pp->n_tasks)
        threads = (unsigned)pp->n_tasks;
    pthread_t tid[LS_MAX_THREADS];
    unsigned started = 0;
    if (threads > 1) {
        pthread_mutex_init(&pp->mu, NULL);
        pthread_cond_init(&pp->cv_apply, NULL);
        pthread_cond_init(&pp->cv_room, NULL);
        pp->threaded = 1;
        for (; started < threads; started++)
            if (pthread_create(&tid[started], NULL, ls_worker, pp))
                break;
    }
    if (started) {
        int rc = ls_apply_threaded(pp, st);
        pthread_mutex_lock(&pp->mu);
        pp->quit = 1;
        pthread_cond_broadcast(&pp->cv_room);
        pthread_mutex_unlock(&pp->mu);
        for (unsigned i = 0; i < started; i++)
            pthread_join(tid[i], NULL);
        for (size_t j = 0; j < pp->n_tasks; j++)
            for (ls_chunk *c = pp->tasks[j].head, *nx; c; c = nx) {
                nx = c->next;
                free(c);
            }
        for (ls_chunk *c = pp->spare, *nx; c; c = nx) {
            nx = c->next;
            free(c);
        }
        pp->spare = NULL;
        pthread_cond_destroy(&pp->cv_room);
        pthread_cond_destroy(&pp->cv_apply);
        pthread_mutex_destroy(&pp->mu);
        return rc;
    }
    if (pp->threaded) { /* no thread could start: fall back */
        pthread_cond_destroy(&pp->cv_room);
        pthread_cond_destroy(&pp->cv_apply);
        pthread_mutex_destroy(&pp->mu);
        pp->threaded = 0;
    }
    char *buf = malloc(LS_BUF);
    if (!buf)
        return -1;
    int rc = 0;
    for (size_t j = 0; j < pp->n_tasks && !rc; j++) {
        ls_task *t = &pp->tasks[j];
        ls_run_task(pp, t, buf);
        if (t->rc < 0 || pp->apply_failed)
            rc = -1;
        else {
            ls_task_end(st, t);
            rc = t->rc == 0;
        }
    }
    free(buf);
    return rc;
}

unsigned ls_threads(long long v)
{
    if (v <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        v = n > 0 ? n : 1;
    }
    return v > LS_MAX_THREADS ? LS_MAX_THREADS : (unsigned)v;
}


/* ---- cells ---- */

typedef struct ls_cellkey {
    uint64_t k;   /* slot << 16 | model, + 1 */
    uint32_t idx;
} ls_cellkey;

static int ls_cell_cmp(const void *a, const void *b)
{
    const ls_cell_disk *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return (int)x->model - (int)y->model;
}

/* Add entry x to cell c's cost parts: its own cost when it carried one,
 * else its tokens per priced bucket and each bucket's excess over the
 * long-context threshold (charged per event, hence summed here, before
 * events mix).  An event whose cache writes are not known ends the
 * cell's parts. */
static void ls_cell_add_parts(ls_cell_disk *c, const ls_ent *x)
{
    if (x->flags & LS_F_COST) {
        c->own_cost += x->cost;
        return;
    }
    if (!(x->flags & LS_F_CW_KNOWN) || (x->flags & LS_F_CW_NA)) {
        c->parts_known = 0;
        return;
    }
    uint32_t h1 = x->cw1h < x->tok[LS_CW] ? x->cw1h : x->tok[LS_CW];
    double t[MD_PRICED_N];
    t[MD_PRICED_INPUT] = x->tok[LS_IN];
    t[MD_PRICED_OUTPUT] = x->tok[LS_OUT];
    t[MD_PRICED_CACHE_WRITE] = (double)(x->tok[LS_CW] - h1);
    t[MD_PRICED_CACHE_READ] = x->tok[LS_CR];
    t[MD_PRICED_CACHE_WRITE_1H] = h1;
    for (int k = 0; k < MD_PRICED_N; k++) {
        c->priced[k] += t[k];
        if (t[k] > MD_USAGE_TIER_TOKENS)
            c->above[k] += t[k] - MD_USAGE_TIER_TOKENS;
    }
}

/* Put key k (cell idx) into the open-addressing table ht[cap]; returns
 * its slot (the existing one when k is there). */
static size_t ls_cellkey_slot(const ls_cellkey *ht, size_t cap, uint64_t k)
{
    size_t m = cap - 1, i = (size_t)ls_hash(&k, sizeof k, 0) & m;
    while (ht[i].k && ht[i].k != k)
        i = (i + 1) & m;
    return i;
}

/* Add live entry x to cell c (the sums, the known and not-applicable
 * bits, the cost parts). */
static void ls_cell_add(ls_cell_disk *c, const ls_ent *x)
{
    if (!c->events) {
        /* first event decides not-applicable buckets */
        if (x->flags & LS_F_CW_NA) {
            c->na |= 1u << LS_CW;
            c->known &= (uint16_t)~(1u << LS_CW);
        }
    }
    c->events++;
    for (int b = 0; b < LS_NTOK; b++)
        c->v[b] += x->tok[b];
    c->cw1h += x->cw1h;
    c->v[LS_NTOK] += (double)ls_ent_total(x);
    if (c->parts_known)
        ls_cell_add_parts(c, x);
    if (x->flags & LS_F_COST)
        c->v[LS_NTOK + 1] += x->cost;
    else
        c->known &= (uint16_t)~(1u << (LS_NTOK + 1));
    if (!(x->flags & LS_F_REAS))
        c->known &= (uint16_t)~(1u << LS_REAS);
    int cw_na = !!(x->flags & LS_F_CW_NA);
    int cell_na = !!(c->na & (1u << LS_CW));
    if (cw_na != cell_na) {
        /* mixed: some events reported cache writes, some could
         * not: the sum is unknown */
        c->na &= (uint16_t)~(1u << LS_CW);
        c->known &= (uint16_t)~(1u << LS_CW);
        c->pad = 1; /* remember "mixed" */
    } else if (!cw_na && !(x->flags & LS_F_CW_KNOWN))
        c->known &= (uint16_t)~(1u << LS_CW);
    if (c->pad) {
        c->na &= (uint16_t)~(1u << LS_CW);
        c->known &= (uint16_t)~(1u << LS_CW);
    }
}

/* Rebuild the cells from the live entries (entries older than the
 * retention cutoff are dropped), in one pass: the cell table doubles (and
 * is rehashed from the cells so far) when half full.  Returns 0 or -1
 * (OOM). */
static int ls_build_cells(ls_state *st)
{
    size_t cap = 1024;
    while (cap < st->n_cells * 2 + 64)
        cap *= 2;
    ls_cell_disk *cells = NULL;
    size_t n = 0, ccap = 0;
    ls_cellkey *ht = calloc(cap, sizeof *ht);
    if (!ht)
        return -1;
    uint64_t last_k = 0;   /* the key of the cell the entry before went to */
    size_t last_idx = 0;
    for (size_t e = 0; e < st->n_ents; e++) {
        const ls_ent *x = &st->ents[e];
        /* (entries past the retention were marked by ls_finish_ents: this
         * only reads them, while a saver may be writing them out) */
        if (x->flags & LS_F_DEAD)
            continue;
        uint64_t k = (((uint64_t)x->slot << 16) | x->model) + 1;
        if (k == last_k) {
            /* a file's events come in time order: mostly the cell of
             * the entry before, no look-up */
            ls_cell_add(&cells[last_idx], x);
            continue;
        }
        size_t i = ls_cellkey_slot(ht, cap, k);
        if (!ht[i].k) {
            if ((n + 1) * 2 > cap) {
                ls_cellkey *nh = calloc(cap * 2, sizeof *nh);
                if (!nh) {
                    free(ht);
                    free(cells);
                    return -1;
                }
                cap *= 2;
                for (size_t c = 0; c < n; c++) {
                    uint64_t ck = (((uint64_t)cells[c].slot << 16) |
                                   cells[c].model) + 1;
                    size_t j = ls_cellkey_slot(nh, cap, ck);
                    nh[j].k = ck;
                    nh[j].idx = (uint32_t)c;
                }
                free(ht);
                ht = nh;
                i = ls_cellkey_slot(ht, cap, k);
            }
            if (ls_grow((void **)&cells, &ccap, n + 1, sizeof *cells)) {
                free(ht);
                free(cells);
                return -1;
            }
            memset(&cells[n], 0, sizeof *cells);
            cells[n].slot = x->slot;
            cells[n].model = x->model;
            cells[n].known = 0x7f;
            cells[n].parts_known = st->cost_parts ? 1 : 0;
            ht[i].k = k;
            ht[i].idx = (uint32_t)n++;
        }
        last_k = k;
        last_idx = ht[i].idx;
        ls_cell_add(&cells[last_idx], x);
    }
    free(ht);
    if (n)
        qsort(cells, n, sizeof *cells, ls_cell_cmp);
    for (size_t i = 0; i < n; i++)
        cells[i].pad = 0;
    free(st->cells);
    st->cells = cells;
    st->n_cells = n;
    return 0;
}

static md_num ls_cell_num(const ls_cell_disk *c, int b)
{
    if (c->na & (1u << b))
        return MD_NUM_NA;
    if (!(c->known & (1u << b)))
        return (md_num){MD_UNKNOWN, 0};
    return MD_NUM(c->v[b]);
}

void ls_put_usage(const md_host *h, md_ctx *ctx, ls_state *st, int changed,
                  uint32_t since_slot)
{
    if (h->abi_minor < 2 || !h->put_usage || !h->usage_generation)
        return;
    unsigned long long core = h->usage_generation(ctx);
    int all = core != st->h.generation;
    if (!all && !changed)
        return;
    double since = all ? 0 : (double)since_slot * MD_USAGE_SLOT_SECONDS;
    size_t first = 0;
    if (!all)
        while (first < st->n_cells && st->cells[first].slot < since_slot)
            first++;
    size_t n = st->n_cells - first;
    md_usage_cell *out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return;
    for (size_t i = 0; i < n; i++) {
        const ls_cell_disk *c = &st->cells[first + i];
        md_usage_cell *u = &out[i];
        u->slot_start = (double)c->slot * MD_USAGE_SLOT_SECONDS;
        u->model = c->model ? st->models[c->model - 1] : NULL;
        u->tokens_input_uncached = ls_cell_num(c, LS_IN);
        u->tokens_cache_read = ls_cell_num(c, LS_CR);
        u->tokens_cache_write = ls_cell_num(c, LS_CW);
        u->tokens_output = ls_cell_num(c, LS_OUT);
        u->tokens_reasoning = ls_cell_num(c, LS_REAS);
        u->tokens_total = ls_cell_num(c, LS_NTOK);
        u->cost_usd = ls_cell_num(c, LS_NTOK + 1);
        u->events = c->events;
        u->tokens_cache_write_1h = u->tokens_cache_write;
        if (u->tokens_cache_write.state == MD_KNOWN)
            u->tokens_cache_write_1h.value = c->cw1h;
        if (c->parts_known) {
            u->cost_usd_own = MD_NUM(c->own_cost);
            for (int k = 0; k < MD_PRICED_N; k++) {
                u->priced_tokens[k] = c->priced[k];
                u->priced_above[k] = c->above[k];
            }
        }
    }
    if (h->put_usage(ctx, out, n, sizeof *out, since, st->h.generation) != 0)
        h->log(ctx, MD_LOG_WARN, "put_usage rejected %zu cells", n);
    free(out);
}

/* ---- metrics ---- */

/* Sum the cells with from <= slot_start < to into mdu_tokens.  Empty ->
 * known zeros (logs fully read); cache_write/reasoning follow the cells. */
static mdu_tokens ls_sum(const ls_state *st, double from, double to,
                        int cw_na_when_empty, int reas_known_empty)
{
    md_num acc[LS_NTOK + 1];
    for (int b = 0; b <= LS_NTOK; b++)
        acc[b] = MD_NUM(0);
    int any = 0, any_cw_na = 0, any_cw_app = 0;
    for (size_t i = 0; i < st->n_cells; i++) {
        const ls_cell_disk *c = &st->cells[i];
        double t = (double)c->slot * MD_USAGE_SLOT_SECONDS;
        if (t < from || t >= to)
            continue;
        any = 1;
        for (int b = 0; b <= LS_NTOK; b++) {
            md_num v = ls_cell_num(c, b);
            if (b == LS_CW) {
                if (v.state == MD_NOT_APPLICABLE) {
                    any_cw_na = 1;
                    continue;
                }
                any_cw_app = 1;
            }
            acc[b] = mdu_add(acc[b], v);
        }
    }
    if (any_cw_na && !any_cw_app)
        acc[LS_CW] = MD_NUM_NA;
    else if (any_cw_na)
        acc[LS_CW] = (md_num){MD_UNKNOWN, 0};
    if (!any) {
        if (cw_na_when_empty)
            acc[LS_CW] = MD_NUM_NA;
        if (!reas_known_empty)
            acc[LS_REAS] = (md_num){MD_UNKNOWN, 0};
    }
    mdu_tokens t;
    t.input_uncached = acc[LS_IN];
    t.cache_read = acc[LS_CR];
    t.cache_write = acc[LS_CW];
    t.output = acc[LS_OUT];
    t.reasoning = acc[LS_REAS];
    t.total = acc[LS_NTOK];
    return t;
}

/* Start of the current ccusage-style 5-hour block at now: a block starts
 * at the hour floor of the first activity after a gap of more than 5 h (or
 * more than 5 h after the block start).  Activity is known per 15-minute
 * cell, so the boundaries are those of the cells.  Returns -1 when there is
 * no block covering now. */
static double ls_block_start(const ls_state *st, double now)
{
    const double dur = 5 * 3600;
    double start = -1, last = -1;
    for (size_t i = 0; i < st->n_cells; i++) {
        double t = (double)st->cells[i].slot * MD_USAGE_SLOT_SECONDS;
        if (t > now)
            break;
        if (t < now - 3 * 86400)
            continue;
        if (start < 0 || t - start > dur || t - last > dur)
            start = t - fmod(t, 3600);
        last = t;
    }
    if (start < 0 || now >= start + dur)
        return -1;
    return start;
}

void ls_emit_periods(const md_host *h, md_ctx *ctx, const ls_state *st,
                     double now, int cw_na_empty, int reas_known_empty)
{
    double day = now - fmod(now, 86400);
    mdu_tokens t = ls_sum(st, day, day + 86400, cw_na_empty, reas_known_empty);
    mdu_emit_tokens(h, ctx, &t, "today", "today, UTC", MD_ESTIMATED);
    double bs = ls_block_start(st, now);
    if (bs >= 0) {
        t = ls_sum(st, bs, bs + 5 * 3600, cw_na_empty, reas_known_empty);
        char when[32];
        time_t tt = (time_t)bs;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%MZ", &tm);
        h->note(ctx, "current 5-hour block started %s", when);
    } else {
        t = ls_sum(st, 1, 0, cw_na_empty, reas_known_empty); /* empty */
        h->note(ctx, "no activity in the current 5-hour block");
    }
    mdu_emit_tokens(h, ctx, &t, "5h", "current 5-hour block", MD_ESTIMATED);
    double from = now - 7 * 86400;
    from -= fmod(from, MD_USAGE_SLOT_SECONDS);
    t = ls_sum(st, from, now + 1, cw_na_empty, reas_known_empty);
    mdu_emit_tokens(h, ctx, &t, "7d", "last 7 days", MD_ESTIMATED);
}

/* ---- the run ---- */

/* Reconcile the walk (sorted by identity) with the index: new files get a
 * record, vanished ones orphan their entries and drop out.  Returns 0 or
 * -1 (OOM).  The index stays sorted by identity. */
static int ls_reconcile(ls_state *st, ls_list *found)
{
    ls_file *nf = calloc(found->n ? found->n : 1, sizeof *nf);
    uint32_t *remap = calloc(st->n_files ? st->n_files : 1, sizeof *remap);
    if (!nf || !remap) {
        free(nf);
        free(remap);
        return -1;
    }
    size_t i = 0, j = 0;
    int orphaned = 0;
    for (; i < st->n_files || j < found->n;) {
        int c = i >= st->n_files ? 1
                : j >= found->n  ? -1
                                 : strcmp(st->files[i].path, found->v[j].id);
        if (c < 0) { /* vanished */
            remap[i] = LS_ORPHAN;
            orphaned = 1;
            free(st->files[i].path);
            free(st->files[i].real);
            i++;
            continue;
        }
        ls_file *d = &nf[j];
        if (c == 0) {
            *d = st->files[i];
            remap[i] = (uint32_t)j;
            free(d->real);
            i++;
        } else
            memset(d, 0, sizeof *d);
        if (!d->path)
            d->path = found->v[j].id;
        else
            free(found->v[j].id);
        found->v[j].id = NULL;
        d->real = strcmp(d->path, found->v[j].real) ? found->v[j].real : NULL;
        if (!d->real)
            free(found->v[j].real);
        found->v[j].real = NULL;
        d->d.flags |= LS_FILE_SEEN;
        j++;
    }
    int moved = 0;
    for (size_t k = 0; k < st->n_files; k++)
        moved |= remap[k] != k;
    if ((orphaned || moved) && st->h.n_ents) {
        /* renumber entries' file indexes: needs the entries */
        if (ls_load_ents(st)) {
            free(nf);
            free(remap);
            return -1;
        }
        for (size_t e = 0; e < st->n_ents; e++)
            if (st->ents[e].file != LS_ORPHAN)
                st->ents[e].file = remap[st->ents[e].file];
    }
    if (orphaned || moved || found->n != st->n_files)
        st->dirty = 1; /* index changed: save it */
    free(st->files);
    free(remap);
    st->files = nf;
    st->n_files = st->cap_files = found->n;
    return 0;
}

/* Does file f (stat sb) need reading, and from where?  Drops its previous
 * contribution when it shrank or was replaced (new inode). */
static int ls_plan_file(ls_state *st, uint32_t fi, const struct stat *sb)
{
    ls_file *f = &st->files[fi];
    int64_t mt = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    int known = f->d.ino != 0 || f->d.dev != 0;
    int same_id = f->d.dev == (uint64_t)sb->st_dev &&
                  f->d.ino == (uint64_t)sb->st_ino;
    uint64_t size = (uint64_t)sb->st_size;
    if (known && same_id && size == f->d.size && mt == f->d.mtime_ns &&
        (f->d.flags & LS_FILE_EOF))
        return 0; /* unchanged: stat only */
    if (known && (!same_id || size < f->d.size || size < f->d.offset ||
                  (size == f->d.size && mt != f->d.mtime_ns &&
                   (f->d.flags & LS_FILE_EOF)))) {
        /* truncated, rotated or rewritten in place: start over */
        if (ls_load_ents(st))
            return -1;
        ls_drop_file(st, fi);
        f = &st->files[fi];
        f->d.offset = 0;
        memset(&f->d.ps, 0, sizeof f->d.ps);
    }
    f->d.dev = (uint64_t)sb->st_dev;
    f->d.ino = (uint64_t)sb->st_ino;
    f->d.size = size;
    f->d.mtime_ns = mt;
    f->d.flags &= ~LS_FILE_EOF;
    st->dirty = 1;
    return 1;
}

ls_result ls_scan(const md_host *h, md_ctx *ctx, ls_state *st, ls_list *found,
                  const ls_plugin_fns *fns, unsigned threads,
                  long long budget_ms)
{
    ls_result res = {0};
    long long stop_below = budget_ms / 5;
    st->min_changed = UINT32_MAX;
    if (found->n)
        qsort(found->v, found->n, sizeof *found->v, ls_found_cmp);
    /* identical identities (the plugin ranked them): keep the first */
    size_t w = 0;
    for (size_t i = 0; i < found->n; i++) {
        if (w && strcmp(found->v[w - 1].id, found->v[i].id) == 0) {
            free(found->v[i].id);
            free(found->v[i].real);
            continue;
        }
        found->v[w++] = found->v[i];
    }
    found->n = w;
    struct stat *sbs = malloc((found->n ? found->n : 1) * sizeof *sbs);
    if (!sbs) {
        res.failed = 1;
        return res;
    }
    for (size_t i = 0; i < found->n; i++)
        sbs[i] = found->v[i].sb;
    if (ls_reconcile(st, found)) {
        res.failed = 1;
        free(sbs);
        return res;
    }
    res.files_total = st->n_files;
    ls_pipe pp = {
        .fns = fns,
        .env = {.h = h, .cutoff_slot = st->cutoff_slot, .conf = fns->conf},
        .stop_at_ms = ls_mono_ms() + (h->remaining_ms(ctx) - stop_below),
        .st = st,
    };
    ls_needles_init(&pp.nd, st->markers, st->n_markers);
    pp.tasks = calloc(st->n_files ? st->n_files : 1, sizeof *pp.tasks);
    if (!pp.tasks) {
        res.failed = 1;
        free(sbs);
        return res;
    }
    /* Plan every file first (this may drop a rewritten file's entries),
     * then read the changed ones. */
    for (uint32_t fi = 0; fi < st->n_files && !res.failed; fi++) {
        int plan = ls_plan_file(st, fi, &sbs[fi]);
        if (plan < 0)
            res.failed = 1;
        else if (plan > 0) {
            ls_file *f = &st->files[fi];
            pp.tasks[pp.n_tasks++] = (ls_task){
                .fi = fi,
                .path = f->real ? f->real : f->path,
                .offset = f->d.offset,
                .ps = f->d.ps,
            };
        }
    }
    free(sbs);
    if (!res.failed && pp.n_tasks && ls_load_ents(st))
        res.failed = 1;
    if (!res.failed && pp.n_tasks &&
        ls_pipe_run(&pp, st, threads ? threads : 1) < 0)
        res.failed = 1;
    free(pp.tasks);
    for (size_t fi = 0; fi < st->n_files; fi++)
        res.files_done += (st->files[fi].d.flags & LS_FILE_EOF) ? 1 : 0;
    res.files_read = st->files_read;
    res.complete = !res.failed && res.files_done == res.files_total;
    return res;
}

int ls_finish_ents(ls_state *st, double now, double retention_s)
{
    double cut = now - retention_s;
    st->cutoff_slot = cut > 0 ? (uint32_t)(cut / MD_USAGE_SLOT_SECONDS) : 0;
    int expire = st->n_cells && st->cells[0].slot < st->cutoff_slot;
    if (!st->changed && !expire)
        return 0;
    if (ls_load_ents(st))
        return -1;
    /* Entries past the retention: only where an old cell is (the cells
     * start at the oldest live entry of the last run) or where this run
     * touched one (min_changed: the oldest slot it added or changed). */
    for (size_t e = 0;
         (expire || st->min_changed < st->cutoff_slot) && e < st->n_ents; e++)
        if (st->ents[e].slot < st->cutoff_slot)
            st->ents[e].flags |= LS_F_DEAD;
    if (expire)
        st->min_changed = 0; /* dropping old cells: resend everything */
    st->h.generation++;
    st->changed = 1;
    st->dirty = 1;
    st->cells_stale = 1;
    return 0;
}

int ls_finish_cells(ls_state *st)
{
    if (!st->cells_stale)
        return 0;
    st->cells_stale = 0;
    return ls_build_cells(st);
}

int ls_finish_saving(ls_state *st, double now, double retention_s,
                     ls_saver *sv, const char *dir, int *saving)
{
    *saving = 0;
    if (ls_finish_ents(st, now, retention_s))
        return -1;
    if (st->dirty) {
        ls_save_start(sv, st, dir);
        *saving = 1;
    }
    if (ls_finish_cells(st) == 0)
        return 0;
    if (*saving) {
        ls_save_release(sv, 0);
        ls_save_wait(sv);
        *saving = 0;
    }
    return -1;
}

int ls_finish(ls_state *st, double now, double retention_s)
{
    return ls_finish_ents(st, now, retention_s) || ls_finish_cells(st) ? -1
                                                                       : 0;
}

void ls_report(const md_host *h, md_ctx *ctx, const ls_state *st,
               const ls_result *res, size_t n_roots, const char *roots,
               const char *missing, size_t events, const char *events_what,
               const char *estimate)
{
    if (!n_roots)
        h->note(ctx, "%s", missing);
    else
        h->note(ctx, "roots: %s", roots);
    h->note(ctx, "files_scanned: %zu files, %zu read this run; events: %zu "
            "%s this run", res->files_total, res->files_read, events,
            events_what);
    if (!res->complete)
        h->note(ctx, "initial scan in progress: %zu of %zu files",
                res->files_done, res->files_total);
    if (st->state_refused)
        h->note(ctx, "logscan.state in the state directory is not a regular "
                "file (a symbolic link?): not followed; scanned from scratch "
                "and replaced by the next save");
    if (st->lines_skipped_long)
        h->note(ctx, "%zu usage lines longer than %u MiB skipped",
                st->lines_skipped_long, LS_LINE_CAP >> 20);
    h->note(ctx, "%s", estimate);
}
