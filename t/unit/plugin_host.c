/* t/unit/plugin_host.c - plugin loading and option validation. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin_check.h"
#include "plugin_host.h"
#include "probe.h"
#include "tap.h"

static char *plugin_path(const char *name)
{
    const char *dir = getenv("METERD_TEST_PLUGIN_DIR");
    return xasprintf("%s/%s.so", dir && *dir ? dir : "t/plugins", name);
}

static int contains(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

/* ---- plugin_open ---- */

static void test_open(void)
{
    loaded_plugin lp;
    md_error cls = MD_ERR_NONE;
    char *err = NULL;
    char *path = plugin_path("good");
    is_int(plugin_open(path, "inst", &lp, &cls, &err), 0, "good opens");
    ok(lp.desc && strcmp(lp.desc->name, "good") == 0, "descriptor name");
    ok(lp.desc && lp.desc->collect != NULL, "collect present");
    ok(lp.path && contains(lp.path, "good.so"), "path recorded");
    ok(err == NULL && cls == MD_ERR_NONE, "no error on success");
    plugin_close(&lp);
    ok(lp.handle == NULL && lp.path == NULL, "close clears the handle");
    free(path);

    path = plugin_path("abi2");
    is_int(plugin_open(path, "myabi", &lp, &cls, &err), -1, "abi2 refused");
    is_int(cls, MD_ERR_ABI, "abi2: class abi");
    is_str(err, "plugin 'myabi' built for ABI 2, meterd provides 1",
           "abi2: exact message with instance name");
    free(err);
    err = NULL;
    is_int(plugin_open(path, NULL, &lp, &cls, &err), -1, "abi2 refused again");
    is_str(err, "plugin 'abi2' built for ABI 2, meterd provides 1",
           "abi2: plugin name without an instance");
    free(err);
    free(path);

    path = plugin_path("noentry");
    err = NULL;
    is_int(plugin_open(path, "ne", &lp, &cls, &err), -1, "noentry refused");
    is_int(cls, MD_ERR_ABI, "noentry: class abi");
    ok(contains(err, "plugin 'ne' (") &&
           contains(err, "has no meterd_plugin_entry symbol"),
       "noentry: message names the missing symbol");
    free(err);
    free(path);

    /* The test binary, like the daemon, exports no symbol (no
     * -rdynamic), although it contains xstrdup. */
    path = plugin_path("daemon_sym");
    err = NULL;
    is_int(plugin_open(path, "ds", &lp, &cls, &err), -1,
           "a plugin calling the core's xstrdup is refused");
    is_int(cls, MD_ERR_ABI, "daemon_sym: class abi");
    ok(contains(err, "plugin 'ds' (") &&
           contains(err, "needs symbol 'xstrdup'") &&
           contains(err, "libmeterd-plugin.a"),
       "daemon_sym: message names the symbol and the SDK rule");
    free(err);
    free(path);

    path = plugin_path("does_not_exist");
    err = NULL;
    is_int(plugin_open(path, "gone", &lp, &cls, &err), -1, "missing refused");
    is_int(cls, MD_ERR_CONFIG, "missing: class config");
    ok(contains(err, "gone") && contains(err, "No such file"),
       "missing: dlerror text included");
    free(err);
    free(path);
}

/* ---- plugin_check_config ---- */

static void set_loc(provider_conf *pc, const char *key, int line)
{
    json_object_set_new(pc->option_locs, key,
                        json_pack("[sii]", "conf.d/x.yaml", line, 5));
}

static void init_pc(provider_conf *pc, const char *name, const char *plugin,
                    const char *options_json, int line)
{
    memset(pc, 0, sizeof *pc);
    pc->name = xstrdup(name);
    pc->plugin = xstrdup(plugin);
    pc->plugin_path = plugin_path(plugin);
    pc->enabled = 1;
    pc->options = json_loads(options_json, 0, NULL);
    pc->option_locs = json_object();
    pc->secret_options = json_array();
    pc->file = xstrdup("meterd.yaml");
    pc->line = line;
    pc->col = 3;
    const char *k;
    json_t *v;
    int l = line + 1;
    json_object_foreach(pc->options, k, v) set_loc(pc, k, l++);
}

static void free_pc(provider_conf *pc)
{
    free(pc->name);
    free(pc->plugin);
    free(pc->plugin_path);
    json_decref(pc->options);
    json_decref(pc->option_locs);
    json_decref(pc->secret_options);
    free(pc->file);
}

