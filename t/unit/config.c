/*
 * t/unit/config.c - config_load: defaults, drop-in merging, diagnostics
 * with file:line:col, ${VAR} and *_file secrets, include filtering, alias
 * conflicts, and the shipped conf/ files.
 *
 * Every test writes its own files into a fresh mkdtemp directory (under
 * t/tmp, whose parents are the checkout's), so
 * tests do not depend on each other or on file modes in the checkout.
 * The shipped-file tests read conf/ relative to the repository root,
 * which is where `make check` runs.
 */
#include "tap.h"
#include "alias.h"
#include "config.h"
#include "config_int.h"
#include "timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Under the checkout, not /tmp: running as root, config_load refuses a
 * file below a world-writable directory that is not sticky (StrictModes). */
static char tmproot[] = "t/tmp/meterd-config-XXXXXX";
static int case_no;

/* A fresh directory for one case (under tmproot); caller frees. */
static char *new_dir(void)
{
    /* Absolute: HOME and when_exists paths must not resolve relative to
     * a config file's directory. */
    static char cwd[4096];
    if (!cwd[0] && !getcwd(cwd, sizeof cwd))
        strcpy(cwd, ".");
    char *d = xasprintf("%s/%s/c%d", cwd, tmproot, ++case_no);
    mkdir(d, 0700);
    return d;
}

