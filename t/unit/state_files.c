/*
 * t/unit/state_files.c - state files are never followed through a
 * symlink (O_NOFOLLOW): a planted link is refused and left in place, its
 * target neither read nor moved; written files are 0600; and a state_dir
 * open to group or others is refused by private_dir_check.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "securepath.h"
#include "statefile.h"
#include "tap.h"

int main(void)
{
    plan(9);
    mkdir("t/tmp", 0755);
    char tmpl[] = "t/tmp/state-files-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char *target = xasprintf("%s/elsewhere.json", dir);
    char *link = xasprintf("%s/snapshot.json", dir);
    FILE *f = fopen(target, "w");
    fputs("{not json", f);
    fclose(f);
    if (symlink("elsewhere.json", link) != 0)
        printf("# symlink: %s\n", strerror(errno));

    json_t *doc = NULL;
    char *err = NULL;
    is_int(statefile_read(dir, "snapshot.json", &doc, &err), -1,
           "a symlinked state file is refused");
    ok(err && strstr(err, "symbolic link"), "... saying it is a symbolic link");
    struct stat st;
    ok(lstat(link, &st) == 0 && S_ISLNK(st.st_mode) && stat(target, &st) == 0,
       "... the link and its target left where they were (not moved aside)");
    free(err);
    err = NULL;

    is_int(statefile_write(dir, "snapshot.json", "{}", &err), 0,
           "writing replaces the link by a file");
    ok(lstat(link, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
       "... a regular file of mode 0600");
    f = fopen(target, "r");
    char buf[16] = {0};
    ok(f && fgets(buf, sizeof buf, f) && strcmp(buf, "{not json") == 0,
       "... the old target untouched");
    if (f)
        fclose(f);

    chmod(dir, 0755);
    ok(private_dir_check(dir, &err) == -1 && err && strstr(err, "mode 0755"),
       "a state_dir at 0755 is refused, naming the mode");
    free(err);
    err = NULL;
    chmod(dir, 0710);
    ok(private_dir_check(dir, &err) == -1, "... as is 0710 (group may enter)");
    free(err);
    err = NULL;
    chmod(dir, 0700);
    ok(private_dir_check(dir, &err) == 0, "0700 passes");

    unlink(link);
    unlink(target);
    rmdir(dir);
    free(link);
    free(target);
    return done_testing();
}
