/*
 * plugins/sdk/json.c - tolerant reading of provider JSON (meterd/util.h,
 * "Tolerant reading of JSON values"): a missing, null, malformed,
 * non-finite or negative value is MD_UNKNOWN, never 0.  Results borrow
 * from the caller's document.
 */
#include "meterd/util.h"
#include "mdu_unconst.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

json_t *mdu_path(const json_t *root, const char *path)
{
    char key[128];
    const json_t *cur = root;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key || !json_is_object(cur))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return mdu_json_unconst(cur);   /* strchr-like: the caller's own value */
}

const char *mdu_str(const json_t *obj, const char *path)
{
    json_t *v = mdu_path(obj, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

md_num mdu_num_value(const md_host *h, const json_t *v, int allow_negative)
{
    md_num out = {MD_UNKNOWN, 0};
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else if (json_is_string(v)) {
        if (h->parse_number(json_string_value(v), &d) != 0)
            return out;
    } else
        return out;
    if (!isfinite(d) || (d < 0 && !allow_negative))
        return out;
    out.state = MD_KNOWN;
    out.value = d;
    return out;
}

md_num mdu_num_ex(const md_host *h, const json_t *v, int allow_negative)
{
    return mdu_num_value(h, v, allow_negative);
}

md_num mdu_num(const md_host *h, const json_t *obj, const char *path)
{
    return mdu_num_value(h, mdu_path(obj, path), 0);
}

int mdu_bool(const json_t *obj, const char *path)
{
    json_t *v = mdu_path(obj, path);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

md_time mdu_time(const md_host *h, md_ctx *ctx, const json_t *obj,
                 const char *path, md_ts_dialect dialect)
{
    md_time out = {MD_UNKNOWN, 0};
    json_t *v = mdu_path(obj, path);
    char buf[64];
    const char *text = NULL;
    if (json_is_string(v))
        text = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        text = buf;
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        text = buf;
    }
    if (text && h->parse_timestamp(ctx, text, dialect, &out) != 0)
        out.state = MD_UNKNOWN;
    return out;
}
