/*
 * redact.h - keeping credentials and personal data out of raw payloads.
 *
 * One rule for the whole daemon (worker before a raw payload leaves the
 * helper, renderer again before include_raw output): an object member whose
 * key names a credential or personal datum has its value replaced by
 * "[REDACTED]", and every string that contains a registered secret has it
 * masked.  Keys are split into words (at '_', '-', '.', ' ' and camelCase
 * humps) and compared case-insensitively, so "access_token", "accessToken",
 * "x-api-key" and "account_id" are sensitive while "input_tokens" (a usage
 * count) is not.
 */
#ifndef METERD_REDACT_H
#define METERD_REDACT_H

#include <jansson.h>
#include <stddef.h>

#define REDACTED_TEXT "[REDACTED]"

/* Non-zero when an object key names a credential or personal datum:
 * a word token, secret, password, passwd, authorization, cookie, email,
 * credential(s), bearer, apikey, accountid; or the word pairs api+key,
 * account+id, access+key, private+key, refresh+token, client+secret. */
int redact_key_is_sensitive(const char *key);

/* Redact v in place, recursively (objects, arrays, strings).  Object keys
 * that contain a secret are renamed with the secret masked.  secrets may be
 * NULL when n is 0.  v stays owned by the caller. */
void redact_json(json_t *v, const char *const *secrets, size_t n);

#endif
