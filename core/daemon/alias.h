/*
 * alias.h - the family map: which provider instances coalesce into one row.
 *
 *   families:
 *     openai: [openai, openai-api, openai-codex, codex, "chatgpt-*"]
 *
 * Members are instance names or shell globs (fnmatch), matched
 * case-insensitively.  A name matching no family is its own family.
 */
#ifndef METERD_ALIAS_H
#define METERD_ALIAS_H

#include <stddef.h>
#include "log.h"

typedef struct alias_map alias_map;

alias_map *alias_new(void);
void alias_free(alias_map *m);

/* Add one member pattern to a family; file/line/col say where it was
 * written (kept for conflict messages).  Copies everything. */
void alias_add(alias_map *m, const char *family, const char *pattern,
               const char *file, int line, int col);

/* The family of an instance name: the family whose pattern matches, else
 * the name itself.  Returned pointer is owned by the map or is `name`. */
const char *alias_family(const alias_map *m, const char *name);

/* Is family the family of some entry of m? */
int alias_is_family(const alias_map *m, const char *family);

/* Report every name of names[] that matches patterns of two different
 * families, naming both places.  Returns the number of conflicts. */
size_t alias_check(const alias_map *m, const char *const *names, size_t n,
                   diag_list *diags);

#endif
