/*
 * alias.c - the family map: provider instance name -> family name.
 *
 * The map is a flat list of (family, pattern, where-written) entries in
 * the order they were added.  Lists are short (tens of entries), so a
 * linear fnmatch scan is both fast enough and obviously correct.
 */
#include "alias.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

typedef struct alias_entry {
    char *family;   /* owned */
    char *pattern;  /* owned; instance name or shell glob */
    char *file;     /* owned; may be NULL */
    int line, col;
} alias_entry;

struct alias_map {
    alias_entry *e; /* owned array */
    size_t n, cap;
};

alias_map *alias_new(void)
{
    return xcalloc(1, sizeof(alias_map));
}

void alias_free(alias_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].family);
        free(m->e[i].pattern);
        free(m->e[i].file);
    }
    free(m->e);
    free(m);
}

int alias_is_family(const alias_map *m, const char *family)
{
    for (size_t i = 0; m && family && i < m->n; i++)
        if (strcmp(m->e[i].family, family) == 0)
            return 1;
    return 0;
}

void alias_add(alias_map *m, const char *family, const char *pattern,
               const char *file, int line, int col)
{
    if (!m || !family || !pattern)
        return;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->e = xrealloc(m->e, m->cap * sizeof *m->e);
    }
    alias_entry *a = &m->e[m->n++];
    a->family = xstrdup(family);
    a->pattern = xstrdup(pattern);
    a->file = xstrdup(file);
    a->line = line;
    a->col = col;
}

/* Case-insensitive because operators write "OpenAI" and "openai"
 * interchangeably; FNM_CASEFOLD makes exact names match the same way. */
static int entry_matches(const alias_entry *a, const char *name)
{
    return fnmatch(a->pattern, name, FNM_CASEFOLD) == 0;
}

/* Index of the first entry at or after `from` matching name, or m->n. */
static size_t find_match(const alias_map *m, const char *name, size_t from)
{
    for (size_t i = from; i < m->n; i++)
        if (entry_matches(&m->e[i], name))
            return i;
    return m->n;
}

const char *alias_family(const alias_map *m, const char *name)
{
    if (!m || !name)
        return name;
    size_t i = find_match(m, name, 0);
    return i < m->n ? m->e[i].family : name;
}

/* The first entry matching name whose family differs from that of
 * entry `first`, or m->n when every match agrees. */
static size_t find_other_family(const alias_map *m, const char *name,
                                size_t first)
{
    for (size_t i = find_match(m, name, first + 1); i < m->n;
         i = find_match(m, name, i + 1))
        if (strcmp(m->e[i].family, m->e[first].family) != 0)
            return i;
    return m->n;
}

size_t alias_check(const alias_map *m, const char *const *names, size_t n,
                   diag_list *diags)
{
    if (!m)
        return 0;
    size_t conflicts = 0;
    for (size_t k = 0; k < n; k++) {
        const char *name = names[k];
        if (!name)
            continue;
        size_t a = find_match(m, name, 0);
        if (a == m->n)
            continue;
        size_t b = find_other_family(m, name, a);
        if (b == m->n)
            continue;
        const alias_entry *ea = &m->e[a], *eb = &m->e[b];
        conflicts++;
        if (diags)
            diag_add(diags, eb->file, eb->line, eb->col,
                     "provider '%s' matches family '%s' (pattern '%s' at "
                     "%s:%d:%d) and family '%s' (pattern '%s' here); a "
                     "provider may belong to one family only",
                     name, ea->family, ea->pattern,
                     ea->file ? ea->file : "?", ea->line, ea->col,
                     eb->family, eb->pattern);
    }
    return conflicts;
}
