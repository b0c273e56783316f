/* cli_status.c - `meterd status`; see cli_status.h. */
#include "cli_status.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_format.h"
#include "log.h"
#include "timeutil.h"

#define COLS 7
#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"

typedef struct table {
    char **cells;      /* owned: n_rows * COLS strings */
    size_t n_rows;
    char ***errors;    /* owned: per row, a NULL-terminated list of lines */
} table;

static const char *const head[COLS] = {"FAMILY",      "STATUS",    "REMAINING",
                                       "GOVERNING",   "UTILIZATION",
                                       "RESETS IN",   "AGE"};

static const char *str_or(const json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static char *remaining_text(const json_t *row)
{
    const json_t *v = json_object_get(row, "usage_remaining");
    if (json_is_number(v))
        return cli_fmt_amount(v, str_or(json_object_get(row, "usage_remaining_unit"),
                                        NULL));
    const char *why = str_or(json_object_get(row, "usage_remaining_reason"), NULL);
    return why ? xasprintf("unknown (%s)", why) : xstrdup("unknown");
}

static char *governing_text(const json_t *g)
{
    if (!json_is_object(g))
        return xstrdup("none");
    return xasprintf("%s/%s", str_or(json_object_get(g, "provider"), "?"),
                     str_or(json_object_get(g, "id"), "?"));
}

static char *age_text(const json_t *row, int from_snapshot)
{
    char *age = cli_fmt_age(json_object_get(row, "age_seconds"));
    const char *served = str_or(json_object_get(row, "served_from"), "");
    if (from_snapshot || strcmp(served, "snapshot") != 0)
        return age;
    char *s = xasprintf("%s (snapshot)", age);
    free(age);
    return s;
}

/* "member: class: message" for every member whose collection failed. */
static char **error_lines(const json_t *row)
{
    char **lines = xcalloc(1, sizeof *lines);
    size_t n = 0, i;
    json_t *m;
    json_array_foreach(json_object_get(row, "members"), i, m) {
        json_t *e = json_object_get(m, "error");
        if (!json_is_object(e))
            continue;
        lines = xrealloc(lines, (n + 2) * sizeof *lines);
        lines[n++] = xasprintf("%s: %s: %s", str_or(json_object_get(m, "name"), "?"),
                               str_or(json_object_get(e, "class"), "unknown"),
                               str_or(json_object_get(e, "message"), "(no message)"));
        lines[n] = NULL;
    }
    return lines;
}

static void table_build(table *t, const json_t *doc, int from_snapshot, double now)
{
    const json_t *rows = json_object_get(doc, "providers");
    t->n_rows = json_array_size(rows);
    t->cells = xcalloc(t->n_rows * COLS + 1, sizeof *t->cells);
    t->errors = xcalloc(t->n_rows + 1, sizeof *t->errors);
    for (size_t r = 0; r < t->n_rows; r++) {
        const json_t *row = json_array_get(rows, r);
        const json_t *g = json_object_get(row, "governing_metric");
        char **c = t->cells + r * COLS;
        c[0] = xstrdup(str_or(json_object_get(row, "provider"), "?"));
        c[1] = xstrdup(str_or(json_object_get(row, "status"), "unknown"));
        c[2] = remaining_text(row);
        c[3] = governing_text(g);
        c[4] = cli_fmt_amount(json_object_get(g, "utilization"), "percent");
        c[5] = cli_fmt_until(json_object_get(g, "resets_at"), now);
        c[6] = age_text(row, from_snapshot);
        t->errors[r] = error_lines(row);
    }
}

static void table_release(table *t)
{
    for (size_t i = 0; i < t->n_rows * COLS; i++)
        free(t->cells[i]);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (char **l = t->errors[r]; *l; l++)
            free(*l);
        free(t->errors[r]);
    }
    free(t->cells);
    free(t->errors);
    memset(t, 0, sizeof *t);
}

static const char *status_colour(const char *status)
{
    return strcmp(status, "ok") == 0         ? C_GREEN
           : strcmp(status, "degraded") == 0 ? C_YELLOW
                                             : C_RED;
}