/* Write dir/rel with content and mode, creating one level of parent. */
static void put(const char *dir, const char *rel, int mode, const char *content)
{
    char *p = xasprintf("%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    mkdir(p, 0700);
    *slash = '/';
    FILE *f = fopen(p, "w");
    if (!f) {
        printf("# cannot write %s: %s\n", p, strerror(errno));
        exit(1);
    }
    fputs(content, f);
    fclose(f);
    chmod(p, (mode_t)mode);
    free(p);
}

/* Every diagnostic, formatted, one per line; caller frees. */
static char *diags_text(const diag_list *d)
{
    char *all = xstrdup("");
    for (size_t i = 0; i < d->n; i++) {
        char *s = diag_format(&d->items[i]);
        char *n = xasprintf("%s%s\n", all, s);
        free(s);
        free(all);
        all = n;
    }
    return all;
}

/* Load dir/meterd.yaml; *d receives the diagnostics. */
static config *load(const char *dir, diag_list *d)
{
    char *p = xasprintf("%s/meterd.yaml", dir);
    config *c = config_load(p, "/usr/lib/meterd/plugins", "/var/lib/meterd", d);
    free(p);
    return c;
}

/* Load, expect failure, and check that the diagnostics contain every
 * given fragment (NULL-terminated). */
static void expect_error_v(const char *dir, const char *name, va_list ap)
{
    diag_list d = {0};
    config *c = load(dir, &d);
    char *txt = diags_text(&d);
    int good = c == NULL && d.n > 0;
    for (const char *frag; (frag = va_arg(ap, const char *)) != NULL;)
        if (!strstr(txt, frag)) {
            printf("#   missing '%s'\n", frag);
            good = 0;
        }
    if (!ok(good, name))
        printf("#   diagnostics:\n%s", txt);
    free(txt);
    config_free(c);
    diag_clear(&d);
}

/* Loading dir fails with every fragment (NULL-terminated) in the
 * diagnostics. */
static void expect_error(const char *dir, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    expect_error_v(dir, name, ap);
    va_end(ap);
}

/* The same after dir/meterd.yaml is replaced by yaml. */
static void expect_yaml_error(const char *dir, const char *yaml,
                              const char *name, ...)
{
    put(dir, "meterd.yaml", 0644, yaml);
    va_list ap;
    va_start(ap, name);
    expect_error_v(dir, name, ap);
    va_end(ap);
}

static const char *opt(const provider_conf *p, const char *k)
{
    return p ? json_string_value(json_object_get(p->options, k)) : NULL;
}

static int has_secret(const provider_conf *p, const char *k)
{
    size_t i;
    json_t *v;
    json_array_foreach(p->secret_options, i, v)
        if (strcmp(json_string_value(v), k) == 0)
            return 1;
    return 0;
}

static const char base_yaml[] =
    "# a comment\n"
    "providers:\n"
    "  deepseek:\n"
    "    plugin: deepseek\n"
    "    base_url: https://api.deepseek.com\n"
    "  ledger:\n"
    "    plugin: exec\n"
    "    interval: 30s\n"
    "    timeout: 5s\n"
    "    command: [/bin/echo, hello]\n"
    "    env: {A: '1', B: two}\n";

static void test_defaults(void)
{
    char *dir = new_dir();
    put(dir, "meterd.yaml", 0644, base_yaml);
    diag_list d = {0};
    config *c = load(dir, &d);
    ok(c != NULL && d.n == 0, "valid config loads without diagnostics");
    if (!c) {
        free(dir);
        diag_clear(&d);
        return;
    }
    is_str(c->listen, "127.0.0.1:9477", "default listen");
    is_str(c->plugin_dir, "/usr/lib/meterd/plugins", "default plugin_dir");
    is_str(c->state_dir, "/var/lib/meterd", "default state_dir");
    is_int(c->endpoint_timeout_ms, 2000, "default endpoint_timeout 2s");
    is_int(c->interval_ms, 60000, "default interval 60s");
    is_int(c->timeout_ms, 10000, "default timeout 10s");
    is_int(c->min_refresh_ms, 10000, "default min_refresh_interval 10s");
    ok(c->aliases_path == NULL, "no aliases.yaml next to it: no alias file");
    ok(c->aliases != NULL, "alias map exists anyway");
    is_int(c->n_files, 1, "one file read");
    is_int(c->n_providers, 2, "two providers");
    is_str(c->providers[0].name, "deepseek", "providers sorted by name (1)");
    is_str(c->providers[1].name, "ledger", "providers sorted by name (2)");
    const provider_conf *ds = config_provider(c, "deepseek");
    const provider_conf *lg = config_provider(c, "ledger");
    ok(ds && lg && !config_provider(c, "nope"), "config_provider finds by exact name");
    if (ds && lg) {
        is_str(ds->plugin_path, "/usr/lib/meterd/plugins/deepseek.so", "plugin_path from plugin_dir");
        is_int(ds->interval_ms, 60000, "provider inherits interval");
        is_int(ds->timeout_ms, 10000, "provider inherits timeout");
        is_int(ds->enabled, 1, "enabled by default");
        is_int(ds->isolation, ISOLATION_PROCESS, "process isolation by default");
        is_str(opt(ds, "base_url"), "https://api.deepseek.com", "option kept as a string");
        ok(json_object_get(ds->options, "plugin") == NULL, "core keys are not options");
        json_t *loc = json_object_get(ds->option_locs, "base_url");
        ok(json_array_size(loc) == 3 && strstr(json_string_value(json_array_get(loc, 0)), "meterd.yaml") &&
           json_integer_value(json_array_get(loc, 1)) == 5 &&
           json_integer_value(json_array_get(loc, 2)) == 5,
           "option_locs gives file, line 5, column 5");
        is_int(ds->line, 3, "provider definition line");
        is_int(lg->interval_ms, 30000, "provider interval");
        is_int(lg->timeout_ms, 5000, "provider timeout");
        char *cmd = json_dumps(json_object_get(lg->options, "command"), JSON_COMPACT);
        is_str(cmd, "[\"/bin/echo\",\"hello\"]", "sequence option -> array of strings");
        free(cmd);
        char *env = json_dumps(json_object_get(lg->options, "env"), JSON_COMPACT | JSON_SORT_KEYS);
        is_str(env, "{\"A\":\"1\",\"B\":\"two\"}", "mapping option -> object of strings");
        free(env);
        is_int(json_array_size(ds->secret_options), 0, "no secrets");
        ok(ds->fingerprint && lg->fingerprint && strcmp(ds->fingerprint, lg->fingerprint) != 0,
           "fingerprints present and distinct");
        is_str(alias_family(c->aliases, "deepseek"), "deepseek", "no family: own family");
    }
    char *dump = config_dump(c);
    ok(strstr(dump, "listen: \"127.0.0.1:9477\"") && strstr(dump, "  ledger:\n") &&
       strstr(dump, "    timeout: 5s\n"), "config_dump shows merged values");
    free(dump);
    config_free(c);
    diag_clear(&d);
    free(dir);
}

static void test_dropins(void)
{
    char *dir = new_dir();
    put(dir, "meterd.yaml", 0644,
        "include: conf.d/*.yaml\n"
        "providers:\n"
        "  deepseek:\n"
        "    plugin: deepseek\n"
        "    base_url: https://api.deepseek.com\n"
        "  ledger:\n"
        "    plugin: exec\n"
        "    command: [a]\n");
    /* reference fingerprints before any drop-in exists */
    diag_list d = {0};
    config *c0 = load(dir, &d);
    ok(c0 != NULL, "main alone loads");

    put(dir, "conf.d/10-timeout.yaml", 0644, "providers: {deepseek: {timeout: 3s}}\n");
    put(dir, "conf.d/20-disable.yaml", 0644, "providers:\n  ledger:\n    enabled: no\n");
    put(dir, "conf.d/30-new.yaml", 0644,
        "listen: '[::1]:9999'\n"
        "interval: 2m\n"
        "providers:\n  extra:\n    plugin: ./plugins/x.so\n    isolation: inline\n"
        "families:\n  mine: [extra, 'ledger']\n");
    put(dir, "conf.d/40-empty.yaml", 0644, "# only comments\n");
    config *c = load(dir, &d);
    char *txt = diags_text(&d);
    if (!ok(c != NULL, "main + four drop-ins load"))
        printf("%s", txt);
    free(txt);
    if (c && c0) {
        const provider_conf *ds = config_provider(c, "deepseek");
        const provider_conf *lg = config_provider(c, "ledger");
        const provider_conf *ex = config_provider(c, "extra");
        is_int(c->n_files, 5, "five files read");
        is_int(ds->timeout_ms, 3000, "drop-in overrides one key");
        is_str(opt(ds, "base_url"), "https://api.deepseek.com", "other keys survive the override");
        is_str(ds->plugin, "deepseek", "plugin survives the override");
        is_int(ds->interval_ms, 120000, "top-level interval from a drop-in applies");
        ok(strcmp(ds->fingerprint, config_provider(c0, "deepseek")->fingerprint) != 0,
           "changed provider: new fingerprint");
        is_int(lg->enabled, 0, "drop-in disables a provider");
        ok(json_array_size(json_object_get(lg->options, "command")) == 1, "disabled provider keeps options");
        ok(ex != NULL, "drop-in adds a provider");
        if (ex) {
            char *want = xasprintf("%s/plugins/x.so", c->dir);
            is_str(ex->plugin_path, want, "plugin path with '/' is relative to the main dir");
            free(want);
            is_int(ex->isolation, ISOLATION_INLINE, "isolation inline");
            ok(strstr(ex->file, "30-new.yaml") != NULL, "provider file is where it was defined");
        }
        is_str(c->listen, "[::1]:9999", "drop-in changes a top-level key");
        is_str(alias_family(c->aliases, "extra"), "mine", "drop-in adds a family");
        is_str(alias_family(c->aliases, "LEDGER"), "mine", "family match is case-insensitive");
    }
    config_free(c);

    /* an unchanged provider keeps its fingerprint across loads */
    put(dir, "conf.d/10-timeout.yaml", 0644, "# nothing\n");
    put(dir, "conf.d/20-disable.yaml", 0644, "# nothing\n");
    put(dir, "conf.d/30-new.yaml", 0644, "providers: {extra: {plugin: x}}\n");
    c = load(dir, &d);
    if (c && c0)
        is_str(config_provider(c, "deepseek")->fingerprint,
               config_provider(c0, "deepseek")->fingerprint,
               "unchanged provider: same fingerprint");
    else
        ok(0, "unchanged provider: same fingerprint");
    config_free(c);
    config_free(c0);
    is_int(d.n, 0, "no diagnostics along the way");
    diag_clear(&d);
    free(dir);
}

static void test_include_filter(void)
{
    char *dir = new_dir();
    put(dir, "meterd.yaml", 0644,
        "include: [conf.d/*, extra/*.yaml]\n"
        "providers: {p: {plugin: x}}\n");
    const char *bad = "this is: [not valid yaml\n";
    put(dir, "conf.d/.hidden.yaml", 0644, bad);
    put(dir, "conf.d/50-x.yaml~", 0644, bad);
    put(dir, "conf.d/50-x.yaml.bak", 0644, bad);
    put(dir, "conf.d/50-x.yaml.dpkg-old", 0644, bad);
    put(dir, "conf.d/50-x.dpkg-dist.yaml", 0644, bad);
    put(dir, "conf.d/50-x.rpmnew.yaml", 0644, bad);
    put(dir, "conf.d/50-x.bak.yaml", 0644, bad);
    put(dir, "conf.d/50-x~.yaml", 0644, bad);
    put(dir, "conf.d/50-x.yaml.orig", 0644, bad);
    put(dir, "conf.d/50-x.yml", 0644, bad);
    put(dir, "conf.d/README", 0644, bad);
    put(dir, "conf.d/10-a.yaml", 0644, "interval: 20s\n");
    put(dir, "conf.d/9-b.yaml", 0644, "interval: 40s\n");   /* '9' > '1' bytewise */
    put(dir, "conf.d/Z-c.yaml", 0644, "timeout: 7s\n");    /* 'Z' < 'a', but > '9' */
    put(dir, "extra/x.yaml", 0644, "timeout: 8s\n");       /* later glob wins */
    char *sub = xasprintf("%s/conf.d/dir.yaml", dir);
    mkdir(sub, 0700);
    free(sub);
    diag_list d = {0};
    config *c = load(dir, &d);
    char *txt = diags_text(&d);
    if (!ok(c != NULL, "dotfiles, backups, non-.yaml and directories are skipped"))
        printf("%s", txt);
    free(txt);
    if (c) {
        is_int(c->n_files, 5, "main + 4 drop-ins read");
        is_int(c->interval_ms, 40000, "byte order: 9-b.yaml after 10-a.yaml");
        is_int(c->timeout_ms, 8000, "second include glob is read after the first");
        ok(strstr(c->files[1], "10-a.yaml") && strstr(c->files[2], "9-b.yaml") &&
           strstr(c->files[3], "Z-c.yaml") && strstr(c->files[4], "extra/x.yaml"),
           "files listed in reading order");
    }
    config_free(c);
    diag_clear(&d);
    free(dir);
}

static void test_yaml_errors(void)
{
    char *dir = new_dir();
    put(dir, "meterd.yaml", 0644, "providers:\n  p:\n    plugin: [x, y\n    timeout: 5s\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    ok(c == NULL && d.n == 1, "malformed YAML: one diagnostic");
    if (d.n >= 1) {
        char *s = diag_format(&d.items[0]);
        char *want = xasprintf("%s/meterd.yaml:4:12: YAML syntax error", dir);
        ok(strncmp(s, want, strlen(want)) == 0, "malformed YAML names file:line:col");
        diag_line(s);
        free(want);
        free(s);
    } else {
        ok(0, "malformed YAML names file:line:col");
    }
    diag_clear(&d);
    config_free(c);

    put(dir, "meterd.yaml", 0644, "include: conf.d/*.yaml\n");
    put(dir, "conf.d/50-bad.yaml", 0644, "providers:\n\tp: {}\n");
    expect_error(dir, "bad YAML in a drop-in names the drop-in", "conf.d/50-bad.yaml:2:", NULL);
    put(dir, "conf.d/50-bad.yaml", 0644, "- just\n- a list\n");
    expect_error(dir, "drop-in that is not a mapping", "conf.d/50-bad.yaml:1:1: ",
                 "must be a mapping", NULL);
    put(dir, "conf.d/50-bad.yaml", 0644, "include: '*.yaml'\n");
    expect_error(dir, "include in a drop-in is refused", "50-bad.yaml:1:10: include is only allowed", NULL);
    put(dir, "conf.d/50-bad.yaml", 0644, "a: 1\n---\nb: 2\n");
    expect_error(dir, "two YAML documents refused", "only one YAML document", NULL);
    free(dir);

    dir = new_dir();
    expect_error(dir, "missing main file", "meterd.yaml:0:0: cannot read: No such file", NULL);
    free(dir);
}

static void test_key_errors(void)
{
    char *dir = new_dir();
    expect_yaml_error(dir, "listen: 127.0.0.1:1\nintreval: 5s\n", "unknown top-level key: did you mean", "meterd.yaml:2:1: unknown key 'intreval'; did you mean 'interval'?", NULL);
    expect_yaml_error(dir, "wibble: 5s\n", "unknown far key lists the known keys", "unknown key 'wibble' (known keys: listen,", NULL);
    expect_yaml_error(dir, "providers:\n  p:\n    plugin: x\n    timout: 5s\n", "provider key typo: did you mean", "meterd.yaml:4:5: provider 'p': unknown key 'timout'; did you mean 'timeout'?", NULL);
    put(dir, "meterd.yaml", 0644, "providers:\n  p:\n    plugin: x\n    login: me\n");
    {
        diag_list d = {0};
        config *c = load(dir, &d);
        ok(c && !strcmp(opt(config_provider(c, "p"), "login"), "me"),
           "an option merely resembling a core key ('login') is an option");
        config_free(c);
        diag_clear(&d);
    }
    expect_yaml_error(dir, "interval: 5 s\n", "bad duration", "meterd.yaml:1:11: interval: '5 s' is not a duration", NULL);
    expect_yaml_error(dir, "timeout: 0s\n", "zero timeout", "timeout must be greater than zero", NULL);
    expect_yaml_error(dir, "providers:\n  p: {plugin: x, enabled: maybe}\n", "bad boolean", "meterd.yaml:2:27: enabled: 'maybe' is not a boolean", NULL);
    expect_yaml_error(dir, "providers:\n  p: {plugin: x, enabled: OFF, isolation: thread}\n", "bad isolation", "isolation: 'thread' is not 'process' or 'inline'", NULL);
    expect_yaml_error(dir, "providers:\n  p: {plugin: x, h: {a: [1]}}\n", "options nested too deeply", "meterd.yaml:2:25: h: too deeply nested", NULL);
    expect_yaml_error(dir, "providers:\n  'bad name!': {plugin: x}\n", "bad instance name", "provider name 'bad name!' may only contain", NULL);
    expect_yaml_error(dir, "providers:\n  p: {interval: 5m}\n", "missing plugin", "meterd.yaml:2:3: provider 'p' has no 'plugin' key", NULL);
    expect_yaml_error(dir, "providers:\n  p: x\n", "provider not a mapping", "provider 'p' must be a mapping, not a scalar", NULL);
    expect_yaml_error(dir, "interval: 1m\ninterval: 2m\n", "duplicate key", "meterd.yaml:2:1: duplicate key 'interval' (first at line 1, column 1)", NULL);
    expect_yaml_error(dir, "listen: [a]\n", "listen must be a string", "listen must be a string, not a list", NULL);
    expect_yaml_error(dir, "listen: localhost\n", "listen without port", "listen: 'localhost': write host:port", NULL);
    expect_yaml_error(dir, "listen: ::1:80\n", "bare IPv6 listen", "IPv6 address as [addr]:port", NULL);
    expect_yaml_error(dir, "listen: 127.0.0.1:70000\n", "listen port out of range", "port must be 0-65535", NULL);
    expect_yaml_error(dir, "listen: unix:run/x.sock\n", "relative unix socket", "must be absolute", NULL);
    expect_yaml_error(dir, "listen: unix:/run/meterd.sock\nproviders: {p: {plugin: x, plugin_file: /x}}\n", "core key from a file refused", "'plugin' is a core key and cannot be read from a file", NULL);
    expect_yaml_error(dir, "aliases: nothere.yaml\n", "missing explicit alias file", "meterd.yaml:1:10: cannot read '", "nothere.yaml': No such file", NULL);
    expect_yaml_error(dir, "families: {x: y}\n", "family must be a list", "family 'x' must be a list", NULL);
    expect_yaml_error(dir, "providers:\n  p: {plugin: ../evil}\n  q: {plugin: 'a b'}\n", "bad plugin name", "plugin: 'a b' is not a plugin name", NULL);
    free(dir);
}

static void test_timeout_interval(void)
{
    char *dir = new_dir();
    expect_yaml_error(dir, "providers:\n  p:\n    plugin: x\n    interval: 10s\n    timeout: 10s\n", "timeout == interval is an error",
                 "meterd.yaml:5:14: provider 'p': timeout 10s must be shorter than interval 10s", NULL);
    expect_yaml_error(dir, "interval: 5s\nproviders:\n  p: {plugin: x}\n", "inherited timeout >= interval reported at the interval",
                 "meterd.yaml:1:11: provider 'p': timeout 10s must be shorter than interval 5s", NULL);
    /* the rule applies to merged values: a drop-in may repair it */
    put(dir, "meterd.yaml", 0644,
        "include: conf.d/*.yaml\nproviders:\n  p: {plugin: x, interval: 10s, timeout: 20s}\n");
    put(dir, "conf.d/fix.yaml", 0644, "providers:\n  p: {interval: 1m}\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    ok(c != NULL && config_provider(c, "p")->interval_ms == 60000,
       "timeout < interval checked after merging");
    config_free(c);
    diag_clear(&d);
    free(dir);
}

static void test_vars_and_secrets(void)
{
    char *dir = new_dir();
    setenv("METERD_T_KEY", "sk-verysecret-123456", 1);
    setenv("METERD_T_HOST", "api.example.com", 1);
    setenv("METERD_T_EMPTY", "", 1);
    unsetenv("METERD_T_UNSET");
    put(dir, "meterd.yaml", 0644,
        "state_dir: ${METERD_T_UNSET:-/srv/state}\n"
        "providers:\n"
        "  p:\n"
        "    plugin: x\n"
        "    api_key: ${METERD_T_KEY}\n"
        "    auth: Bearer ${METERD_T_KEY}\n"
        "    url: https://${METERD_T_HOST}/v1\n"
        "    region: ${METERD_T_EMPTY:-eu}\n"
        "    opt_empty: ${METERD_T_UNSET:-}\n"
        "    literal: cost $$5 and $${NOT_A_VAR}\n"
        "    note: plain sk-verysecret-123456 mention\n"
        "    headers: {X-Key: '${METERD_T_KEY}', X-Plain: yes}\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    char *txt = diags_text(&d);
    if (!ok(c != NULL, "config with ${VAR} loads"))
        printf("%s", txt);
    free(txt);
    if (c) {
        const provider_conf *p = config_provider(c, "p");
        is_str(c->state_dir, "/srv/state", "${VAR:-default} in a core key");
        is_str(opt(p, "api_key"), "sk-verysecret-123456", "${VAR} expanded");
        is_str(opt(p, "auth"), "Bearer sk-verysecret-123456", "${VAR} inside text");
        is_str(opt(p, "url"), "https://api.example.com/v1", "${VAR} in a URL");
        is_str(opt(p, "region"), "eu", "default used for an empty variable");
        is_str(opt(p, "opt_empty"), "", "empty default");
        is_str(opt(p, "literal"), "cost $$5 and ${NOT_A_VAR}", "$${ is a literal ${, other $ kept");
        ok(has_secret(p, "api_key") && has_secret(p, "auth") && has_secret(p, "url") &&
           has_secret(p, "region") && has_secret(p, "headers"),
           "every option from ${VAR} is secret");
        ok(!has_secret(p, "literal") && !has_secret(p, "note"), "plain options are not secret");
        int found = 0;
        for (size_t i = 0; i < c->n_secrets; i++)
            found += !strcmp(c->secrets[i], "sk-verysecret-123456");
        is_int(found, 1, "secret value recorded once in config->secrets");
        char *dump = config_dump(c);
        ok(strstr(dump, "sk-verysecret") == NULL, "secret never in config_dump");
        ok(strstr(dump, "api_key: \"[REDACTED]\"") != NULL, "config_dump shows [REDACTED]");
        ok(strstr(dump, "note: \"plain [REDACTED] mention\"") != NULL,
           "secret value masked even inside a plain option");
        ok(strstr(dump, "api.example.com") == NULL, "expanded URL is secret too");
        ok(strstr(dump, "literal: \"cost $$5 and ${NOT_A_VAR}\"") != NULL, "plain options shown");
        free(dump);
    }
    config_free(c);
    diag_clear(&d);

    expect_yaml_error(dir, "providers:\n  p:\n    plugin: x\n    api_key: ${METERD_T_UNSET}\n", "unset variable is an error at its node",
                 "meterd.yaml:4:14: api_key: environment variable 'METERD_T_UNSET' is not set", NULL);
    expect_yaml_error(dir, "providers:\n  p:\n    plugin: x\n    api_key: ${METERD_T_KEY\n", "unterminated ${", "unterminated '${'", NULL);
    expect_yaml_error(dir, "providers:\n  p:\n    plugin: x\n    api_key: ${9BAD}\n", "bad variable name", "'${9BAD}' is not a valid variable reference", NULL);
    /* a diagnostic about a node holding a secret never shows the value */
    put(dir, "meterd.yaml", 0644, "providers:\n  p:\n    plugin: x\n    timeout: ${METERD_T_KEY}\n");
    {
        diag_list d2 = {0};
        config *c2 = load(dir, &d2);
        char *t = diags_text(&d2);
        ok(!c2 && strstr(t, "not a duration") && !strstr(t, "sk-verysecret"),
           "diagnostic quotes the text as written, not the secret");
        free(t);
        config_free(c2);
        diag_clear(&d2);
    }
    free(dir);
}

static void test_secret_files(void)
{
    char *dir = new_dir();
    put(dir, "key-open", 0644, "sk-fromfile-abcdef\n");
    put(dir, "key-ok", 0600, "sk-fromfile-abcdef\n");
    put(dir, "sub/key-rel", 0600, "rel-secret\r\n");
    /* NAME_file stays a path option: only the plugin's option table says
     * whether NAME is a secret to read (plugin_check_config). */
    put(dir, "meterd.yaml", 0644, "providers:\n  p:\n    plugin: x\n    api_key_file: key-open\n    counter_file: /tmp/x\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    ok(c != NULL, "*_file keys load as options");
    if (c) {
        const provider_conf *p = config_provider(c, "p");
        is_str(opt(p, "api_key_file"), "key-open", "NAME_file kept as written");
        is_str(opt(p, "counter_file"), "/tmp/x", "an ordinary *_file option too");
        ok(json_object_get(p->options, "api_key") == NULL, "nothing read yet");
        char *err = NULL;
        char *v = config_read_secret_file(c, "key-open", &err);
        ok(v == NULL && err && strstr(err, "must not be readable by group or others (chmod 600)"),
           "mode 0644 is refused");
        free(err);
        v = config_read_secret_file(c, "missing", &err);
        ok(v == NULL && err && strstr(err, "cannot read '"), "missing file named");
        free(err);
        v = config_read_secret_file(c, "key-ok", &err);
        is_str(v, "sk-fromfile-abcdef", "mode 0600 read, newline stripped");
        free(v);
        v = config_read_secret_file(c, "sub/key-rel", &err);
        is_str(v, "rel-secret", "relative to the config directory; CRLF stripped");
        free(v);
        v = config_read_secret_file(c, "sub", &err);
        ok(v == NULL && err && strstr(err, "not a regular file"), "a directory is refused");
        free(err);
    }
    config_free(c);
    diag_clear(&d);
    expect_yaml_error(dir, "providers:\n  p:\n    plugin: x\n    plugin_file: key-ok\n", "core keys cannot come from files", "'plugin' is a core key and cannot be read from a file", NULL);
    free(dir);
}

static void test_families(void)
{
    char *dir = new_dir();
    put(dir, "aliases.yaml", 0644, "families:\n  openai: [openai, '*-x']\n  claude: [claude, claude-x]\n");
    expect_yaml_error(dir, "providers:\n  claude-x: {plugin: x}\n  openai: {plugin: y}\n", "name in two families is an error naming both places",
                 "aliases.yaml:3:20: provider 'claude-x' matches family 'openai'", "aliases.yaml:2:20)", NULL);

    put(dir, "aliases.yaml", 0644, "families:\n  openai: [openai, 'chatgpt-*']\n");
    put(dir, "meterd.yaml", 0644, "providers:\n  ChatGPT-Plus: {plugin: x}\n  solo: {plugin: y}\n"
                                  "families:\n  openai: [oa2]\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    ok(c != NULL, "aliases.yaml next to the main file is loaded by default");
    if (c) {
        ok(c->aliases_path && strstr(c->aliases_path, "/aliases.yaml"), "aliases_path resolved");
        is_str(alias_family(c->aliases, "ChatGPT-Plus"), "openai", "glob family from the alias file");
        is_str(alias_family(c->aliases, "oa2"), "openai", "main file adds to a family");
        is_str(alias_family(c->aliases, "solo"), "solo", "unmatched provider is its own family");
        is_int(c->n_files, 2, "alias file counted among the files");
    }
    config_free(c);
    put(dir, "meterd.yaml", 0644, "aliases: ''\nproviders: {chatgpt-a: {plugin: x}}\n");
    c = load(dir, &d);
    ok(c && !c->aliases_path && !strcmp(alias_family(c->aliases, "chatgpt-a"), "chatgpt-a"),
       "aliases: '' disables the alias file");
    config_free(c);
    diag_clear(&d);
    put(dir, "aliases.yaml", 0644, "famlies: {}\n");
    expect_yaml_error(dir, "interval: 1m\n", "unknown key in the alias file", "aliases.yaml:1:1: unknown key 'famlies'; did you mean 'families'?", NULL);
    free(dir);
}

/* The shipped files: the default config must load offline as is. */
static void test_shipped(void)
{
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    FILE *in = fopen("conf/meterd.yaml.in", "r");
    ok(in != NULL, "conf/meterd.yaml.in readable (run from the repository root)");
    if (!in)
        return;
    char *dir = new_dir();
    char *text = xstrdup("");
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        /* the Makefile's substitutions */
        char *s = xstrdup(line);
        const char *keys[3] = {"@PLUGINDIR@", "@STATEDIR@", "@CONFDIR@"};
        const char *vals[3] = {"/opt/plugins", "/opt/state", "/opt/conf"};
        for (int k = 0; k < 3; k++) {
            char *at;
            while ((at = strstr(s, keys[k])) != NULL) {
                *at = '\0';
                char *n = xasprintf("%s%s%s", s, vals[k], at + strlen(keys[k]));
                free(s);
                s = n;
            }
        }
        char *n = xasprintf("%s%s", text, s);
        free(s);
        free(text);
        text = n;
    }
    fclose(in);
    ok(strchr(text, '@') == NULL, "every @VAR@ substituted");
    put(dir, "meterd.yaml", 0644, text);
    free(text);
    char *cmd = xasprintf("cp '%s/conf/aliases.yaml' '%s/' && cp '%s/conf/conf.d/10-example.yaml.example' '%s/' "
                          "&& mkdir -p '%s/conf.d' && cp '%s/conf/conf.d/10-example.yaml.example' '%s/conf.d/'",
                          cwd, dir, cwd, dir, dir, cwd, dir);
    ok(system(cmd) == 0, "copied aliases.yaml and the example drop-in");
    free(cmd);
    unsetenv("DEEPSEEK_API_KEY");
    /* an empty home: what this machine has must not leak in */
    setenv("HOME", dir, 1);
    unsetenv("CLAUDE_CONFIG_DIR");
    unsetenv("CODEX_HOME");
    unsetenv("XDG_CONFIG_HOME");
    diag_list d = {0};
    config *c = load(dir, &d);
    char *txt = diags_text(&d);
    if (!ok(c != NULL, "the bundled default config loads"))
        printf("%s", txt);
    free(txt);
    if (c) {
        const provider_conf *lb = config_provider(c, "local-budget");
        const provider_conf *ds = config_provider(c, "deepseek");
        ok(lb && ds && c->n_providers == 2,
           "local-budget and deepseek configured, nothing detected in an empty home");
        is_int(c->n_detections, 4, "four instances wait for what the machine has");
        is_int(c->n_files, 2, "the .example drop-in is inactive");
        is_str(c->plugin_dir, "/opt/plugins", "plugin_dir substituted");
        if (lb && ds) {
            is_str(lb->plugin_path, "/opt/plugins/exec.so", "exec plugin path");
            is_int(lb->interval_ms, 30000, "local-budget interval 30s");
            is_int(lb->timeout_ms, 5000, "local-budget timeout 5s");
            is_str(json_string_value(json_array_get(json_object_get(lb->options, "command"), 0)),
                   "/opt/conf/examples/ledger-budget", "ledger command");
            is_str(opt(ds, "api_key"), "", "deepseek api_key empty without the variable");
            ok(has_secret(ds, "api_key"), "deepseek api_key is secret");
        }
        is_str(alias_family(c->aliases, "chatgpt-plus"), "openai", "shipped: chatgpt-* is openai");
        is_str(alias_family(c->aliases, "codex-oauth"), "openai", "shipped: codex-oauth is openai");
        is_str(alias_family(c->aliases, "claude-code"), "claude", "shipped: claude-code");
        is_str(alias_family(c->aliases, "anthropic-admin"), "claude", "shipped: anthropic-admin");
        is_str(alias_family(c->aliases, "kimi"), "moonshot", "shipped: kimi");
        is_str(alias_family(c->aliases, "deepseek"), "deepseek", "shipped: deepseek");
    }
    config_free(c);
    diag_clear(&d);

    /* Claude Code's directory appears: its logs instance exists, and joins
     * the claude family; the login instance waits for the credentials */
    char *claude = xasprintf("%s/.claude", dir);
    mkdir(claude, 0700);
    c = load(dir, &d);
    ok(c && config_provider(c, "claude-logs") && !config_provider(c, "claude-oauth") &&
       c->n_providers == 3, "~/.claude enables claude-logs only");
    if (c)
        is_str(alias_family(c->aliases, "claude-logs"), "claude", "claude-logs is claude");
    config_free(c);
    diag_clear(&d);
    put(claude, ".credentials.json", 0600, "{}");
    c = load(dir, &d);
    ok(c && config_provider(c, "claude-oauth") && c->n_providers == 4,
       "the credentials file enables claude-oauth");
    config_free(c);
    diag_clear(&d);
    free(claude);

    /* the example drop-in, activated, is valid against the default */
    char *from = xasprintf("%s/conf.d/10-example.yaml.example", dir);
    char *to = xasprintf("%s/conf.d/10-example.yaml", dir);
    ok(rename(from, to) == 0, "activate the example drop-in");
    free(from);
    free(to);
    c = load(dir, &d);
    txt = diags_text(&d);
    if (!ok(c != NULL, "the example drop-in loads"))
        printf("%s", txt);
    free(txt);
    if (c) {
        is_int(config_provider(c, "deepseek")->timeout_ms, 15000, "example overrides a timeout");
        is_int(config_provider(c, "local-budget")->enabled, 0, "example disables a provider");
        is_str(alias_family(c->aliases, "lab-gpu-2"), "lab", "example adds a family");
    }
    config_free(c);
    diag_clear(&d);
    free(dir);
}

/* when_exists: one path or a list; ${VAR:-default} then ~; the instance
 * is absent unless one exists; a drop-in's null removes the condition;
 * a skipped instance is still checked; bad values are errors. */
static void test_when_exists(void)
{
    char *dir = new_dir();
    setenv("HOME", dir, 1);
    unsetenv("MD_T_WHERE");
    put(dir, "here/x", 0644, "");
    put(dir, "meterd.yaml", 0644,
        "include: conf.d/*.yaml\n"
        "providers:\n"
        "  always: {plugin: x}\n"
        "  home: {plugin: x, when_exists: ~/here}\n"
        "  list: {plugin: x, when_exists: [/nonexistent/a, here/x]}\n"
        "  var: {plugin: x, when_exists: \"${MD_T_WHERE:-~/none}\"}\n"
        "  rel: {plugin: x, when_exists: nothing-here}\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    char *txt = diags_text(&d);
    if (!ok(c != NULL, "when_exists config loads"))
        printf("%s", txt);
    free(txt);
    if (c) {
        ok(config_provider(c, "always") && config_provider(c, "home") &&
           config_provider(c, "list") && !config_provider(c, "var") &&
           !config_provider(c, "rel") && c->n_providers == 3,
           "instances exist only where a path exists");
        is_int(c->n_detections, 4, "every conditional instance is recorded");
        char *want = xasprintf("%s/here", dir);
        is_str(c->n_detections == 4 ? c->detections[0].found : NULL, want,
               "~/ is the home directory");
        free(want);
        char *t = config_detection_text(c);
        char *w1 = xasprintf("# detected: %s/here (home [x] enabled)\n", dir);
        char *w2 = xasprintf("# not detected: %s/none (var [x] skipped)\n", dir);
        ok(strstr(t, w1) && strstr(t, w2), "the detection text names paths and instances");
        if (!strstr(t, w1) || !strstr(t, w2))
            printf("# %s", t);
        free(w1);
        free(w2);
        free(t);
    }
    config_free(c);
    diag_clear(&d);

    /* the variable moves the path; a reload (a new load) looks again */
    char *moved = xasprintf("%s/here", dir);
    setenv("MD_T_WHERE", moved, 1);
    free(moved);
    put(dir, "conf.d/50.yaml", 0644, "providers:\n  rel: {when_exists: ~}\n");
    c = load(dir, &d);
    ok(c && config_provider(c, "var") && config_provider(c, "rel") && c->n_detections == 3,
       "${VAR} honoured; a drop-in's null makes an instance unconditional");
    config_free(c);
    diag_clear(&d);
    unsetenv("MD_T_WHERE");
    char *dropin = xasprintf("%s/conf.d/50.yaml", dir);
    unlink(dropin);
    free(dropin);

    expect_yaml_error(dir,
        "providers:\n  p: {plugin: x, when_exists: /nonexistent, interval: 5s, timeout: 9s}\n", "a skipped instance is still checked",
                 "provider 'p': timeout 9s must be shorter than interval 5s", NULL);
    expect_yaml_error(dir, "providers:\n  p: {plugin: x, when_exists: []}\n", "an empty when_exists list is an error",
                 "meterd.yaml:2:31: when_exists: an empty list", NULL);
    expect_yaml_error(dir, "providers:\n  p: {plugin: x, when_exists: {a: b}}\n", "a mapping is an error",
                 "when_exists must be a path or a list of paths, not a mapping", NULL);
    expect_yaml_error(dir, "providers:\n  p: {plugin: x, when_exists: ''}\n", "an empty path is an error", "when_exists: empty path", NULL);
    expect_yaml_error(dir, "providers:\n  p: {plugin: x, when_exist: /}\n", "a typo of when_exists is caught", "did you mean 'when_exists'", NULL);
    free(dir);
}

/* The key table is the single source: every default parses and lies
 * within the key's bounds, and every key is documented in its section of
 * doc/meterd.yaml.5. */
static void test_key_table(void)
{
    int defaults_ok = 1;
    for (size_t i = 0; i < n_config_keys; i++) {
        const config_key *k = &config_keys[i];
        long long v = 0;
        int rc = 0;
        if (k->type == CK_DURATION && k->dflt)
            rc = duration_parse(k->dflt, &v);
        else if (k->type == CK_DAYS && k->dflt)
            rc = duration_parse_days(k->dflt, &v);
        else
            continue;
        if (rc || v < k->min || (k->max && v > k->max)) {
            printf("#   default of %s ('%s') invalid\n", k->name, k->dflt);
            defaults_ok = 0;
        }
    }
    ok(defaults_ok, "every duration default in the key table parses within its bounds");
    int dflt_ok = 1;
    for (size_t i = 0; i < n_config_keys; i++) {
        const config_key *k = &config_keys[i];
        if (k->dflt_from == DF_TOP && config_key_find(CS_TOP, k->name) < 0) {
            printf("#   %s inherits a top-level key that does not exist\n", k->name);
            dflt_ok = 0;
        }
    }
    ok(dflt_ok, "every inherited default names a top-level key");

    FILE *f = fopen("doc/meterd.yaml.5", "r");
    if (!ok(f != NULL, "doc/meterd.yaml.5 readable (run from the repository root)"))
        return;
    char line[1024], prev[1024] = "";
    const char *section = "";
    char *top = xstrdup(""), *prov = xstrdup("");
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, ".SH ", 4))
            section = !strcmp(line + 4, "TOP-LEVEL KEYS") ? "top"
                    : !strcmp(line + 4, "PROVIDERS") ? "prov" : "";
        if (!strcmp(prev, ".TP") && !strncmp(line, ".B ", 3)) {
            char **into = !strcmp(section, "top") ? &top
                        : !strcmp(section, "prov") ? &prov : NULL;
            if (into) {
                char *n = xasprintf("%s|%s|", *into, line + 3);
                free(*into);
                *into = n;
            }
        }
        snprintf(prev, sizeof prev, "%s", line);
    }
    fclose(f);
    int documented = 1;
    for (size_t i = 0; i < n_config_keys; i++) {
        const config_key *k = &config_keys[i];
        char *want = xasprintf("|%s|", k->name);
        if (!strstr(k->scope == CS_TOP ? top : prov, want)) {
            printf("#   %s key '%s' has no .TP entry in doc/meterd.yaml.5\n",
                   k->scope == CS_TOP ? "top-level" : "provider", k->name);
            documented = 0;
        }
        free(want);
    }
    ok(documented, "every key of the table is documented in its section of meterd.yaml(5)");
    free(top);
    free(prov);
}

static void test_retention(void)
{
    char *dir = new_dir();
    put(dir, "meterd.yaml", 0644, "usage_retention: 1d12h\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    ok(c && c->usage_retention_ms == 36 * 3600000LL, "usage_retention accepts days with smaller units");
    char *dump = c ? config_dump(c) : NULL;
    ok(dump && strstr(dump, "\nusage_retention: 36h\n"), "a retention that is not whole days dumps as hours");
    free(dump);
    config_free(c);
    diag_clear(&d);
    put(dir, "meterd.yaml", 0644, "usage_retention: 90d\n");
    c = load(dir, &d);
    dump = c ? config_dump(c) : NULL;
    ok(dump && strstr(dump, "\nusage_retention: 90d\n"), "whole days dump as days");
    free(dump);
    config_free(c);
    diag_clear(&d);
    expect_yaml_error(dir, "usage_retention: 23h\n", "retention below a day", "meterd.yaml:1:18: usage_retention: '23h' must be between 1d and 36525d", NULL);
    expect_yaml_error(dir, "usage_retention: 400\n", "retention without unit", "meterd.yaml:1:18: usage_retention: '400' is not a duration (write e.g. 400d", NULL);
    expect_yaml_error(dir, "interval: 1d\n", "days only where the key allows them", "meterd.yaml:1:11: interval: '1d' is not a duration", NULL);
    free(dir);
}

/* pricing: per million tokens in the file, per token in the config; file
 * order kept, a drop-in replaces a glob in place; bad entries are
 * diagnosed at their value. */
static void test_pricing(void)
{
    char *dir = new_dir();
    put(dir, "meterd.yaml", 0644,
        "include: conf.d/*.yaml\n"
        "pricing:\n"
        "  'claude-sonnet-4-5*':\n"
        "    input: 2\n"
        "    output: 10\n"
        "    above_200k: {input: 4, output: 15, cache_read: 0.4}\n"
        "  'kimi-*': {input: 0.6, output: 2.5, cache_write: 0, cache_read: 0.15,\n"
        "             cache_write_1h: 1}\n");
    put(dir, "conf.d/10-price.yaml", 0644,
        "pricing:\n  'kimi-*': {input: 1, output: 3}\n  'glm-*': {input: 0.5, output: 2}\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    ok(c && c->n_pricing == 3, "three pricing globs (a drop-in replaces one, adds one)");
    if (c && c->n_pricing == 3) {
        const pricing_row *s = &c->pricing[0], *k = &c->pricing[1], *g = &c->pricing[2];
        ok(!strcmp(s->model, "claude-sonnet-4-5*") && !strcmp(k->model, "kimi-*") &&
           !strcmp(g->model, "glm-*"), "in file order, the replaced glob in place");
        ok(fabs(s->p[PR_IN] - 2e-6) < 1e-18 && fabs(s->p[PR_OUT] - 10e-6) < 1e-18,
           "prices are per million tokens in the file, per token in the config");
        ok(fabs(s->p[PR_CW] - 2.5e-6) < 1e-18 && fabs(s->p[PR_CR] - 0.2e-6) < 1e-18,
           "missing cache prices default to input x 1.25 and x 0.1");
        ok(fabs(s->p[PR_IN_HI] - 4e-6) < 1e-18 && fabs(s->p[PR_CR_HI] - 0.4e-6) < 1e-18 &&
           fabs(s->p[PR_CW_HI] - 5e-6) < 1e-18, "above_200k sets the long-context tier");
        ok(s->p[PR_CW_1H] == PRICING_NO_TIER && g->p[PR_IN_HI] == PRICING_NO_TIER,
           "no tier and no one-hour price unless given");
        ok(fabs(k->p[PR_IN] - 1e-6) < 1e-18 && k->p[PR_CW_1H] == PRICING_NO_TIER,
           "the drop-in's entry replaced the main file's whole entry");
        ok(c->pricing_at[0].line == 3 && c->pricing_at[0].col == 3,
           "where each glob was written is kept");
        config_install_pricing(c);
        pricing_row p;
        is_int(pricing_lookup("claude-sonnet-4-5-20250929", &p), 1,
               "installed overrides win over the built-in table");
        ok(fabs(p.p[PR_OUT] - 10e-6) < 1e-18, "with the configured output price");
        config_install_pricing(NULL);
        is_int(pricing_lookup("claude-sonnet-4-5-20250929", &p), 0,
               "installing no config clears them");
    }
    config_free(c);
    diag_clear(&d);
    free(dir);

    dir = new_dir();
    expect_yaml_error(dir, "pricing:\n  'x-*': {input: 1, ouptut: 2}\n", "unknown price key: did you mean",
                 "meterd.yaml:2:21: pricing: unknown price key 'ouptut' (did you mean 'output'?)", NULL);
    expect_yaml_error(dir, "pricing:\n  'x-*': {input: 1, output: 2, wibble: 3}\n", "far unknown price key lists the known ones",
                 "unknown price key 'wibble' (known: input, output, cache_write", NULL);
    expect_yaml_error(dir, "pricing:\n  'x-*': {input: -1, output: 2}\n", "negative price", "meterd.yaml:2:18: pricing: input: a price cannot be negative (-1)", NULL);
    expect_yaml_error(dir, "pricing:\n  'x-*': {input: 1, output: cheap}\n", "non-numeric price", "meterd.yaml:2:29: pricing: output: 'cheap' is not a number", NULL);
    expect_yaml_error(dir, "pricing:\n  'x-*': {input: 1, output: [2]}\n", "price must be a scalar", "pricing: output: expected a number", NULL);
    expect_yaml_error(dir, "pricing:\n  'x-*': {output: 2}\n", "input is required", "meterd.yaml:2:10: pricing: input and output prices are required", NULL);
    expect_yaml_error(dir, "pricing:\n  'x-*': {input: 1, output: 2, above_200k: {input: 2, outptu: 3}}\n", "tier key typo", "unknown price key 'outptu' (did you mean 'output'?)", NULL);
    expect_yaml_error(dir, "pricing: [a]\n", "pricing must be a mapping", "meterd.yaml:1:10:", NULL);
    free(dir);
}

/* Caps: a secret file over 1 MiB, an expanded value over 1 MiB. */
static void test_caps(void)
{
    char *dir = new_dir();
    size_t big = 1024 * 1024 + 1;
    char *text = xmalloc(big + 1);
    memset(text, 'k', big);
    text[big] = '\0';
    put(dir, "key-big", 0600, text);
    text[big - 1] = '\0';
    put(dir, "key-max", 0600, text);
    put(dir, "meterd.yaml", 0644, "providers: {}\n");
    diag_list d = {0};
    config *c = load(dir, &d);
    if (c) {
        char *err = NULL;
        char *v = config_read_secret_file(c, "key-big", &err);
        ok(v == NULL && err && strstr(err, "is larger than 1048576 bytes"),
           "a secret file over 1 MiB is refused, naming the limit");
        free(err);
        err = NULL;
        v = config_read_secret_file(c, "key-max", &err);
        ok(v && strlen(v) == big - 1 && err == NULL, "a secret file of exactly 1 MiB is read");
        free(v);
    } else {
        ok(0, "config loads for the cap tests");
        ok(0, "config loads for the cap tests");
    }
    config_free(c);
    diag_clear(&d);
    setenv("METERD_T_BIG", text, 1);
    expect_yaml_error(dir, "listen: x${METERD_T_BIG}\n", "an expanded value over the cap is refused at its place",
                 "meterd.yaml:1:9: listen: value longer than 1048576 bytes after expansion", NULL);
    unsetenv("METERD_T_BIG");
    free(text);
    free(dir);
}

/* StrictModes, as root: a configuration file, drop-in or alias map that
 * someone else can change - by its mode, its owner, or a directory above
 * it - is refused, naming the file and the reason at file:0:0. */
static void test_strict_modes(void)
{
    if (geteuid() != 0) {
        for (int i = 0; i < 12; i++)
            ok(1, "# SKIP StrictModes apply only when running as root");
        return;
    }
    char *dir = new_dir();
    chmod(dir, 0755);
    const char *main_yaml = "listen: 127.0.0.1:9477\ninclude: conf.d/*.yaml\n"
                            "aliases: aliases.yaml\n";
    put(dir, "meterd.yaml", 0644, main_yaml);
    put(dir, "conf.d/a.yaml", 0644, "interval: 60s\n");
    put(dir, "aliases.yaml", 0644, "families:\n  f: [a]\n");
    char *cd = xasprintf("%s/conf.d", dir);
    chmod(cd, 0755);
    diag_list d = {0};
    config *c = load(dir, &d);
    ok(c != NULL, "StrictModes: root-owned 0644 files in 0755 directories load");
    if (!c) {
        char *t = diags_text(&d);
        printf("# %s", t);
        free(t);
    }
    config_free(c);
    diag_clear(&d);

    put(dir, "meterd.yaml", 0664, main_yaml);
    expect_error(dir, "StrictModes: a group-writable main file is refused",
                 "meterd.yaml:0:0: refused: is writable by group (mode 0664)", NULL);
    put(dir, "meterd.yaml", 0646, main_yaml);
    expect_error(dir, "StrictModes: an other-writable main file is refused",
                 "meterd.yaml:0:0: refused: is writable by others (mode 0646)", NULL);
    put(dir, "meterd.yaml", 0644, main_yaml);
    char *m = xasprintf("%s/meterd.yaml", dir);
    ok(chown(m, 4242, 4242) == 0, "chown the main file to uid 4242");
    expect_error(dir, "StrictModes: a main file owned by another user is refused",
                 "meterd.yaml:0:0: refused: is owned by uid 4242", NULL);
    ok(chown(m, 0, 0) == 0, "chown it back");

    put(dir, "conf.d/a.yaml", 0666, "interval: 60s\n");
    expect_error(dir, "StrictModes: a writable drop-in is refused, by name",
                 "conf.d/a.yaml:0:0: refused: is writable by group and others", NULL);
    put(dir, "conf.d/a.yaml", 0644, "interval: 60s\n");
    put(dir, "aliases.yaml", 0664, "families:\n  f: [a]\n");
    expect_error(dir, "StrictModes: a writable alias map is refused",
                 "aliases.yaml:0:0: refused: is writable by group", NULL);
    put(dir, "aliases.yaml", 0644, "families:\n  f: [a]\n");

    chmod(cd, 0777);
    expect_error(dir, "StrictModes: a drop-in in a world-writable directory is refused",
                 "conf.d/a.yaml:0:0: refused: directory ", "/conf.d is writable by "
                 "group and others (mode 0777)", NULL);
    chmod(cd, 01777);
    {
        diag_list sd = {0};
        config *sc = load(dir, &sd);
        char *txt = diags_text(&sd);
        if (!ok(sc != NULL, "StrictModes: a root-owned sticky directory (as /tmp) is accepted"))
            printf("#   diagnostics:\n%s", txt);
        free(txt);
        config_free(sc);
        diag_clear(&sd);
    }
    ok(chown(cd, 4242, 4242) == 0, "chown the sticky conf.d to uid 4242");
    expect_error(dir, "StrictModes: a sticky world-writable directory of another user is refused",
                 "/conf.d is owned by uid 4242", NULL);
    if (chown(cd, 0, 0) != 0)
        printf("# chown back failed: %s\n", strerror(errno));
    chmod(cd, 0755);
    ok(chown(cd, 4242, 4242) == 0, "chown conf.d to uid 4242");
    expect_error(dir, "StrictModes: a directory owned by another user is refused",
                 "/conf.d is owned by uid 4242", NULL);
    if (chown(cd, 0, 0) != 0)
        printf("# chown back failed\n");
    free(cd);
    free(m);
    free(dir);
}

int main(void)
{
    mkdir("t/tmp", 0755);
    if (!mkdtemp(tmproot)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_defaults();
    test_dropins();
    test_include_filter();
    test_yaml_errors();
    test_key_errors();
    test_timeout_interval();
    test_vars_and_secrets();
    test_secret_files();
    test_families();
    test_shipped();
    test_when_exists();
    test_key_table();
    test_retention();
    test_pricing();
    test_caps();
    test_strict_modes();
    char *rm = xasprintf("rm -rf '%s'", tmproot);
    if (system(rm) != 0)
        printf("# could not remove %s\n", tmproot);
    free(rm);
    return done_testing();
}
