/*
 * securepath.h - may meterd trust a file it reads or runs?  sshd's
 * StrictModes, applied to meterd's configuration files (main file,
 * drop-ins, alias map), plugin directories and plugin .so files; and the
 * state directory's privacy.
 *
 * A file (or directory) is trusted by uid when:
 *   - it is owned by root or by uid, and group and others cannot write
 *     it;
 *   - every directory above its canonical path (realpath(3), so every
 *     symlink is resolved), up to and including /, is owned by root, by
 *     uid or by the file's owner, and is not writable by group or others.
 * One exception, for a directory above the file: a root-owned directory
 * with the sticky bit (/tmp) may be writable by everyone.  Others can add
 * names to it but can neither rename nor remove ours, and a name another
 * user adds is owned by that user, so the check of that file refuses it.
 * (sshd's secure_path is stricter; meterd's files are often checked out
 * or unpacked below /tmp, and the sticky bit gives the guarantee that
 * matters here.)
 *
 * The daemon applies these checks only when it runs as root (euid 0):
 * that is when a file writable by someone else hands root to them.
 *
 * Invariants: no state; the functions only stat(2) and realpath(3).
 * Errors follow conventions.h: -1 with *err (malloc'd; the caller frees)
 * saying which path is wrong and why, without the file's own name in
 * front (the caller's diagnostic carries it).
 */
#ifndef METERD_SECUREPATH_H
#define METERD_SECUREPATH_H

#include <sys/stat.h>
#include <sys/types.h>

/* Is path, whose stat is *st (fstat of the open file when the caller has
 * it open, so that the check is about what is read), trusted by uid?
 * st NULL: stat(path) here.  0, or -1 with *err. */
int secure_path_check(const char *path, const struct stat *st, uid_t uid,
                      char **err);

/* Should meterd apply secure_path_check to what it reads and runs?  Only
 * when it runs as root. */
int secure_path_wanted(void);

/* Is dir a directory that only its owner can enter (no group/other
 * permission bits) and that this process can write?  0, or -1 with *err
 * naming dir and the fix. */
int private_dir_check(const char *dir, char **err);

#endif
