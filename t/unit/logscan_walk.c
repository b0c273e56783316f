/*
 * t/unit/logscan_walk.c - the SDK's directory walks (plugins/sdk/logscan.c):
 * ls_walk (relative to each directory's fd) and ls_walk_n (shared among
 * threads) find the same files: regular files whose name is accepted, at
 * any depth, never through a symbolic link (to a file or a directory), with
 * their stat; the threaded walk for 1 to 4 threads on a tree wide and
 * narrow enough that every level split is exercised.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "logtest.h"
#include "logscan.h"

static int accept_jsonl(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && strcmp(name + n - 6, ".jsonl") == 0;
}

static int cmp_real(const void *a, const void *b)
{
    return strcmp(((const ls_found *)a)->real, ((const ls_found *)b)->real);
}

/* The sorted list as one string "path:size\n..." (relative to root). */
static char *listing(ls_list *l, const char *root)
{
    qsort(l->v, l->n, sizeof *l->v, cmp_real);
    size_t cap = 64 + l->n * 256, len = 0;
    char *s = malloc(cap);
    s[0] = '\0';
    for (size_t i = 0; i < l->n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s:%lld\n",
                                l->v[i].real + strlen(root),
                                (long long)l->v[i].sb.st_size);
    return s;
}

int main(void)
{
    char *root = lt_tmpdir();
    char rel[64], p[4096];
    size_t want = 0;
    /* a narrow top (one year, as Codex's sessions/YYYY/MM/DD), then wide */
    for (int m = 1; m <= 3; m++)
        for (int d = 1; d <= 5; d++)
            for (int f = 0; f < 3; f++) {
                snprintf(rel, sizeof rel, "y/%02d/%02d/s%d.jsonl", m, d, f);
                lt_puts(root, rel, "w", "{}\n");
                want++;
            }
    /* deep and flat files, non-matching names, links */
    lt_puts(root, "top.jsonl", "w", "{\"a\":1}\n");
    lt_puts(root, "a/b/c/d/e/f/deep.jsonl", "w", "x\n");
    lt_puts(root, "a/notes.txt", "w", "x\n");
    want += 2;
    snprintf(p, sizeof p, "%s/a/link.jsonl", root);
    ok(symlink("../top.jsonl", p) == 0, "a symlink to a file");
    snprintf(p, sizeof p, "%s/linkdir", root);
    ok(symlink("a", p) == 0, "a symlink to a directory");

    ls_list l = {0};
    ls_walk(root, 1, accept_jsonl, &l, 0);
    is_num(l.n, want, "ls_walk: every .jsonl file, no link followed");
    char *ref = listing(&l, root);
    ok(strstr(ref, "/top.jsonl:8\n") && strstr(ref, "/a/b/c/d/e/f/deep.jsonl:2\n"),
       "ls_walk: paths and sizes");
    ok(!strstr(ref, "link") && !strstr(ref, "notes"), "ls_walk: no link, no .txt");
    ls_list_release(&l);

    ls_walk(root, 0, accept_jsonl, &l, 0);
    is_num(l.n, 1, "ls_walk not recursive: the top file only");
    ls_list_release(&l);

    for (unsigned t = 1; t <= 4; t++) {
        ls_walk_n(root, accept_jsonl, &l, t);
        char *got = listing(&l, root);
        char name[96];
        snprintf(name, sizeof name, "ls_walk_n with %u thread(s): the same files", t);
        ok(strcmp(got, ref) == 0, name);
        free(got);
        ls_list_release(&l);
    }
    snprintf(p, sizeof p, "%s/missing", root);
    ls_walk_n(p, accept_jsonl, &l, 2);
    is_num(l.n, 0, "ls_walk_n of a missing directory: nothing");
    ls_list_release(&l);
    free(ref);
    lt_rmrf(root);
    return done_testing();
}
