/* redact.c - credential-like keys and secret values out of raw payloads. */
#include "redact.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_WORDS 16
#define MAX_WORD 32

/* Split key into lower-case words: "x-api-key" -> x, api, key;
 * "accessToken" -> access, token; "ACCOUNT_ID" -> account, id. */
static size_t split_words(const char *key, char words[][MAX_WORD])
{
    size_t n = 0, len = 0;
    for (const char *p = key;; p++) {
        int boundary = !*p || !isalnum((unsigned char)*p) ||
                       (len > 0 && isupper((unsigned char)*p) &&
                        islower((unsigned char)p[-1]));
        if (boundary && len > 0) {
            words[n][len] = '\0';
            if (++n == MAX_WORDS)
                return n;
            len = 0;
        }
        if (!*p)
            return n;
        if (isalnum((unsigned char)*p) && len + 1 < MAX_WORD)
            words[n][len++] = (char)tolower((unsigned char)*p);
    }
}

int redact_key_is_sensitive(const char *key)
{
    static const char *const single[] = {
        "token", "secret", "password", "passwd", "authorization", "cookie",
        "email", "credential", "credentials", "bearer", "apikey", "accountid"};
    static const char *const pairs[][2] = {
        {"api", "key"}, {"account", "id"}, {"access", "key"},
        {"private", "key"}, {"refresh", "token"}, {"client", "secret"}};
    char words[MAX_WORDS][MAX_WORD];
    size_t n = split_words(key, words);
    for (size_t i = 0; i < n; i++) {
        for (size_t s = 0; s < sizeof single / sizeof single[0]; s++)
            if (strcmp(words[i], single[s]) == 0)
                return 1;
        if (i + 1 == n)
            continue;
        for (size_t s = 0; s < sizeof pairs / sizeof pairs[0]; s++)
            if (strcmp(words[i], pairs[s][0]) == 0 &&
                strcmp(words[i + 1], pairs[s][1]) == 0)
                return 1;
    }
    return 0;
}

static void redact_object(json_t *obj, const char *const *secrets, size_t n)
{
    const char *key;
    json_t *val, *renamed = json_object();
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, val) {
        if (redact_key_is_sensitive(key))
            json_object_set_new(obj, key, json_string(REDACTED_TEXT));
        else
            redact_json(val, secrets, n);
        char *masked = mask_secrets(key, secrets, n);
        if (strcmp(masked, key) != 0) {
            /* a secret used as a key: keep the value under a masked key */
            json_object_set(renamed, masked, json_object_get(obj, key));
            json_object_del(obj, key);
        }
        free(masked);
    }
    json_object_update(obj, renamed);
    json_decref(renamed);
}

void redact_json(json_t *v, const char *const *secrets, size_t n)
{
    if (json_is_object(v)) {
        redact_object(v, secrets, n);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            redact_json(json_array_get(v, i), secrets, n);
    } else if (json_is_string(v) && n > 0) {
        char *m = mask_secrets(json_string_value(v), secrets, n);
        if (strcmp(m, json_string_value(v)) != 0)
            json_string_set(v, m);
        free(m);
    }
}
