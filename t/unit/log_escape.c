/*
 * t/unit/log_escape.c - every log line is one line: control characters in
 * a message (a provider's 401 body with "\n" and ANSI escapes) are
 * written escaped, so nothing from outside can forge a log line or drive
 * the operator's terminal.  Also the helpers of textesc.h on their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "textesc.h"

/* Run log_msg with stderr sent to a temp file; return what was written
 * (caller frees). */
static char *logged(const char *instance, const char *msg)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    dup2(fileno(tmp), 2);
    log_msg(MD_LOG_ERROR, instance, "%s", msg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    rewind(tmp);
    char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    if (n > 0 && fread(buf, 1, (size_t)n, tmp) != (size_t)n)
        buf[0] = '\0';
    fclose(tmp);
    return buf;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

int main(void)
{
    plan(14);

    const char *body = "{\"error\":\"bad key\"}\nerror: meterd: forged line"
                       "\r\x1b[31mred\x1b[0m\x7f";
    char *line = logged("openai", body);
    is_int((int)count_char(line, '\n'), 1, "a body with a newline is still one log line");
    ok(!strchr(line, '\r') && !strchr(line, '\x1b') && !strchr(line, '\x7f'),
       "no CR, ESC or DEL reaches the log");
    is_str(line, "error: openai: {\"error\":\"bad key\"}\\x0aerror: meterd: "
                 "forged line\\x0d\\x1b[31mred\\x1b[0m\\x7f\n",
           "newline, CR, ESC and DEL are written as \\xNN");
    free(line);

    line = logged("evil\ninstance", "text");
    is_str(line, "error: evil\\x0ainstance: text\n", "the instance name is escaped too");
    free(line);

    line = logged(NULL, "caf\xc3\xa9 \xc2\x9b" "31m");
    is_str(line, "error: meterd: caf\xc3\xa9 \\u009b31m\n",
           "a C1 control (CSI) is escaped, other UTF-8 is kept");
    free(line);

    log_add_secret("sk-secret-1234");
    line = logged(NULL, "key sk-secret-1234\n");
    is_str(line, "error: meterd: key [REDACTED]\\x0a\n", "secrets are still masked");
    free(line);
    log_clear_secrets();

    line = logged(NULL, "tab\there");
    is_str(line, "error: meterd: tab\\x09here\n", "a tab is a C0 control as well");
    free(line);

    ok(text_has_controls("a\nb"), "text_has_controls: newline");
    ok(text_has_controls("\xc2\x85"), "text_has_controls: NEL (C1)");
    ok(!text_has_controls("plain \xc3\xa9 text"), "text_has_controls: none in UTF-8 text");
    ok(!text_has_controls(NULL), "text_has_controls: NULL has none");
    ok(text_escape_controls(NULL) == NULL, "text_escape_controls: NULL in, NULL out");
    char *e = text_escape_controls("\x01\x1f");
    is_str(e, "\\x01\\x1f", "text_escape_controls: every C0 byte");
    free(e);
    e = text_escape_controls("back\\slash");
    is_str(e, "back\\slash", "a backslash is left alone");
    free(e);
    return done_testing();
}
