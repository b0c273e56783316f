/* cli_check.c - `meterd check`; see cli_check.h. */
#include "cli_check.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_format.h"
#include "cli_source.h"
#include "conventions.h"
#include "log.h"
#include "timeutil.h"

int check_threshold_parse(const char *text, check_threshold *th, char **err)
{
    memset(th, 0, sizeof *th);
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    int pct = end && *end == '%';
    if (end == text || errno || !isfinite(v) || v < 0 || (pct && v > 100) ||
        *(end + pct) != '\0')
        return err_set(err, "--min-remaining: expected N or N%% (N >= 0, "
                            "percent at most 100), got '%s'", text);
    th->set = 1;
    th->percent = pct;
    th->value = v;
    return 0;
}

static const json_t *find_row(const json_t *doc, const char *family)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(doc, "providers"), i, row) {
        const char *name = json_string_value(json_object_get(row, "provider"));
        if (name && strcmp(name, family) == 0)
            return row;
    }
    return NULL;
}

/* " (available again at T, in 2h14m)" or " (available again: unknown)". */
static char *when_text(const char *label, const json_t *at, double now)
{
    if (!json_is_string(at))
        return xasprintf(" (%s: unknown)", label);
    char *in = cli_fmt_until(at, now);
    char *s = xasprintf(" (%s at %s, in %s)", label, json_string_value(at), in);
    free(in);
    return s;
}

/* The remaining percentage of the governing meter g, or NAN. */
static double remaining_percent(const json_t *g)
{
    const json_t *u = json_object_get(g, "utilization");
    if (json_is_number(u))
        return 100.0 - json_number_value(u);
    const json_t *r = json_object_get(g, "remaining"), *l = json_object_get(g, "limit");
    if (json_is_number(r) && json_is_number(l) && json_number_value(l) > 0)
        return 100.0 * json_number_value(r) / json_number_value(l);
    return NAN;
}

static int verdict_exhausted(const json_t *row, const char *family, double now,
                             char **why)
{
    const json_t *at = json_object_get(row, "available_again_at");
    double t;
    if (json_is_string(at) && rfc3339_parse(json_string_value(at), &t) == 0 &&
        t <= now) {
        *why = xasprintf("%s: unknown: was exhausted until %s; no newer data "
                         "yet", family, json_string_value(at));
        return CHECK_UNKNOWN;
    }
    char *when = when_text("available again", at, now);
    *why = xasprintf("%s: exhausted%s", family, when);
    free(when);
    return CHECK_BELOW;
}

static int verdict_threshold(const json_t *g, const char *family,
                             const check_threshold *th, double now, char **why)
{
    const char *unit = json_string_value(json_object_get(g, "unit"));
    double have;
    char *have_text, *want_text;
    if (th->percent) {
        have = remaining_percent(g);
        json_t *h = isnan(have) ? json_null() : json_real(have);
        have_text = cli_fmt_amount(h, "percent");
        json_decref(h);
        json_t *w = json_real(th->value);
        want_text = cli_fmt_amount(w, "percent");
        json_decref(w);
    } else {
        const json_t *r = json_object_get(g, "remaining");
        have = json_is_number(r) ? json_number_value(r) : NAN;
        have_text = cli_fmt_amount(r, unit);
        json_t *w = json_real(th->value);
        want_text = cli_fmt_amount(w, unit);
        json_decref(w);
    }
    int rc;
    if (isnan(have)) {
        *why = xasprintf("%s: unknown: remaining %s of the governing meter "
                         "is not reported", family,
                         th->percent ? "percentage" : "amount");
        rc = CHECK_UNKNOWN;
    } else if (have < th->value) {
        char *when = when_text("resets", json_object_get(g, "resets_at"), now);
        *why = xasprintf("%s: below threshold: %s left < %s%s", family,
                         have_text, want_text, when);
        free(when);
        rc = CHECK_BELOW;
    } else {
        *why = xasprintf("%s: usable: %s left >= %s", family, have_text, want_text);
        rc = CHECK_OK;
    }
    free(have_text);
    free(want_text);
    return rc;
}

int check_evaluate(const json_t *doc, const char *family,
                   const check_threshold *th, double now, char **why)
{
    const json_t *row = find_row(doc, family);
    if (!row) {
        *why = xasprintf("%s: unknown: no such family", family);
        return CHECK_UNKNOWN;
    }
    const json_t *g = json_object_get(row, "governing_metric");
    const char *reason = json_string_value(json_object_get(g, "reason"));
    if (reason && strcmp(reason, "exhausted") == 0)
        return verdict_exhausted(row, family, now, why);
    const char *status = json_string_value(json_object_get(row, "status"));
    if (!status || strcmp(status, "unavailable") == 0) {
        char *age = cli_fmt_age(json_object_get(row, "age_seconds"));
        *why = xasprintf("%s: unknown: every member failing (data age %s)",
                         family, age);
        free(age);
        return CHECK_UNKNOWN;
    }
    if (!json_is_object(g)) {
        const char *r = json_string_value(json_object_get(row, "usage_remaining_reason"));
        if (r && strcmp(r, "not_applicable") == 0) {
            *why = xasprintf("%s: usable: no quota applies", family);
            return CHECK_OK;
        }
        *why = xasprintf("%s: unknown: no governing meter (%s)", family,
                         r ? r : "no reason given");
        return CHECK_UNKNOWN;
    }
    if (th->set)
        return verdict_threshold(g, family, th, now, why);
    char *left = cli_fmt_amount(json_object_get(row, "usage_remaining"),
                                json_string_value(json_object_get(row, "usage_remaining_unit")));
    *why = xasprintf("%s: usable: %s left", family, left);
    free(left);
    return CHECK_OK;
}

static void check_usage(FILE *out)
{
    fprintf(out, "usage: meterd check FAMILY [--min-remaining N|N%%] [--quiet] "
                 "[-c FILE] [--url URL]\n");
}

int cli_check_main(int argc, char **argv, const char *default_config)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"min-remaining", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    cli_target t = {default_config, NULL};
    check_threshold th = {0, 0, 0};
    int quiet = 0, c;
    char *err = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': t.config_path = optarg; break;
        case 'u': t.url = optarg; break;
        case 'q': quiet = 1; break;
        case 'm':
            if (check_threshold_parse(optarg, &th, &err) != 0) {
                fprintf(stderr, "meterd check: %s\n", err);
                free(err);
                return CHECK_ERROR;
            }
            break;
        case 'h': check_usage(stdout); return CHECK_OK;
        default: check_usage(stderr); return CHECK_ERROR;
        }
    }
    if (optind != argc - 1 || (t.url && !cli_url_valid(t.url))) {
        check_usage(stderr);
        return CHECK_ERROR;
    }
    const char *family = argv[optind];
    log_set_level(MD_LOG_WARN);
    cli_source s;
    cli_source_init(&s);
    if (cli_source_load(&s, &t, &err) != 0) {
        if (!quiet)
            fprintf(stderr, "meterd check: %s\n", err);
        free(err);
        cli_source_release(&s);
        return CHECK_ERROR;
    }
    char *why = NULL;
    double now = time_now();
    int rc = check_evaluate(s.doc, family, &th, now, &why);
    if (!quiet)
        printf("%s%s\n", why, s.from_snapshot ? " [from the snapshot: daemon not "
                                                 "reachable]" : "");
    free(why);
    cli_source_release(&s);
    return fflush(stdout) == 0 ? rc : CHECK_ERROR;
}