/* The diagnostics of provider `name`, formatted, joined by newlines. */
static char *diags_for(const diag_list *dl, const char *name)
{
    char *needle = xasprintf("provider '%s':", name);
    char *needle2 = xasprintf("plugin '%s' ", name);
    char *all = xstrdup("");
    for (size_t i = 0; i < dl->n; i++) {
        char *line = diag_format(&dl->items[i]);
        if (strstr(line, needle) || strstr(line, needle2)) {
            char *next = xasprintf("%s%s\n", all, line);
            free(all);
            all = next;
        }
        free(line);
    }
    free(needle);
    free(needle2);
    return all;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

enum { P_TYPO, P_MISSING, P_TYPES, P_SECRET, P_CHECK, P_CHECKSECRET,
       P_DISABLED, P_ABI, P_SHAPES, P_FAR, N_P };

static void build_config(config *c, provider_conf *pcs)
{
    memset(c, 0, sizeof *c);
    init_pc(&pcs[P_TYPO], "typo", "opts",
            "{\"api_url\": \"http://x\", \"retrys\": \"3\"}", 10);
    init_pc(&pcs[P_MISSING], "missing", "opts", "{}", 20);
    init_pc(&pcs[P_TYPES], "types", "opts",
            "{\"api_url\": \"u\", \"verbose\": \"maybe\", \"period\": "
            "\"5 parsecs\", \"retries\": \"ten\", \"ratio\": \"1.5x\"}",
            30);
    init_pc(&pcs[P_SECRET], "secret", "opts",
            "{\"api_url\": \"u\", \"api_key\": \"sk-secret-123\", \"verbose\":"
            " \"YES\", \"period\": \"1m30s\", \"tags\": [\"a\"], \"extra\": "
            "{\"k\": \"v\"}}",
            40);
    init_pc(&pcs[P_CHECK], "check", "opts",
            "{\"api_url\": \"u\", \"retries\": \"11\"}", 50);
    init_pc(&pcs[P_CHECKSECRET], "checksecret", "opts",
            "{\"api_url\": \"u\", \"api_key\": \"reject-this-key\"}", 60);
    init_pc(&pcs[P_DISABLED], "disabled", "opts", "{\"bogus\": \"1\"}", 70);
    pcs[P_DISABLED].enabled = 0;
    init_pc(&pcs[P_ABI], "future", "abi2", "{}", 80);
    init_pc(&pcs[P_SHAPES], "shapes", "opts",
            "{\"api_url\": [\"u\"], \"tags\": \"notalist\", \"extra\": "
            "[\"a\"], \"verbose\": null}",
            90);
    init_pc(&pcs[P_FAR], "far", "opts",
            "{\"api_url\": \"u\", \"zzzzzzzz\": \"1\"}", 100);
    /* a ${VAR}-style secret the config loader marked already */
    json_array_append_new(pcs[P_TYPES].secret_options, json_string("ratio"));
    c->providers = pcs;
    c->n_providers = N_P;
}

static void test_validate_messages(const diag_list *dl)
{
    char *d = diags_for(dl, "typo");
    ok(contains(d, "conf.d/x.yaml:12:5: provider 'typo': unknown option "
                   "'retrys' (did you mean 'retries'?)"),
       "unknown option: location and did-you-mean");
    ok(contains(d, "accepts: api_url, retries, verbose, period, api_key, "
                   "ratio, tags, extra"),
       "unknown option: valid options listed");
    free(d);

    d = diags_for(dl, "missing");
    ok(contains(d, "meterd.yaml:20:3: provider 'missing': missing required "
                   "option 'api_url'"),
       "missing required option at the provider");
    is_int(count_lines(d), 1, "missing: exactly one problem");
    free(d);

    d = diags_for(dl, "types");
    ok(contains(d, "option 'verbose' must be a boolean") &&
           contains(d, "got 'maybe'"),
       "bad bool reported with value");
    ok(contains(d, "option 'period' must be a duration"), "bad duration");
    ok(contains(d, "option 'retries' must be an integer, got 'ten'"),
       "bad int");
    ok(contains(d, "option 'ratio' must be a number") &&
           !contains(d, "1.5x"),
       "bad value of a secret option is not echoed");
    is_int(count_lines(d), 4, "types: four problems");
    free(d);

    d = diags_for(dl, "secret");
    is_str(d, "", "valid options: no problems");
    free(d);

    d = diags_for(dl, "check");
    ok(contains(d, "provider 'check': retries must be at most 10, got 11"),
       "plugin check() failure collected");
    free(d);
    d = diags_for(dl, "checksecret");
    ok(contains(d, "api_key [REDACTED] is not accepted") &&
           !contains(d, "reject-this-key"),
       "check() message masks the secret");
    free(d);
}

static void test_validate_more(const diag_list *dl)
{
    char *d = diags_for(dl, "disabled");
    is_str(d, "", "disabled providers are not validated");
    free(d);
    d = diags_for(dl, "future");
    ok(contains(d, "meterd.yaml:80:3: plugin 'future' built for ABI 2, "
                   "meterd provides 1"),
       "ABI mismatch reported at the provider");
    free(d);
    d = diags_for(dl, "shapes");
    ok(contains(d, "option 'api_url' must be a string, not a list"),
       "list for a scalar");
    ok(contains(d, "option 'tags' must be a list of strings"),
       "scalar for a list");
    ok(contains(d, "option 'extra' must be a mapping of strings"),
       "list for a map");
    ok(contains(d, "option 'verbose' has no value"), "empty value");
    free(d);
    d = diags_for(dl, "far");
    ok(contains(d, "unknown option 'zzzzzzzz'") &&
           !contains(d, "did you mean"),
       "no hint when nothing is close");
    free(d);
}

static int has_string(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), s) == 0)
        return 1;
    return 0;
}

