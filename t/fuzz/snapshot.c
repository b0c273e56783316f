/*
 * t/fuzz/snapshot.c - snapshot_load over an arbitrary snapshot.json.
 *
 * The input is written as STATE_DIR/snapshot.json in the harness's
 * private directory and loaded; a corrupt file is moved aside by the
 * loader, so the directory is emptied after every input.  What must hold:
 * the return value is one of the three documented ones, a refusal says
 * why, and every loaded entry has a name and plugin.
 */
#include "fuzz.h"

#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char state[512], file[512];
    fuzz_path(state, sizeof state, fuzz_dir(), "state");
    mkdir(state, 0700);
    fuzz_path(file, sizeof file, state, "snapshot.json");
    fuzz_write(file, data, size);

    snapshot_entry *e = NULL;
    size_t n = 0;
    char *err = NULL;
    int rc = snapshot_load(state, &e, &n, &err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            if (!e[i].name || !e[i].plugin) abort();
    } else if (rc == -1) {
        if (!err || n != 0) abort();
    } else {
        abort();   /* 1 means "no file", and there was one */
    }
    free(err);
    snapshot_entries_free(e, n);
    fuzz_empty_dir(state);
    return 0;
}
