/* redact.c - which keys are credential-like; secrets masked in payloads. */
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "tap.h"

int main(void)
{
    static const char *const sensitive[] = {
        "token", "access_token", "accessToken", "refresh_token", "id_token",
        "Authorization", "x-api-key", "api_key", "apiKey", "APIKEY",
        "account_id", "accountId", "chatgpt_account_id", "email", "user.email",
        "password", "client_secret", "Cookie", "set-cookie", "credentials",
        "private_key"};
    static const char *const harmless[] = {
        "input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens",
        "tokens", "prompt_tokens_details", "balance_infos", "utilization",
        "resets_at", "plan_type", "keyring", "monkey", "accounting", "limit_id",
        "rate_limit"};
    for (size_t i = 0; i < sizeof sensitive / sizeof *sensitive; i++) {
        char name[96];
        snprintf(name, sizeof name, "'%s' is sensitive", sensitive[i]);
        ok(redact_key_is_sensitive(sensitive[i]), name);
    }
    for (size_t i = 0; i < sizeof harmless / sizeof *harmless; i++) {
        char name[96];
        snprintf(name, sizeof name, "'%s' is not", harmless[i]);
        ok(!redact_key_is_sensitive(harmless[i]), name);
    }

    const char *secrets[] = {"sk-abcd-9876-zyxw"};
    json_error_t e;
    json_t *doc = json_loads(
        "{\"usage\": {\"input_tokens\": 10, \"access_token\": \"abc\"},"
        " \"list\": [{\"email\": \"a@b\"}, \"echo sk-abcd-9876-zyxw here\", 5, null],"
        " \"sk-abcd-9876-zyxw\": 1, \"plan\": \"pro\"}", 0, &e);
    ok(doc != NULL, "fixture parses");
    redact_json(doc, secrets, 1);
    char *out = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
    is_str(out,
           "{\"[REDACTED]\":1,\"list\":[{\"email\":\"[REDACTED]\"},\"echo [REDACTED] here\",5,null],"
           "\"plan\":\"pro\",\"usage\":{\"access_token\":\"[REDACTED]\",\"input_tokens\":10}}",
           "keys redacted, secrets masked in values and keys, counts kept");
    ok(strstr(out, "sk-abcd") == NULL, "secret gone");
    free(out);
    json_decref(doc);

    json_t *s = json_string("no secrets");
    redact_json(s, NULL, 0);
    is_str(json_string_value(s), "no secrets", "plain string untouched without secrets");
    json_decref(s);
    return done_testing();
}