static void test_validate(void)
{
    config c;
    provider_conf pcs[N_P];
    diag_list dl = {0};
    build_config(&c, pcs);
    size_t n = plugin_check_config(&c, &dl, NULL);
    is_int(n, dl.n, "return value counts the problems added");
    /* typo 1, missing 1, types 4, check 1, checksecret 1, abi 1,
     * shapes 4, far 1 */
    is_int(n, 14, "fourteen problems in all");
    test_validate_messages(&dl);
    test_validate_more(&dl);

    ok(has_string(pcs[P_SECRET].secret_options, "api_key"),
       "MD_OPT_SECRET option marked secret");
    int found = 0;
    for (size_t i = 0; i < c.n_secrets; i++)
        found += strcmp(c.secrets[i], "sk-secret-123") == 0;
    is_int(found, 1, "secret value added to the config's secrets once");
    is_int(json_array_size(pcs[P_SECRET].secret_options), 1,
           "no duplicate secret option names");

    /* validating twice adds nothing new to the secret lists */
    diag_list dl2 = {0};
    plugin_check_config(&c, &dl2, NULL);
    is_int(json_array_size(pcs[P_SECRET].secret_options), 1,
           "second validation keeps one entry");
    diag_clear(&dl2);

    for (size_t i = 0; i < c.n_secrets; i++)
        free(c.secrets[i]);
    free(c.secrets);
    for (size_t i = 0; i < N_P; i++)
        free_pc(&pcs[i]);
    diag_clear(&dl);
}

/* NAME_file for a secret option NAME is read into NAME; other *_file
 * options are left alone. */
static void test_secret_files(void)
{
    char tmpl[] = "/tmp/meterd-ph-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ok(dir != NULL, "scratch dir");
    char *ok_path = xasprintf("%s/key", dir), *open_path = xasprintf("%s/open", dir);
    FILE *f = fopen(ok_path, "w");
    fputs("sk-file-secret-777\n", f);
    fclose(f);
    chmod(ok_path, 0600);
    f = fopen(open_path, "w");
    fputs("sk-open\n", f);
    fclose(f);
    chmod(open_path, 0644);

    config c;
    memset(&c, 0, sizeof c);
    c.dir = dir;
    provider_conf pcs[4];
    char *j0 = xasprintf("{\"api_url\": \"u\", \"api_key_file\": \"key\"}");
    char *j1 = xasprintf("{\"api_url\": \"u\", \"api_key_file\": \"%s\"}", open_path);
    char *j2 = xasprintf("{\"api_url\": \"u\", \"api_key\": \"a\", \"api_key_file\": \"key\"}");
    init_pc(&pcs[0], "fromfile", "opts", j0, 10);
    init_pc(&pcs[1], "openfile", "opts", j1, 20);
    init_pc(&pcs[2], "twice", "opts", j2, 30);
    init_pc(&pcs[3], "plain", "good", "{\"counter_file\": \"/tmp/c\"}", 40);
    c.providers = pcs;
    c.n_providers = 4;
    diag_list dl = {0};
    plugin_check_config(&c, &dl, NULL);
    is_str(json_string_value(json_object_get(pcs[0].options, "api_key")),
           "sk-file-secret-777", "file content became the secret option");
    ok(!json_object_get(pcs[0].options, "api_key_file"), "the _file key is gone");
    ok(has_string(pcs[0].secret_options, "api_key"), "marked secret");
    int found = 0;
    for (size_t i = 0; i < c.n_secrets; i++)
        found += strcmp(c.secrets[i], "sk-file-secret-777") == 0;
    is_int(found, 1, "content registered for masking");
    char *d1 = diags_for(&dl, "openfile");
    ok(contains(d1, "must not be readable by group or others"), "0644 file refused");
    ok(contains(d1, "x.yaml:22:5: "), "at the _file key's location");
    char *d2 = diags_for(&dl, "twice");
    ok(contains(d2, "option 'api_key' is set twice"), "NAME and NAME_file together refused");
    char *d3 = diags_for(&dl, "plain");
    is_str(d3, "", "a declared *_file option is an ordinary option");
    is_str(json_string_value(json_object_get(pcs[3].options, "counter_file")), "/tmp/c",
           "and keeps its value");
    free(d1);
    free(d2);
    free(d3);
    for (size_t i = 0; i < c.n_secrets; i++)
        free(c.secrets[i]);
    free(c.secrets);
    for (size_t i = 0; i < 4; i++)
        free_pc(&pcs[i]);
    diag_clear(&dl);
    unlink(ok_path);
    unlink(open_path);
    rmdir(dir);
    free(ok_path);
    free(open_path);
    free(j0);
    free(j1);
    free(j2);
}

