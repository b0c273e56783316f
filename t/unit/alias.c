/* t/unit/alias.c - the family map: matching, fallbacks and conflicts. */
#include "tap.h"
#include "alias.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    alias_map *m = alias_new();
    ok(m != NULL, "alias_new");
    is_str(alias_family(m, "openai"), "openai", "empty map: name is its own family");

    alias_add(m, "openai", "openai", "a.yaml", 2, 11);
    alias_add(m, "openai", "openai-api", "a.yaml", 2, 19);
    alias_add(m, "openai", "chatgpt-*", "a.yaml", 2, 31);
    alias_add(m, "claude", "claude", "a.yaml", 3, 11);
    alias_add(m, "claude", "anthropic-*", "a.yaml", 3, 19);
    alias_add(m, "claude", "claude-?ode", "a.yaml", 3, 33);

    is_str(alias_family(m, "openai"), "openai", "exact member");
    is_str(alias_family(m, "OpenAI-API"), "openai", "case-insensitive exact member");
    is_str(alias_family(m, "chatgpt-plus"), "openai", "glob member");
    is_str(alias_family(m, "ChatGPT-Team"), "openai", "case-insensitive glob");
    is_str(alias_family(m, "anthropic-admin"), "claude", "second family glob");
    is_str(alias_family(m, "claude-code"), "claude", "? glob");
    ok(strcmp(alias_family(m, "chatgpt"), "openai") != 0,
       "glob needs its literal dash: 'chatgpt' is not 'chatgpt-*'");

    const char *name = "deepseek";
    ok(alias_family(m, name) == name, "unmatched name is returned as is (same pointer)");
    is_str(alias_family(m, "openai-apis"), "openai-apis", "prefix of a member is not a match");
    ok(alias_family(NULL, name) == name, "NULL map: name itself");

    /* pointer returned for a match is owned by the map, not the argument */
    char *buf = strdup("OPENAI");
    const char *fam = alias_family(m, buf);
    free(buf);
    is_str(fam, "openai", "returned family outlives the queried name");

    /* no conflicts among these names */
    diag_list d = {0};
    const char *names[] = {"openai", "claude-code", "deepseek", "chatgpt-x"};
    is_int(alias_check(m, names, 4, &d), 0, "no conflicts");
    is_int(d.n, 0, "no diagnostics");

    /* the same family named twice (e.g. alias file and a drop-in) is fine */
    alias_add(m, "openai", "openai-*", "conf.d/x.yaml", 4, 7);
    const char *n2[] = {"openai-api"};
    is_int(alias_check(m, n2, 1, &d), 0, "two patterns of the same family: no conflict");

    /* a glob in another family that swallows a claude name */
    alias_add(m, "wide", "*-code", "conf.d/y.yaml", 5, 9);
    const char *n3[] = {"claude-code", "openai", "my-code"};
    is_int(alias_check(m, n3, 3, &d), 1, "one conflict (claude-code)");
    is_int(d.n, 1, "one diagnostic");
    if (d.n == 1) {
        char *s = diag_format(&d.items[0]);
        ok(strncmp(s, "conf.d/y.yaml:5:9: ", 19) == 0, "diag points at the later pattern");
        ok(strstr(s, "a.yaml:3:33") != NULL, "diag names the first place");
        ok(strstr(s, "'claude'") && strstr(s, "'wide'") && strstr(s, "claude-code"),
           "diag names both families and the provider");
        diag_line(s);
        free(s);
    } else {
        ok(0, "diag points at the later pattern");
        ok(0, "diag names the first place");
        ok(0, "diag names both families and the provider");
    }
    is_str(alias_family(m, "my-code"), "wide", "a glob-only family works");
    is_int(alias_check(m, n3, 3, NULL), 1, "NULL diag list still counts");
    diag_clear(&d);

    alias_free(m);
    alias_free(NULL);
    ok(1, "alias_free(NULL) is harmless");
    return done_testing();
}
