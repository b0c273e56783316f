/*
 * plugins/sdk/secret.c - credentials (meterd/util.h, "Secrets"): every
 * token is registered with host->add_secret before it can reach a header
 * or a message, and heap copies are zeroed before they are freed.
 */
#include "meterd/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mdu_api_key(const md_host *h, md_ctx *ctx, const char *hint)
{
    const char *key = h->opt_str(ctx, "api_key");
    if (!key || !*key) {
        h->fail(ctx, MD_ERR_AUTH, "no api_key configured: set api_key: %s or "
                "api_key_file", hint);
        return NULL;
    }
    h->add_secret(ctx, key);
    return key;
}

char *mdu_bearer(const md_host *h, md_ctx *ctx, const char *token)
{
    h->add_secret(ctx, token);
    size_t n = strlen(token) + sizeof "Authorization: Bearer ";
    char *hdr = malloc(n);
    if (hdr)
        snprintf(hdr, n, "Authorization: Bearer %s", token);
    return hdr;
}

void mdu_free_secret(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}