/* ABI 1.1: the plugin's default interval and minimum. */
static void test_intervals(void)
{
    config c;
    memset(&c, 0, sizeof c);
    provider_conf pcs[3];
    init_pc(&pcs[0], "dflt", "slowpoll", "{}", 10);
    pcs[0].interval_ms = 60000; /* the global default, not set here */
    init_pc(&pcs[1], "fast", "slowpoll", "{}", 20);
    pcs[1].interval_ms = 30000;
    pcs[1].interval_set = 1;
    init_pc(&pcs[2], "ok", "slowpoll", "{}", 30);
    pcs[2].interval_ms = 90000;
    pcs[2].interval_set = 1;
    c.providers = pcs;
    c.n_providers = 3;
    diag_list dl = {0};
    plugin_check_config(&c, &dl, NULL);
    is_int(pcs[0].interval_ms, 180000, "unset interval takes the plugin's default");
    char *d1 = diags_for(&dl, "fast");
    ok(contains(d1, "interval 30s is below the minimum of 1m for plugin 'slowpoll'"),
       "an interval below the plugin's minimum is refused");
    is_int(pcs[2].interval_ms, 90000, "an explicit interval above the minimum is kept");
    is_int(dl.n, 1, "only that one problem");
    free(d1);
    for (size_t i = 0; i < 3; i++)
        free_pc(&pcs[i]);
    diag_clear(&dl);
}

/* ABI 1.3: what a descriptor produces, with the default for plugins built
 * before the field existed (their struct_size stops short of it). */
static void test_produces(void)
{
    md_plugin d = {MD_PLUGIN_HEADER, .name = "p", .produces = 0};
    is_int((int)plugin_produces(&d), (int)MD_PRODUCES_METERS,
           "produces 0: meters only");
    d.produces = MD_PRODUCES_USAGE_CELLS;
    is_int((int)plugin_produces(&d), (int)MD_PRODUCES_USAGE_CELLS,
           "a 1.3 descriptor's declaration is read");
    d.struct_size = (uint32_t)offsetof(md_plugin, produces);
    is_int((int)plugin_produces(&d), (int)MD_PRODUCES_METERS,
           "a 1.2 descriptor (shorter struct_size) is meters only, whatever "
           "lies past its end");

    loaded_plugin lp;
    md_error cls;
    char *err = NULL;
    char *path = plugin_path("cellmaker");
    if (plugin_open(path, NULL, &lp, &cls, &err) == 0) {
        ok(plugin_produces(lp.desc) & MD_PRODUCES_USAGE_CELLS,
           "cellmaker.so declares usage cells");
        plugin_close(&lp);
    } else
        ok(0, "cellmaker.so loads");
    free(err);
    free(path);
}

int main(void)
{
    /* plugin_check_config probes plugins with the daemon binary (probe.h):
     * this program never loads one to check it. */
    probe_set_helper("./meterd");
    test_produces();
    test_open();
    test_intervals();
    test_validate();
    test_secret_files();
    return done_testing();
}
