/*
 * t/fuzz/protocol.c - the helper's result reader (protocol_result_decode)
 * and the job reader (protocol_job_from_json) over arbitrary bytes.
 *
 * What must hold besides the sanitizers: a result that decodes encodes
 * again, and that encoding decodes to a result whose encoding is the same
 * bytes (the wire format is a fixed point after one round); a refused
 * result leaves the collect_result empty and says why.
 */
#include "fuzz.h"

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    collect_result r;
    collect_result_init(&r);
    char *err = NULL;
    if (protocol_result_decode((const char *)data, size, &r, &err) == 0) {
        size_t n1 = 0, n2 = 0;
        char *e1 = protocol_result_encode(&r, &n1);
        if (!e1) abort();
        collect_result r2;
        collect_result_init(&r2);
        char *err2 = NULL;
        if (protocol_result_decode(e1, n1, &r2, &err2) != 0) {
            fprintf(stderr, "re-decoding failed: %s\n%.*s\n", err2, (int)n1, e1);
            abort();
        }
        char *e2 = protocol_result_encode(&r2, &n2);
        if (!e2 || n1 != n2 || memcmp(e1, e2, n1) != 0) {
            fprintf(stderr, "not a fixed point:\n%.*s\n%.*s\n", (int)n1, e1,
                    (int)n2, e2 ? e2 : "");
            abort();
        }
        free(e1);
        free(e2);
        collect_result_release(&r2);
    } else if (!err) {
        abort();
    }
    free(err);
    collect_result_release(&r);

    json_t *job = json_loadb((const char *)data, size, 0, NULL);
    if (job) {
        protocol_job pj;
        char *jerr = NULL;
        if (protocol_job_from_json(job, &pj, &jerr) == 0) {
            if (!pj.instance || !pj.plugin_path || pj.budget_ms < 0) abort();
        }
        free(jerr);
        json_decref(job);
    }
    return 0;
}