static void print_snapshot_notice(FILE *out, const cli_source *s, int colour,
                                  double now)
{
    char when[48] = "an unknown time";
    char *age = xstrdup("unknown");
    if (s->snapshot_saved_at > 0) {
        rfc3339_format(s->snapshot_saved_at, when, sizeof when);
        free(age);
        age = cli_fmt_duration(now - s->snapshot_saved_at);
    }
    fprintf(out, "%sdaemon not reachable at %s (%s); showing snapshot from %s "
                 "(age %s)%s\n",
            colour ? C_YELLOW : "", s->daemon ? s->daemon : "(no address)",
            s->daemon_error ? s->daemon_error : "no answer", when, age,
            colour ? C_RESET : "");
    free(age);
}

void cli_status_print(FILE *out, const cli_source *s, int colour, double now)
{
    if (s->from_snapshot)
        print_snapshot_notice(out, s, colour, now);
    table t;
    table_build(&t, s->doc, s->from_snapshot, now);
    if (t.n_rows == 0) {
        fprintf(out, "no providers configured\n");
        table_release(&t);
        return;
    }
    size_t w[COLS];
    for (int k = 0; k < COLS; k++) {
        w[k] = strlen(head[k]);
        for (size_t r = 0; r < t.n_rows; r++)
            if (strlen(t.cells[r * COLS + k]) > w[k])
                w[k] = strlen(t.cells[r * COLS + k]);
    }
    fputs(colour ? C_BOLD : "", out);
    for (int k = 0; k < COLS; k++)
        fprintf(out, "%-*s%s", k < COLS - 1 ? (int)w[k] : 0, head[k],
                k < COLS - 1 ? "  " : "");
    fprintf(out, "%s\n", colour ? C_RESET : "");
    for (size_t r = 0; r < t.n_rows; r++) {
        char **c = t.cells + r * COLS;
        for (int k = 0; k < COLS; k++) {
            /* Pad outside the colour codes so columns stay aligned. */
            int pad = k < COLS - 1 ? (int)(w[k] - strlen(c[k])) + 2 : 0;
            if (colour && k == 1)
                fprintf(out, "%s%s%s", status_colour(c[k]), c[k], C_RESET);
            else
                fputs(c[k], out);
            fprintf(out, "%*s", pad, "");
        }
        fputc('\n', out);
        for (char **l = t.errors[r]; *l; l++)
            fprintf(out, "%s  ! %s%s\n", colour ? C_RED : "", *l,
                    colour ? C_RESET : "");
    }
    table_release(&t);
}

static void status_usage(FILE *out)
{
    fprintf(out, "usage: meterd status [-c FILE] [--url URL] [--json] [--no-color]\n");
}

/* Colours: on a terminal, unless NO_COLOR is set (and not empty) or
 * --no-color was given. */
static int want_colour(int no_color_flag)
{
    const char *nc = getenv("NO_COLOR");
    return !no_color_flag && !(nc && *nc) && isatty(STDOUT_FILENO);
}

int cli_status_main(int argc, char **argv, const char *default_config)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},
        {"no-color", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    cli_target t = {default_config, NULL};
    int json = 0, no_color = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': t.config_path = optarg; break;
        case 'u': t.url = optarg; break;
        case 'j': json = 1; break;
        case 'n': no_color = 1; break;
        case 'h': status_usage(stdout); return 0;
        default: status_usage(stderr); return 2;
        }
    }
    if (optind < argc || (t.url && !cli_url_valid(t.url))) {
        if (t.url && !cli_url_valid(t.url))
            fprintf(stderr, "meterd status: --url: expected http://HOST:PORT or "
                            "unix:/PATH\n");
        status_usage(stderr);
        return 2;
    }
    /* Loading the snapshot logs what a daemon start would; only problems
     * matter here. */
    log_set_level(MD_LOG_WARN);
    cli_source s;
    cli_source_init(&s);
    char *err = NULL;
    if (cli_source_load(&s, &t, &err) != 0) {
        fprintf(stderr, "meterd status: %s\n", err);
        free(err);
        cli_source_release(&s);
        return 3;
    }
    int rc = 0;
    double now = time_now();
    if (json) {
        if (s.from_snapshot)
            print_snapshot_notice(stderr, &s, 0, now);
        rc = json_dumpf(s.doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
    } else {
        cli_status_print(stdout, &s, want_colour(no_color), now);
    }
    cli_source_release(&s);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 3;
}
