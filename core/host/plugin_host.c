/*
 * plugin_host.c - loading plugins and validating provider options against
 * their option tables (see plugin_host.h).
 */
#include "plugin_host.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostctx.h"
#include "log.h"
#include "parse.h"
#include "securepath.h"
#include "timeutil.h"

/* Size of md_plugin in ABI 1.0 (through fini).  When fields are appended
 * in a later minor, this stays the 1.0 size: older plugins remain fine. */
#define MD_PLUGIN_SIZE_1_0 \
    (offsetof(md_plugin, fini) + sizeof(((md_plugin *)0)->fini))


static int open_fail(md_error cls, char *msg, md_error *out_cls, char **err)
{
    *out_cls = cls;
    *err = msg;
    return -1;
}

/* Checks of the descriptor; NULL when fine, else a malloc'd message. */
static char *descriptor_problem(const md_plugin *d, const char *who,
                                const char *path)
{
    if (!d)
        return xasprintf("plugin '%s' (%s) returned no descriptor", who, path);
    if (d->abi_major != MD_ABI_MAJOR)
        return xasprintf("plugin '%s' built for ABI %u, meterd provides %u",
                         who, (unsigned)d->abi_major, (unsigned)MD_ABI_MAJOR);
    if (d->struct_size < MD_PLUGIN_SIZE_1_0)
        return xasprintf("plugin '%s' (%s) has a descriptor of %u bytes, "
                         "ABI %d.0 needs at least %zu",
                         who, path, (unsigned)d->struct_size, MD_ABI_MAJOR,
                         (size_t)MD_PLUGIN_SIZE_1_0);
    if (!d->collect)
        return xasprintf("plugin '%s' (%s) has no collect function", who,
                         path);
    return NULL;
}

/* Why dlopen failed, as a message (malloc'd).  A symbol the plugin needs
 * and nothing provides is a plugin/core mismatch, not a configuration
 * problem: the daemon exports no symbol (it is linked without -rdynamic),
 * so a plugin that calls a core function - xstrdup, log_msg - ends here
 * rather than binding to core internals.  dlerror() words it
 * "<file>: undefined symbol: <name>" (glibc); *cls becomes MD_ERR_ABI and
 * the message names the symbol and what a plugin may use instead. */
static char *load_problem(const char *who, const char *full, const char *why,
                          md_error *cls)
{
    static const char marker[] = "undefined symbol: ";
    const char *sym = why ? strstr(why, marker) : NULL;
    if (!sym)
        return xasprintf("plugin '%s': cannot load %s: %s", who, full,
                         why ? why : "unknown error");
    sym += sizeof marker - 1;
    *cls = MD_ERR_ABI;
    return xasprintf("plugin '%s' (%s) needs symbol '%.*s', which meterd does "
                     "not provide: plugins may use only the SDK header "
                     "(meterd/plugin.h: everything through md_host), "
                     "meterd/util.h with libmeterd-plugin.a, and the "
                     "libraries they link themselves",
                     who, full, (int)strcspn(sym, " \t\n,;()"), sym);
}

/* "dir/deepseek.so" -> "deepseek": what to call a plugin before its
 * descriptor can be trusted.  Caller frees. */
static char *plugin_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    char *s = xstrdup(base ? base + 1 : path);
    size_t n = strlen(s);
    if (n > 3 && strcmp(s + n - 3, ".so") == 0)
        s[n - 3] = '\0';
    return s;
}

int plugin_open(const char *path, const char *instance, loaded_plugin *out,
                md_error *cls, char **err)
{
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return open_fail(MD_ERR_CONFIG,
                         xasprintf("plugin '%s': no plugin path",
                                   instance ? instance : "?"),
                         cls, err);
    char *stem = plugin_stem(path);
    const char *who = instance ? instance : stem;
    /* A bare name would make dlopen search the system library path. */
    char *full = strchr(path, '/') ? xstrdup(path) : xasprintf("./%s", path);
    /* StrictModes again at the moment of loading (each collection's
     * helper loads anew): the file may have changed since the
     * configuration was checked. */
    char *untrusted = NULL;
    if (secure_path_wanted() && access(full, F_OK) == 0 &&
        secure_path_check(full, NULL, geteuid(), &untrusted) != 0) {
        char *msg = xasprintf("plugin '%s' (%s) %s", who, full, untrusted);
        free(untrusted);
        free(full);
        free(stem);
        return open_fail(MD_ERR_CONFIG, msg, cls, err);
    }
    dlerror();
    void *h = dlopen(full, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        md_error c = MD_ERR_CONFIG;
        char *msg = load_problem(who, full, why, &c);
        free(full);
        free(stem);
        return open_fail(c, msg, cls, err);
    }
    md_plugin_entry_fn entry;
    /* POSIX blesses this conversion for dlsym results. */
    *(void **)&entry = dlsym(h, MD_PLUGIN_ENTRY_NAME);
    if (!entry) {
        char *msg = xasprintf("plugin '%s' (%s) has no %s symbol", who, full,
                              MD_PLUGIN_ENTRY_NAME);
        dlclose(h);
        free(full);
        free(stem);
        return open_fail(MD_ERR_ABI, msg, cls, err);
    }
    const md_plugin *d = entry();
    if (!instance && d && d->abi_major == MD_ABI_MAJOR && d->name)
        who = d->name;
    char *problem = descriptor_problem(d, who, full);
    free(stem);
    if (problem) {
        dlclose(h);
        free(full);
        return open_fail(MD_ERR_ABI, problem, cls, err);
    }
    out->handle = h;
    out->desc = d;
    out->path = full;
    *cls = MD_ERR_NONE;
    *err = NULL;
    return 0;
}

uint32_t plugin_produces(const md_plugin *d)
{
    if (d->struct_size < offsetof(md_plugin, produces) + sizeof d->produces ||
        d->produces == 0)
        return MD_PRODUCES_METERS;
    return d->produces;
}

void plugin_close(loaded_plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->path);
    memset(p, 0, sizeof *p);
}
