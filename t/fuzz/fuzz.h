/*
 * t/fuzz/fuzz.h - what every libFuzzer harness of t/fuzz shares.
 *
 * A harness is one LLVMFuzzerTestOneInput over one parser (doc/fuzzing.md
 * lists them).  This header gives it a private scratch directory and the
 * two conversions every harness needs: the input as a NUL-terminated
 * string and as a file.
 *
 * Invariants:
 *   - the scratch directory is made once per process (mkdtemp under
 *     $TMPDIR or /tmp), is private (0700), and is removed with everything
 *     in it at exit; a harness only ever writes below it;
 *   - fuzz_cstr() returns a malloc'd copy the caller frees; it stops at
 *     the first NUL byte, as a C parser reading a string would;
 *   - a failed setup (no temporary directory) aborts: a harness that
 *     silently tests nothing would look green.
 */
#ifndef METERD_FUZZ_H
#define METERD_FUZZ_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The entry point libFuzzer calls with each input (its documented
 * signature); declared here so every harness defines it against a
 * prototype. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[256];

/* Remove every plain file of dir (no recursion below depth 1). */
static inline void fuzz_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) {
            fuzz_empty_dir(p);
            rmdir(p);
        }
    }
    closedir(d);
}

static inline void fuzz_dir_remove(void)
{
    if (!fuzz_dir_path[0]) return;
    fuzz_empty_dir(fuzz_dir_path);
    rmdir(fuzz_dir_path);
}

/* The private scratch directory of this process. */
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    const char *t = getenv("TMPDIR");
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/meterd-fuzz.XXXXXX",
             t && *t ? t : "/tmp");
    if (!mkdtemp(fuzz_dir_path)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_dir_remove);
    return fuzz_dir_path;
}

/* dir/name (name may hold one subdirectory, made on demand). */
static inline void fuzz_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Write data to path (truncating).  Aborts on failure. */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* The input as a C string (cut at the first NUL).  Caller frees. */
static inline char *fuzz_cstr(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* Find needle in data[0..n); returns its offset or n. */
static inline size_t fuzz_find(const uint8_t *data, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k <= n && i + k <= n; i++)
        if (memcmp(data + i, needle, k) == 0) return i;
    return n;
}

#endif
