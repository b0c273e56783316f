/* t/unit/buf.c - buf: growth, the size cap, printf, take, clear; and the
 * edit distance behind "did you mean". */
#include "tap.h"
#include "buf.h"
#include "suggest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_empty(void)
{
    buf b;
    buf_init(&b, 16);
    is_str(buf_str(&b), "", "a new buffer reads as the empty string");
    is_int(buf_len(&b), 0, "and has length 0");
    char *s = buf_take(&b);
    is_str(s, "", "taking an empty buffer gives a malloc'd empty string");
    free(s);
    buf_release(&b);
}

static void test_growth(void)
{
    buf b;
    buf_init(&b, 1 << 20);
    int all = 1;
    for (int i = 0; i < 10000; i++)
        all &= buf_add(&b, "abc", 3) == 0;
    ok(all, "10000 appends of 3 bytes all succeed");
    is_int(buf_len(&b), 30000, "length is the sum of the appends");
    ok(b.alloc >= 30001 && b.alloc <= 2 * 30001 + 64,
       "allocation grows geometrically, not beyond twice the need");
    ok(strncmp(buf_str(&b) + 29997, "abc", 3) == 0 && buf_str(&b)[30000] == '\0',
       "content is kept across reallocations and NUL-terminated");
    buf_add(&b, "x\0y", 3);
    is_int(buf_len(&b), 30003, "binary bytes (an inner NUL) are counted");
    buf_release(&b);
    ok(b.s == NULL && b.len == 0, "release frees and empties");
}

static void test_cap(void)
{
    buf b;
    buf_init(&b, 8);
    ok(buf_addstr(&b, "12345678") == 0, "content may reach the cap exactly");
    ok(b.alloc <= 9, "a capped buffer never allocates beyond cap + 1");
    ok(buf_addstr(&b, "9") == -1, "one byte past the cap fails");
    ok(buf_failed(&b), "the buffer is marked failed");
    is_str(buf_str(&b), "12345678", "a failed append leaves the content as it was");
    ok(buf_addstr(&b, "") == -1, "after a failure every append fails");
    buf_clear(&b);
    ok(!buf_failed(&b) && buf_len(&b) == 0, "clear forgets the failure and the content");
    ok(buf_addstr(&b, "abc") == 0 && buf_addstr(&b, "defghi") == -1,
       "clear keeps the cap");
    buf_release(&b);

    buf_init(&b, 0);
    ok(buf_add(&b, "", 0) == 0 && buf_add(&b, "a", 1) == -1,
       "a zero cap allows only empty content");
    buf_release(&b);

    buf_init(&b, SIZE_MAX);
    buf_addstr(&b, "ab");
    ok(buf_add(&b, "x", SIZE_MAX - 1) == -1,
       "a length that would overflow size_t fails instead of wrapping");
    buf_release(&b);
}

static void test_printf(void)
{
    buf b;
    buf_init(&b, 1000);
    ok(buf_printf(&b, "%s=%d", "n", 42) == 0, "printf appends");
    buf_printf(&b, ";%05.1f", 3.14159);
    is_str(buf_str(&b), "n=42;003.1", "printf formats like printf");
    char big[600];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ok(buf_printf(&b, "%s", big) == 0, "printf longer than any fixed scratch buffer");
    is_int(buf_len(&b), 10 + 599, "and its whole output is kept");
    ok(buf_printf(&b, "%s", big) == -1, "printf past the cap fails");
    is_int(buf_len(&b), 609, "leaving the content as it was");
    buf_release(&b);
}

static void test_take(void)
{
    buf b;
    buf_init(&b, 64);
    buf_addstr(&b, "hello");
    char *s = buf_take(&b);
    is_str(s, "hello", "take hands over the content");
    ok(b.s == NULL && buf_len(&b) == 0 && b.max == 64,
       "and leaves the buffer empty with the same cap");
    buf_addstr(&b, "again");
    is_str(buf_str(&b), "again", "the buffer is usable after take");
    ok(s != b.s, "the taken string is no longer the buffer's");
    free(s);
    buf_release(&b);
}

static void test_edit_distance(void)
{
    is_int(edit_distance("interval", "interval"), 0, "equal words: 0");
    is_int(edit_distance("intreval", "interval"), 2, "a transposition: 2");
    is_int(edit_distance("timout", "timeout"), 1, "a deletion: 1");
    is_int(edit_distance("Interval", "interval"), 0, "case does not count");
    is_int(edit_distance("", "abc"), 3, "from empty: the length");
    char long_word[100];
    memset(long_word, 'a', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = '\0';
    ok(edit_distance(long_word, "a") == SIZE_MAX, "over-long words get no distance");
    const char *const cands[] = {"listen", "interval", "timeout"};
    is_str(suggest("intervall", cands, 3, 2), "interval", "suggest picks the near candidate");
    ok(suggest("wibble", cands, 3, 2) == NULL, "suggest gives nothing when all are far");
    ok(suggest("timout", cands, 3, 0) == NULL, "suggest respects max_dist");
}

int main(void)
{
    test_empty();
    test_growth();
    test_cap();
    test_printf();
    test_take();
    test_edit_distance();
    return done_testing();
}
