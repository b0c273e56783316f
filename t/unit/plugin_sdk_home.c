/* t/unit/plugin_sdk_home.c - mdu_expand_home (libmeterd-plugin.a): "~/"
 * from $HOME, and from the passwd entry when HOME is unset or empty, the
 * way the shells do; other paths untouched. */
#include "tap.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meterd/util.h"

static void expands_to(const char *in, const char *want, const char *name)
{
    char *got = mdu_expand_home(in);
    is_str(got, want, name);
    free(got);
}

int main(void)
{
    struct passwd *pw = getpwuid(getuid());
    const char *pwdir = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
    char want[4096];

    setenv("HOME", "/home/someone", 1);
    expands_to("~/.codex/auth.json", "/home/someone/.codex/auth.json",
               "HOME set: ~/x is $HOME/x");
    expands_to("~", "/home/someone", "a lone ~ is $HOME");
    expands_to("/etc/creds.json", "/etc/creds.json", "absolute path copied");
    expands_to("rel/creds.json", "rel/creds.json", "relative path copied");
    expands_to("~other/x", "~other/x", "~user/ is not expanded");
    expands_to("a/~/b", "a/~/b", "a ~ inside the path is not expanded");

    setenv("HOME", "/home/someone/", 1);
    expands_to("~/x", "/home/someone/x", "HOME with a trailing slash: one slash");
    setenv("HOME", "/", 1);
    expands_to("~/x", "/x", "HOME=/: /x, not //x");

    if (!pwdir) {
        diag_line("no passwd entry for this uid: the fallback is not tested");
    } else {
        snprintf(want, sizeof want, "%s/.gemini/oauth_creds.json", pwdir);
        unsetenv("HOME");
        expands_to("~/.gemini/oauth_creds.json", want,
                   "HOME unset: the passwd entry's directory");
        setenv("HOME", "", 1);
        expands_to("~/.gemini/oauth_creds.json", want,
                   "HOME empty: the passwd entry's directory");
        unsetenv("HOME");
        expands_to("/abs", "/abs", "HOME unset: absolute path still copied");
    }

    errno = 0;
    ok(mdu_expand_home(NULL) == NULL && errno == EINVAL, "NULL path: EINVAL");
    return done_testing();
}
