/*
 * t/fuzz/config.c - config_load over arbitrary meterd.yaml, drop-in and
 * alias-map text.
 *
 * The input is up to three files, split at marker lines:
 *     <meterd.yaml> [\n#@dropin\n <conf.d/10-fuzz.yaml>] [\n#@aliases\n <aliases.yaml>]
 * written to the harness's private directory; a file whose part is absent
 * is removed, so no earlier input leaks into this one.  A config that
 * loads is also dumped (config_dump), every diagnostic is formatted.
 */
#include "fuzz.h"

#include "config.h"

static void put_part(const char *dir, const char *name, const uint8_t *p, size_t n,
                     int present)
{
    char path[512];
    fuzz_path(path, sizeof path, dir, name);
    if (present)
        fuzz_write(path, p, n);
    else
        unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char drop_mark[] = "\n#@dropin\n", alias_mark[] = "\n#@aliases\n";
    const char *dir = fuzz_dir();
    char sub[512], main_path[512];
    fuzz_path(sub, sizeof sub, dir, "conf.d");
    mkdir(sub, 0700);

    size_t a = fuzz_find(data, size, alias_mark);
    size_t d = fuzz_find(data, a, drop_mark);
    size_t main_end = d;
    int has_drop = d < a, has_alias = a < size;
    size_t drop_at = has_drop ? d + sizeof drop_mark - 1 : a;
    size_t alias_at = has_alias ? a + sizeof alias_mark - 1 : size;

    put_part(dir, "meterd.yaml", data, main_end, 1);
    put_part(dir, "conf.d/10-fuzz.yaml", data + drop_at, a - drop_at, has_drop);
    put_part(dir, "aliases.yaml", data + alias_at, size - alias_at, has_alias);

    fuzz_path(main_path, sizeof main_path, dir, "meterd.yaml");
    diag_list diags = {0};
    config *c = config_load(main_path, "/nonexistent/meterd-fuzz/plugins",
                            "/nonexistent/meterd-fuzz/state", &diags);
    if (c) {
        if (diags.n) abort();   /* a config comes back only without problems */
        free(config_dump(c));
        config_free(c);
    } else if (diags.n == 0) {
        abort();                /* a refusal always says why */
    }
    for (size_t i = 0; i < diags.n; i++)
        free(diag_format(&diags.items[i]));
    diag_clear(&diags);
    return 0;
}
