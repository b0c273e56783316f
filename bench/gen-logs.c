/*
 * bench/gen-logs.c - deterministic generator of Claude Code and Codex CLI log
 * trees for the issue-4 benchmark (bench/logs.sh).
 *
 *   bench/gen-logs --kind claude|codex --size 200M [--seed N] --out DIR
 *                  [--expect FILE]
 *
 * Same kind, size and seed -> byte-identical tree (one splitmix64 stream
 * drives every choice; nothing depends on the clock, the locale or the
 * directory order).  Line shapes are copied from what Claude Code writes to
 * its session files and Codex to its rollout files (t/fixtures/claude_logs/,
 * t/fixtures/codex_logs/).
 *
 * Claude tree: DIR/projects/<project>/<session>.jsonl and
 * DIR/projects/<project>/<session>/subagents/agent-<id>.jsonl.  Contains
 * streaming partials (several lines per API response sharing message.id and
 * requestId, output_tokens growing), sidechain replays in subagent files
 * (isSidechain true, same message.id, new requestId), resumed sessions (a new
 * session file that starts with a verbatim copy of an earlier one under the
 * new sessionId), synthetic API-error lines, legacy 1.0.x lines with costUSD
 * and without requestId, huge tool-result lines (MiBs), decoy `usage` objects
 * inside tool results, malformed lines, lines with null fields that ccusage
 * skips, and files cut off in the middle of a line.
 *
 * Codex tree: DIR/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl and
 * DIR/archived_sessions/rollout-*.jsonl: session_meta, a first token_count
 * with info:null, turn_context with the model (changing mid-session at
 * times), response_item/event_msg traffic, cumulative token_count events
 * (total_token_usage + last_token_usage) with identical duplicates, current
 * and late-2025 rate_limits shapes, huge function outputs, malformed lines.
 *
 * --expect FILE writes the per-day totals the generator intended (each API
 * response counted once with its final snapshot; Codex input net of cached)
 * as JSON, so bench/logs.sh can check the generator itself against ccusage.
 *
 * Memory: one session file is assembled in memory before it is written (a
 * few MiB, more with huge lines); everything else streams.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DAYS 60                   /* spread of session start times */
#define NDAYS (DAYS + 15)         /* sessions may run past the last start day */
#define BASE_EPOCH 1767571200LL   /* 2026-01-05T00:00:00Z, fixed */
#define LOREM_SIZE (8u << 20)     /* text pool for tool output, JSON-safe */

/* ---- small utilities ---------------------------------------------------- */

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("gen-logs: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Growable byte buffer; owns p. */
typedef struct {
	char *p;
	size_t n, cap;
} buf;

static void b_reserve(buf *b, size_t extra)
{
	if (b->n + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->n + extra + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		die("out of memory");
	b->p = p;
	b->cap = cap;
}

static void b_putn(buf *b, const char *s, size_t n)
{
	b_reserve(b, n);
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void b_puts(buf *b, const char *s) { b_putn(b, s, strlen(s)); }

static void b_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void b_printf(buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	b_reserve(b, 256);
	int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	if (k < 0)
		die("vsnprintf failed");
	if ((size_t)k >= b->cap - b->n) {
		b_reserve(b, (size_t)k);
		va_start(ap, fmt);
		vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
	}
	b->n += (size_t)k;
}

static void mkdirs(const char *path)
{
	char tmp[4096];
	size_t n = strlen(path);
	if (n >= sizeof tmp)
		die("path too long: %s", path);
	memcpy(tmp, path, n + 1);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST)
			die("mkdir %s: %s", tmp, strerror(errno));
		*s = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		die("mkdir %s: %s", tmp, strerror(errno));
}

/* ---- generator state ---------------------------------------------------- */

typedef struct {
	uint64_t in, cw, cr, out, reason;
} day_tot;

typedef struct {
	uint64_t rng;
	const char *out;
	uint64_t target, written;
	uint64_t files, lines;
	char *lorem;
	day_tot days[NDAYS];
} gen;

static uint64_t rnd64(gen *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(gen *g, uint64_t n) { return n ? rnd64(g) % n : 0; }
static uint64_t rrange(gen *g, uint64_t lo, uint64_t hi) { return lo + rnd(g, hi - lo + 1); }
static int chance(gen *g, unsigned per10000) { return rnd(g, 10000) < per10000; }

static void rid(gen *g, char *dst, const char *prefix, int n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t k = strlen(prefix);
	memcpy(dst, prefix, k);
	for (int i = 0; i < n; i++)
		dst[k + (size_t)i] = al[rnd(g, 62)];
	dst[k + (size_t)n] = 0;
}

/* UUID-shaped string; v = '4' for random, '7' for Codex's time-ordered ids. */
static void uuid(gen *g, char dst[37], char v)
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 36; i++)
		dst[i] = hx[rnd(g, 16)];
	dst[8] = dst[13] = dst[18] = dst[23] = '-';
	dst[14] = v;
	dst[19] = hx[8 + rnd(g, 4)];
	dst[36] = 0;
}

/* Times are int64 milliseconds since the epoch, printed in UTC. */
static void iso(int64_t ms, char dst[80])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(dst, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static day_tot *day_of(gen *g, int64_t ms)
{
	int64_t d = (ms / 1000 - BASE_EPOCH) / 86400;
	if (d < 0 || d >= NDAYS)
		die("timestamp outside the generated range");
	return &g->days[d];
}

static void make_lorem(gen *g)
{
	static const char *w[] = {
		"int", "return", "static", "const", "char", "void", "struct", "size_t", "if", "else",
		"for", "while", "buf", "len", "error", "value", "config", "parse", "line", "token",
		"(x)", "{", "}", ";", "=", "0", "1", "42", "/*", "*/", "src/main.c", "ok", "test",
		"usage", "cache", "input", "output", "model", "session", "file", "path", "read",
	};
	g->lorem = malloc(LOREM_SIZE + 1);
	if (!g->lorem)
		die("out of memory");
	size_t n = 0;
	while (n < LOREM_SIZE) {
		const char *s = w[rnd(g, sizeof w / sizeof *w)];
		size_t k = strlen(s);
		if (n + k + 1 > LOREM_SIZE)
			break;
		memcpy(g->lorem + n, s, k);
		n += k;
		g->lorem[n++] = ' ';
	}
	memset(g->lorem + n, ' ', LOREM_SIZE - n);
	g->lorem[LOREM_SIZE] = 0;
}

/* len bytes of JSON-safe text (no quote, no backslash), any length. */
static void put_text(gen *g, buf *b, size_t len)
{
	while (len) {
		size_t k = len < LOREM_SIZE / 2 ? len : LOREM_SIZE / 2;
		b_putn(b, g->lorem + rnd(g, LOREM_SIZE / 2), k);
		len -= k;
	}
}

/* Tool output size: mostly small, a tail of big ones, rarely several MiB. */
static size_t tool_output_len(gen *g, int *huge_budget)
{
	/* ~5% of the bytes in MiB lines, ~15% in 40-400 KB ones (1 GiB tree) */
	if (*huge_budget > 0 || rnd(g, 100000) < 15) {
		if (*huge_budget > 0)
			(*huge_budget)--;
		return (size_t)rrange(g, 1u << 20, 6u << 20);
	}
	if (chance(g, 70))
		return (size_t)rrange(g, 40000, 400000);
	return (size_t)rrange(g, 100, 6000);
}

static void write_file(gen *g, const char *rel, const buf *b)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", g->out, rel);
	char *slash = strrchr(path, '/');
	*slash = 0;
	mkdirs(path);
	*slash = '/';
	FILE *f = fopen(path, "wx");
	if (!f)
		die("create %s: %s", path, strerror(errno));
	if (b->n && fwrite(b->p, 1, b->n, f) != b->n)
		die("write %s: %s", path, strerror(errno));
	if (fclose(f))
		die("close %s: %s", path, strerror(errno));
	g->written += b->n;
	g->files++;
	for (const char *p = b->p, *e = b->p + b->n; p && p < e; p++) {
		p = memchr(p, '\n', (size_t)(e - p));
		if (!p)
			break;
		g->lines++;
	}
}

/* A truncated line (crash mid-write), optionally followed by a newline.
 * ccusage 20.0.24 panics (Codex parser.rs:521:55, "range start index 79 out
 * of range for slice of length 78") on a line that ends right after
 * `"payload":{"type":`; such a cut would leave the benchmark without a
 * reference, so cuts right after a `"type":` key move past the value's
 * first character. */
static void put_cut(buf *b, const buf *line, size_t keep, int newline)
{
	if (keep >= line->n)
		keep = line->n / 2;
	if (keep >= 7 && !memcmp(line->p + keep - 7, "\"type\":", 7))
		keep = keep + 2 < line->n ? keep + 2 : line->n - 1;
	else if (keep >= 8 && !memcmp(line->p + keep - 8, "\"type\":\"", 8))
		keep++;
	b_putn(b, line->p, keep);
	if (newline)
		b_putn(b, "\n", 1);
}

/* ---- Claude Code -------------------------------------------------------- */

static const char *claude_models[] = {
	"claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001",
	"claude-opus-4-1-20250805", "claude-sonnet-4-20250514",
};

typedef struct {
	char name[96];
	char cwd[96];
	buf last;          /* content of the last resumable session, or empty */
	char last_sid[37];
	int64_t last_end;
} project;

typedef struct {
	gen *g;
	buf *b;            /* file being assembled */
	char sid[37];
	char cwd[96];
	char branch[32];
	const char *version;
	const char *agent; /* subagent id or NULL */
	int sidechain;
	int legacy;        /* 1.0.x: costUSD, no cache_creation split */
	char parent[37];   /* uuid of the previous line */
	int64_t t;
	int huge_budget;
} cctx;

typedef struct {
	char msg[40], req[40];
	const char *model;
	uint64_t in, cw, cr, out, cw1h;
	int norequest;     /* legacy entry without requestId */
} response;

static void cc_envelope(cctx *c, const char *type, int null_parent)
{
	b_printf(c->b, "{\"isSidechain\":%s,\"userType\":\"external\",\"cwd\":\"%s\",\"sessionId\":\"%s\","
		 "\"version\":\"%s\",\"gitBranch\":\"%s\",", c->sidechain ? "true" : "false", c->cwd,
		 c->sid, c->version, c->branch);
	if (c->agent)
		b_printf(c->b, "\"agentId\":\"%s\",", c->agent);
	if (null_parent)
		b_puts(c->b, "\"parentUuid\":null,");
	else
		b_printf(c->b, "\"parentUuid\":\"%s\",", c->parent);
	b_printf(c->b, "\"type\":\"%s\",", type);
}

static void cc_trailer(cctx *c)
{
	char u[37], ts[80];
	uuid(c->g, u, '4');
	iso(c->t, ts);
	b_printf(c->b, "\"uuid\":\"%s\",\"timestamp\":\"%s\"}\n", u, ts);
	memcpy(c->parent, u, sizeof u);
}

static void cc_user_prompt(cctx *c, int first)
{
	cc_envelope(c, "user", first);
	b_puts(c->b, "\"message\":{\"role\":\"user\",\"content\":\"");
	put_text(c->g, c->b, (size_t)rrange(c->g, 20, 600));
	b_puts(c->b, "\"},");
	cc_trailer(c);
}

static void cc_usage(cctx *c, const response *r, uint64_t out)
{
	b_printf(c->b, "\"usage\":{\"input_tokens\":%" PRIu64 ",\"cache_creation_input_tokens\":%" PRIu64
		 ",\"cache_read_input_tokens\":%" PRIu64 ",", r->in, r->cw, r->cr);
	if (!c->legacy)
		b_printf(c->b, "\"cache_creation\":{\"ephemeral_5m_input_tokens\":%" PRIu64
			 ",\"ephemeral_1h_input_tokens\":%" PRIu64 "},", r->cw - r->cw1h, r->cw1h);
	b_printf(c->b, "\"output_tokens\":%" PRIu64 ",\"service_tier\":\"standard\"", out);
	if (!c->legacy && chance(c->g, 2000))
		b_puts(c->b, ",\"server_tool_use\":{\"web_search_requests\":0,\"web_fetch_requests\":0}");
	b_puts(c->b, "}}");
}

/* One assistant line: one content block of response r with output `out`.
 * block: 0 thinking, 1 text, 2 tool_use.  req overrides r->req (replays). */
static void cc_assistant(cctx *c, const response *r, int block, uint64_t out, int last,
			 const char *req, const char *tool)
{
	cc_envelope(c, "assistant", 0);
	if (!r->norequest)
		b_printf(c->b, "\"requestId\":\"%s\",", req ? req : r->req);
	b_printf(c->b, "\"message\":{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\","
		 "\"model\":\"%s\",\"content\":[", r->msg, r->model);
	if (block == 0) {
		b_puts(c->b, "{\"type\":\"thinking\",\"thinking\":\"");
		put_text(c->g, c->b, (size_t)rrange(c->g, 40, 1500));
		b_puts(c->b, "\",\"signature\":\"");
		char sig[200];
		rid(c->g, sig, "Eq", 180);
		b_printf(c->b, "%s\"}", sig);
	} else if (block == 1) {
		b_puts(c->b, "{\"type\":\"text\",\"text\":\"");
		put_text(c->g, c->b, (size_t)rrange(c->g, 10, 2000));
		b_puts(c->b, "\"}");
	} else {
		char tid[40];
		rid(c->g, tid, "toolu_01", 22);
		b_printf(c->b, "{\"type\":\"tool_use\",\"id\":\"%s\",\"name\":\"%s\",\"input\":{\"file_path\":\"%s/src/f%u.c\"}}",
			 tid, tool, c->cwd, (unsigned)rnd(c->g, 100));
	}
	b_printf(c->b, "],\"stop_reason\":%s,\"stop_sequence\":null,",
		 !last ? "null" : block == 2 ? "\"tool_use\"" : "\"end_turn\"");
	cc_usage(c, r, out);
	if (c->legacy) {
		double cost = (double)(r->in * 3 + r->cw * 375 / 100 + r->cr * 3 / 10 + out * 15) / 1e6;
		b_printf(c->b, ",\"costUSD\":%.6f,\"durationMs\":%u", cost, (unsigned)rrange(c->g, 800, 60000));
	}
	b_puts(c->b, ",");
	cc_trailer(c);
}

static void cc_new_response(cctx *c, response *r, const char *model, uint64_t *ctx)
{
	rid(c->g, r->msg, "msg_01", 22);
	rid(c->g, r->req, "req_011C", 21);
	r->model = model;
	r->norequest = c->legacy && chance(c->g, 3000);
	r->in = chance(c->g, 500) ? rrange(c->g, 100, 20000) : rrange(c->g, 1, 12);
	r->cw = rrange(c->g, 0, 6000) + (chance(c->g, 800) ? rrange(c->g, 10000, 40000) : 0);
	r->cw1h = chance(c->g, 1500) ? rnd(c->g, r->cw + 1) : 0;
	r->cr = *ctx;
	r->out = rrange(c->g, 5, chance(c->g, 1000) ? 16000 : 2500);
	*ctx += r->cw + r->in + r->out / 2;
	if (*ctx > 180000)
		*ctx = rrange(c->g, 12000, 30000); /* compaction */
}

static void count_claude(gen *g, int64_t t, const response *r)
{
	day_tot *d = day_of(g, t);
	d->in += r->in;
	d->cw += r->cw;
	d->cr += r->cr;
	d->out += r->out;
}

/* Emit response r as 1..4 streaming lines; returns the block type of the
 * last line (2 = tool_use).  The final line carries the final output. */
static int cc_stream(cctx *c, const response *r, int want_tool, const char *tool)
{
	int blocks[4], k = 0;
	if (!chance(c->g, 3000))
		blocks[k++] = 0;
	if (chance(c->g, 7000) || !want_tool)
		blocks[k++] = 1;
	if (want_tool)
		blocks[k++] = 2;
	if (chance(c->g, 1000) && want_tool)
		blocks[k++] = 2; /* parallel tool use: another line */
	if (r->norequest)
		k = 1, blocks[0] = want_tool ? 2 : 1; /* legacy entries: one line, never deduped */
	int64_t t_last = c->t;
	for (int i = 0; i < k; i++) {
		uint64_t out = i + 1 == k ? r->out : (i == 0 ? 1 : r->out * (uint64_t)(i + 1) / (uint64_t)(k + 1));
		if (out > r->out)
			out = r->out;
		t_last = c->t;
		cc_assistant(c, r, blocks[i], out, i + 1 == k, NULL, tool);
		c->t += (int64_t)rrange(c->g, 300, 9000);
	}
	/* ccusage keeps the line with the largest total, the last one: its
	 * timestamp decides the day (a response may straddle midnight). */
	count_claude(c->g, t_last, r);
	return blocks[k - 1];
}

static void cc_tool_result(cctx *c, int decoy, int task)
{
	char tid[40];
	rid(c->g, tid, "toolu_01", 22);
	cc_envelope(c, "user", 0);
	b_printf(c->b, "\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"%s\",\"type\":\"tool_result\",\"content\":", tid);
	size_t len = tool_output_len(c->g, &c->huge_budget);
	if (decoy) {
		/* A tool that printed an API response: a real `usage` object, but
		 * inside the tool result, not at message.usage. */
		b_puts(c->b, "[{\"type\":\"text\",\"text\":\"");
		put_text(c->g, c->b, len);
		b_printf(c->b, "\"},{\"type\":\"json\",\"usage\":{\"input_tokens\":%u,\"cache_creation_input_tokens\":%u,"
			 "\"cache_read_input_tokens\":%u,\"output_tokens\":%u,\"service_tier\":\"standard\"}}]}]},",
			 (unsigned)rrange(c->g, 1, 90000), (unsigned)rrange(c->g, 1, 90000),
			 (unsigned)rrange(c->g, 1, 90000), (unsigned)rrange(c->g, 1, 90000));
	} else {
		b_puts(c->b, "\"");
		put_text(c->g, c->b, len);
		b_puts(c->b, "\"}]},");
	}
	if (task) /* Task tool result: Claude Code records the subagent's usage here */
		b_printf(c->b, "\"toolUseResult\":{\"status\":\"completed\",\"totalDurationMs\":%u,\"totalTokens\":%u,"
			 "\"totalToolUseCount\":%u,\"usage\":{\"input_tokens\":%u,\"cache_creation_input_tokens\":%u,"
			 "\"cache_read_input_tokens\":%u,\"output_tokens\":%u,\"service_tier\":\"standard\"}},",
			 (unsigned)rrange(c->g, 1000, 90000), (unsigned)rrange(c->g, 1000, 90000),
			 (unsigned)rrange(c->g, 1, 30), (unsigned)rrange(c->g, 1, 90),
			 (unsigned)rrange(c->g, 1, 9000), (unsigned)rrange(c->g, 1, 90000),
			 (unsigned)rrange(c->g, 1, 9000));
	else
		b_printf(c->b, "\"toolUseResult\":{\"type\":\"text\",\"file\":{\"filePath\":\"%s/src/f.c\",\"numLines\":%u}},",
			 c->cwd, (unsigned)rrange(c->g, 1, 3000));
	cc_trailer(c);
}

static void cc_system(cctx *c)
{
	cc_envelope(c, "system", 0);
	b_puts(c->b, "\"subtype\":\"informational\",\"content\":\"");
	put_text(c->g, c->b, (size_t)rrange(c->g, 20, 200));
	b_puts(c->b, "\",\"isMeta\":false,\"level\":\"info\",");
	cc_trailer(c);
}

static void cc_synthetic(cctx *c)
{
	char u[37];
	uuid(c->g, u, '4');
	cc_envelope(c, "assistant", 0);
	b_printf(c->b, "\"isApiErrorMessage\":true,\"message\":{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\","
		 "\"model\":\"<synthetic>\",\"content\":[{\"type\":\"text\",\"text\":\"API Error: 529 "
		 "{\\\"type\\\":\\\"error\\\",\\\"error\\\":{\\\"type\\\":\\\"overloaded_error\\\",\\\"message\\\":\\\"Overloaded\\\"}}\"}],"
		 "\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"\",\"usage\":{\"input_tokens\":0,\"output_tokens\":0,"
		 "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"server_tool_use\":{\"web_search_requests\":0},"
		 "\"service_tier\":null}},", u);
	cc_trailer(c);
}

/* Lines every tool must skip: malformed JSON, a fresh response cut in the
 * middle, invalid UTF-8, and a valid usage line whose requestId is null
 * (ccusage skips such a line entirely).  None of them is in --expect. */
static void cc_garbage(cctx *c)
{
	buf tmp = {0};
	buf *save = c->b;
	response r;
	uint64_t ctx = 5000;
	cc_new_response(c, &r, claude_models[0], &ctx);
	r.norequest = 0;
	c->b = &tmp;
	char parent[37];
	memcpy(parent, c->parent, sizeof parent);
	cc_assistant(c, &r, 1, r.out, 1, NULL, "Read");
	memcpy(c->parent, parent, sizeof parent);
	c->b = save;
	switch (rnd(c->g, 5)) {
	case 0:
		put_cut(c->b, &tmp, (size_t)rrange(c->g, 10, tmp.n - 2), 1);
		break;
	case 1:
		b_puts(c->b, "this is not json {\"usage\":{\"input_tokens\":5}\n");
		break;
	case 2: { /* invalid UTF-8 inside a string value */
		char *p = strstr(tmp.p, "\"text\":\"");
		if (p)
			p[8] = (char)0xff;
		b_putn(c->b, tmp.p, tmp.n);
		break;
	}
	case 3: { /* requestId null */
		char *p = strstr(tmp.p, "\"requestId\":\"");
		if (p) {
			b_putn(c->b, tmp.p, (size_t)(p - tmp.p));
			b_puts(c->b, "\"requestId\":null,");
			b_puts(c->b, strchr(p + 13, '"') + 2);
		}
		break;
	}
	default:
		b_puts(c->b, "\n{}\n[1,2,3]\n{\"type\":\"assistant\",\"message\":null}\n");
		break;
	}
	free(tmp.p);
}

static int cc_subagent(cctx *parent, const char *rel_session, const response *replay)
{
	gen *g = parent->g;
	buf b = {0};
	char aid[20];
	rid(g, aid, "", 8);
	for (char *s = aid; *s; s++) /* agent ids are hex in Claude Code */
		*s = "0123456789abcdef"[(unsigned char)*s % 16];
	cctx c = *parent;
	c.b = &b;
	c.agent = aid;
	c.sidechain = 1;
	c.t += (int64_t)rrange(g, 500, 3000);
	cc_user_prompt(&c, 1);
	uint64_t ctx = rrange(g, 3000, 15000);
	int steps = (int)rrange(g, 1, 12);
	/* the replay: parent's response again under a new requestId */
	if (replay && !replay->norequest) {
		char req[40];
		rid(g, req, "req_011C", 21);
		cc_assistant(&c, replay, 1, replay->out, 1, req, "Read");
	}
	for (int i = 0; i < steps; i++) {
		response r;
		cc_new_response(&c, &r, chance(g, 5000) ? "claude-haiku-4-5-20251001" : replay ? replay->model : claude_models[0], &ctx);
		int tool = i + 1 < steps;
		if (cc_stream(&c, &r, tool, "Grep") == 2)
			cc_tool_result(&c, chance(g, 200), 0);
		c.t += (int64_t)rrange(g, 200, 20000);
	}
	char rel[512];
	snprintf(rel, sizeof rel, "%s/subagents/agent-%s.jsonl", rel_session, aid);
	write_file(g, rel, &b);
	free(b.p);
	parent->t = c.t;
	return 0;
}

/* Replace every occurrence of the 36-char session id (in place). */
static void replace_sid(buf *b, const char *from, const char *to)
{
	for (char *p = b->p; (p = memmem(p, b->n - (size_t)(p - b->p), from, 36)) != NULL; p += 36)
		memcpy(p, to, 36);
}

static void claude_session(gen *g, project *pr)
{
	buf b = {0};
	cctx c = {0};
	c.g = g;
	c.b = &b;
	uuid(g, c.sid, '4');
	snprintf(c.cwd, sizeof c.cwd, "%s", pr->cwd);
	snprintf(c.branch, sizeof c.branch, "%s", chance(g, 7000) ? "main" : "feature/x");
	c.legacy = chance(g, 400);
	static const char *versions[] = {"2.0.76", "2.1.70", "2.1.81"};
	c.version = c.legacy ? "1.0.3" : versions[rnd(g, 3)];
	c.t = (BASE_EPOCH + (int64_t)rnd(g, DAYS * 86400)) * 1000 + (int64_t)rnd(g, 1000);
	c.huge_budget = g->written == 0 ? 1 : 0; /* every tree has one huge line */
	int first = 1;
	/* Resumed session: Claude Code copies the earlier conversation into the
	 * new file (same message ids, request ids and timestamps). */
	if (pr->last.n && !c.legacy && chance(g, 2500)) {
		replace_sid(&pr->last, pr->last_sid, c.sid);
		b_putn(&b, pr->last.p, pr->last.n);
		if (c.t < pr->last_end)
			c.t = pr->last_end + (int64_t)rrange(g, 60000, 86400000);
		if (c.t / 1000 >= BASE_EPOCH + DAYS * 86400)
			c.t = pr->last_end + 60000;
		b_printf(&b, "{\"type\":\"summary\",\"summary\":\"Resumed work\",\"leafUuid\":\"%s\"}\n", pr->last_sid);
		first = 0;
		memcpy(c.parent, pr->last_sid, 37);
	}
	pr->last.n = 0;
	const char *model = claude_models[rnd(g, 5) < 3 ? rnd(g, 2) : rnd(g, 5)];
	uint64_t ctx = rrange(g, 10000, 25000);
	int turns = (int)(chance(g, 1000) ? rrange(g, 40, 250) : rrange(g, 1, 30));
	char rel_session[256];
	snprintf(rel_session, sizeof rel_session, "projects/%s/%s", pr->name, c.sid);
	response prev = {0};
	for (int turn = 0; turn < turns; turn++) {
		cc_user_prompt(&c, first);
		first = 0;
		c.t += (int64_t)rrange(g, 1000, 5000);
		int steps = (int)rrange(g, 1, 8);
		for (int s = 0; s < steps; s++) {
			response r;
			const char *m = chance(g, 500) ? "claude-haiku-4-5-20251001" : model;
			cc_new_response(&c, &r, m, &ctx);
			int task = !c.legacy && chance(g, 300);
			int want_tool = s + 1 < steps;
			if (cc_stream(&c, &r, want_tool || task, task ? "Task" : "Read") == 2) {
				if (task)
					cc_subagent(&c, rel_session, prev.msg[0] ? &prev : &r);
				cc_tool_result(&c, chance(g, 300), task);
			}
			if (chance(g, 50))
				cc_synthetic(&c);
			if (chance(g, 30))
				cc_garbage(&c);
			if (!r.norequest)
				prev = r;
			c.t += (int64_t)rrange(g, 500, 30000);
		}
		if (chance(g, 300))
			cc_system(&c);
		c.t += (int64_t)(chance(g, 300) ? rrange(g, 3600000, 14 * 3600000) : rrange(g, 5000, 900000));
		if (c.t / 1000 >= BASE_EPOCH + (DAYS + 8) * 86400 || g->written + b.n >= g->target)
			break; /* the second test keeps the tree close to --size */
	}
	if (chance(g, 2000))
		b_printf(&b, "{\"type\":\"summary\",\"summary\":\"Work on %s\",\"leafUuid\":\"%s\"}\n", pr->name, c.parent);
	int cut = chance(g, 200);
	if (cut) { /* the session is still being written: a half line at EOF */
		buf tmp = {0};
		buf *save = c.b;
		c.b = &tmp;
		response r;
		cc_new_response(&c, &r, model, &ctx);
		r.norequest = 0;
		cc_assistant(&c, &r, 1, r.out, 1, NULL, "Read");
		c.b = save;
		put_cut(&b, &tmp, (size_t)rrange(g, 10, tmp.n - 2), 0);
		free(tmp.p);
	}
	char rel[512];
	snprintf(rel, sizeof rel, "%s.jsonl", rel_session);
	write_file(g, rel, &b);
	if (!cut && !c.legacy && b.n < (2u << 20)) { /* resumable later */
		pr->last.n = 0;
		b_putn(&pr->last, b.p, b.n);
		memcpy(pr->last_sid, c.sid, 37);
		pr->last_end = c.t;
	}
	free(b.p);
}

static void gen_claude(gen *g)
{
	int np = 6 + (int)(g->target >> 26);
	project *pr = calloc((size_t)np, sizeof *pr);
	if (!pr)
		die("out of memory");
	static const char *names[] = {"api", "web", "infra", "meterd", "docs", "cli", "ml", "site"};
	for (int i = 0; i < np; i++) {
		snprintf(pr[i].cwd, sizeof pr[i].cwd, "/home/dev/src/%s%d", names[i % 8], i);
		snprintf(pr[i].name, sizeof pr[i].name, "-home-dev-src-%s%d", names[i % 8], i);
	}
	while (g->written < g->target)
		claude_session(g, &pr[rnd(g, (uint64_t)np)]);
	/* A JSONL file outside projects/ that no scanner should read. */
	buf h = {0};
	b_puts(&h, "{\"display\":\"fix the tests\",\"pastedContents\":{},\"timestamp\":1767600000000,\"project\":\"/home/dev\"}\n");
	write_file(g, "history.jsonl", &h);
	free(h.p);
	for (int i = 0; i < np; i++)
		free(pr[i].last.p);
	free(pr);
}

/* ---- Codex -------------------------------------------------------------- */

static const char *codex_models[] = {
	"gpt-5.2-codex", "gpt-5-codex", "gpt-5.1-codex", "gpt-5.2", "gpt-5.1-codex-mini",
};

typedef struct {
	uint64_t in, cached, out, reason;
} tusage;

typedef struct {
	gen *g;
	buf *b;
	int64_t t;
	int legacy_rl;
	double p5, p7;
	int64_t reset5, reset7;
	int huge_budget;
} xctx;

static void x_head(xctx *x, const char *type)
{
	char ts[80];
	iso(x->t, ts);
	b_printf(x->b, "{\"timestamp\":\"%s\",\"type\":\"%s\",\"payload\":", ts, type);
}

static void x_usage(buf *b, const tusage *u)
{
	b_printf(b, "{\"input_tokens\":%" PRIu64 ",\"cached_input_tokens\":%" PRIu64 ",\"output_tokens\":%" PRIu64
		 ",\"reasoning_output_tokens\":%" PRIu64 ",\"total_tokens\":%" PRIu64 "}",
		 u->in, u->cached, u->out, u->reason, u->in + u->out);
}

static void x_rate_limits(xctx *x)
{
	int64_t now = x->t / 1000;
	while (x->reset5 <= now)
		x->reset5 += 5 * 3600, x->p5 = 0;
	while (x->reset7 <= now)
		x->reset7 += 7 * 86400, x->p7 = 0;
	if (x->legacy_rl)
		b_printf(x->b, "\"rate_limits\":{\"primary\":{\"used_percent\":%.1f,\"window_minutes\":300,\"resets_in_seconds\":%" PRId64
			 "},\"secondary\":{\"used_percent\":%.1f,\"window_minutes\":10080,\"resets_in_seconds\":%" PRId64 "}}",
			 x->p5, x->reset5 - now, x->p7, x->reset7 - now);
	else
		b_printf(x->b, "\"rate_limits\":{\"limit_id\":\"codex\",\"limit_name\":null,\"primary\":{\"used_percent\":%.1f,"
			 "\"window_minutes\":300,\"resets_at\":%" PRId64 "},\"secondary\":{\"used_percent\":%.1f,\"window_minutes\":10080,"
			 "\"resets_at\":%" PRId64 "},\"credits\":{\"has_credits\":true,\"unlimited\":false,\"balance\":\"14.5000000000\"},"
			 "\"plan_type\":\"plus\"}", x->p5, x->reset5, x->p7, x->reset7);
}

static void x_token_count(xctx *x, const tusage *total, const tusage *last)
{
	x_head(x, "event_msg");
	b_puts(x->b, "{\"type\":\"token_count\",");
	if (!total) {
		b_puts(x->b, "\"info\":null,");
	} else {
		b_puts(x->b, "\"info\":{\"total_token_usage\":");
		x_usage(x->b, total);
		b_puts(x->b, ",\"last_token_usage\":");
		x_usage(x->b, last);
		b_puts(x->b, ",\"model_context_window\":272000},");
	}
	x_rate_limits(x);
	b_puts(x->b, "}}\n");
}

static void x_turn_context(xctx *x, const char *cwd, const char *model)
{
	x_head(x, "turn_context");
	b_printf(x->b, "{\"cwd\":\"%s\",\"approval_policy\":\"on-request\",\"sandbox_policy\":{\"type\":\"workspace-write\","
		 "\"writable_roots\":[],\"network_access\":false,\"exclude_tmpdir_env_var\":false,\"exclude_slash_tmp\":false},"
		 "\"model\":\"%s\",\"effort\":\"medium\",\"summary\":\"auto\"}}\n", cwd, model);
}

static void x_item_text(xctx *x, const char *fmt_head, size_t len, const char *tail)
{
	x_head(x, "response_item");
	b_puts(x->b, fmt_head);
	put_text(x->g, x->b, len);
	b_puts(x->b, tail);
}

static void codex_session(gen *g, int serial)
{
	buf b = {0};
	xctx x = {0};
	x.g = g;
	x.b = &b;
	x.t = (BASE_EPOCH + (int64_t)rnd(g, DAYS * 86400)) * 1000 + (int64_t)rnd(g, 1000);
	x.legacy_rl = chance(g, 2000);
	x.p5 = (double)rnd(g, 50);
	x.p7 = (double)rnd(g, 60);
	x.reset5 = x.t / 1000 + (int64_t)rrange(g, 60, 5 * 3600);
	x.reset7 = x.t / 1000 + (int64_t)rrange(g, 3600, 7 * 86400);
	x.huge_budget = g->written == 0 ? 1 : 0;
	char sid[37], ts[80], cwd[64];
	uuid(g, sid, '7');
	memcpy(sid, "019b", 4);
	snprintf(cwd, sizeof cwd, "/home/dev/src/proj%u", (unsigned)rnd(g, 12));
	iso(x.t, ts);
	x_head(&x, "session_meta");
	b_printf(&b, "{\"id\":\"%s\",\"timestamp\":\"%s\",\"cwd\":\"%s\",\"originator\":\"codex_cli_rs\",\"cli_version\":\"%s\","
		 "\"instructions\":null,\"source\":\"cli\",\"model_provider\":\"openai\",\"git\":{\"commit_hash\":"
		 "\"3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a\",\"branch\":\"main\",\"repository_url\":\"git@github.com:example/proj.git\"}}}\n",
		 sid, ts, cwd, x.legacy_rl ? "0.42.0" : "0.98.0");
	x.t += (int64_t)rrange(g, 100, 900);
	x_token_count(&x, NULL, NULL);
	const char *model = codex_models[rnd(g, 5)];
	x.t += (int64_t)rrange(g, 500, 4000);
	x_turn_context(&x, cwd, model);
	tusage tot = {0};
	uint64_t ctx = rrange(g, 6000, 14000);
	int turns = (int)(chance(g, 1000) ? rrange(g, 30, 200) : rrange(g, 1, 25));
	for (int turn = 0; turn < turns; turn++) {
		if (turn && chance(g, 800)) {
			model = codex_models[rnd(g, 5)];
			x_turn_context(&x, cwd, model);
		}
		x_item_text(&x, "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"",
			    (size_t)rrange(g, 10, 400), "\"}]}}\n");
		x_head(&x, "event_msg");
		b_puts(&b, "{\"type\":\"user_message\",\"message\":\"");
		put_text(g, &b, (size_t)rrange(g, 10, 400));
		b_puts(&b, "\",\"images\":[]}}\n");
		int steps = (int)rrange(g, 1, 10);
		for (int s = 0; s < steps; s++) {
			x.t += (int64_t)rrange(g, 1000, 40000);
			x_item_text(&x, "{\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"",
				    (size_t)rrange(g, 20, 300), "\"}],\"content\":null,\"encrypted_content\":\"gAAAAAB\"}}\n");
			int tool = s + 1 < steps;
			if (tool) {
				char call[40];
				rid(g, call, "call_", 24);
				x_head(&x, "response_item");
				b_printf(&b, "{\"type\":\"function_call\",\"name\":\"shell\",\"arguments\":\"{\\\"command\\\":[\\\"bash\\\",\\\"-lc\\\",\\\"cat src/f%u.c\\\"]}\",\"call_id\":\"%s\"}}\n",
					 (unsigned)rnd(g, 100), call);
				x.t += (int64_t)rrange(g, 50, 5000);
				x_head(&x, "response_item");
				b_printf(&b, "{\"type\":\"function_call_output\",\"call_id\":\"%s\",\"output\":\"", call);
				put_text(g, &b, tool_output_len(g, &x.huge_budget));
				b_puts(&b, "\"}}\n");
			} else {
				x_item_text(&x, "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"",
					    (size_t)rrange(g, 20, 1500), "\"}]}}\n");
				x_head(&x, "event_msg");
				b_puts(&b, "{\"type\":\"agent_message\",\"message\":\"done\"}}\n");
			}
			tusage last;
			last.in = ctx + rrange(g, 50, 3000);
			last.cached = chance(g, 1500) ? 0 : last.in * rrange(g, 60, 97) / 100;
			last.out = rrange(g, 10, chance(g, 1000) ? 12000 : 1800);
			last.reason = rnd(g, last.out + 1);
			ctx = last.in + last.out;
			if (ctx > 240000)
				ctx = rrange(g, 10000, 30000);
			tot.in += last.in;
			tot.cached += last.cached;
			tot.out += last.out;
			tot.reason += last.reason;
			x.p5 += 0.3;
			x.p7 += 0.05;
			x.t += (int64_t)rrange(g, 10, 300);
			day_tot *d = day_of(g, x.t);
			d->in += last.in - last.cached;
			d->cr += last.cached;
			d->out += last.out;
			d->reason += last.reason;
			size_t at = b.n;
			x_token_count(&x, &tot, &last);
			if (chance(g, 1200)) { /* identical duplicate event, 2 ms later */
				size_t n = b.n - at;
				char *line = malloc(n);
				if (!line)
					die("out of memory");
				memcpy(line, b.p + at, n);
				x.t += 2;
				char ts2[80];
				iso(x.t, ts2);
				memcpy(line + 14, ts2, 24);
				b_putn(&b, line, n);
				free(line);
			}
			if (chance(g, 30)) { /* a torn write, then the log goes on */
				buf tmp = {0};
				b_putn(&tmp, b.p + at, (size_t)((char *)memchr(b.p + at, '\n', b.n - at) - (b.p + at)) + 1);
				put_cut(&b, &tmp, (size_t)rrange(g, 10, tmp.n - 2), 1);
				free(tmp.p);
			}
		}
		x.t += (int64_t)(chance(g, 300) ? rrange(g, 3600000, 10 * 3600000) : rrange(g, 5000, 600000));
		if (chance(g, 100)) {
			x_head(&x, "compacted");
			b_puts(&b, "{\"message\":\"summary of the conversation so far\"}}\n");
		}
		if (x.t / 1000 >= BASE_EPOCH + (DAYS + 8) * 86400 || g->written + b.n >= g->target)
			break;
	}
	int cut = chance(g, 200);
	if (cut) {
		buf tmp = {0};
		xctx y = x;
		y.b = &tmp;
		x_token_count(&y, &tot, &tot);
		put_cut(&b, &tmp, (size_t)rrange(g, 10, tmp.n - 2), 0);
		free(tmp.p);
	}
	/* the file is named after the session start */
	char rel[512], fts[80];
	memcpy(fts, ts, 19);
	fts[19] = 0;
	fts[13] = fts[16] = '-';
	(void)serial;
	if (chance(g, 1500))
		snprintf(rel, sizeof rel, "archived_sessions/rollout-%s-%s.jsonl", fts, sid);
	else
		snprintf(rel, sizeof rel, "sessions/%.4s/%.2s/%.2s/rollout-%s-%s.jsonl", ts, ts + 5, ts + 8, fts, sid);
	write_file(g, rel, &b);
	free(b.p);
}

static void gen_codex(gen *g)
{
	for (int i = 0; g->written < g->target; i++)
		codex_session(g, i);
	buf h = {0};
	b_puts(&h, "{\"session_id\":\"019b0000-0000-7000-8000-000000000000\",\"ts\":1767600000,\"text\":\"fix the tests\"}\n");
	write_file(g, "history.jsonl", &h);
	free(h.p);
}

/* ---- main ----------------------------------------------------------------- */

static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		die("bad --size: %s", s);
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': case 0: v *= 1024 * 1024; if (*end) end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	default: die("bad --size suffix: %s", s);
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end)
		die("bad --size: %s", s);
	return (uint64_t)v;
}

static void write_expect(const gen *g, const char *path, const char *kind)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die("create %s: %s", path, strerror(errno));
	fprintf(f, "{\"kind\":\"%s\",\"days\":[", kind);
	int first = 1;
	for (int d = 0; d < NDAYS; d++) {
		const day_tot *t = &g->days[d];
		if (!t->in && !t->cw && !t->cr && !t->out)
			continue;
		char ts[80];
		iso((BASE_EPOCH + (int64_t)d * 86400) * 1000, ts);
		fprintf(f, "%s\n{\"date\":\"%.10s\",\"input\":%" PRIu64 ",\"cache_write\":%" PRIu64 ",\"cache_read\":%" PRIu64
			",\"output\":%" PRIu64 ",\"reasoning\":%" PRIu64 ",\"total\":%" PRIu64 "}",
			first ? "" : ",", ts, t->in, t->cw, t->cr, t->out, t->reason, t->in + t->cw + t->cr + t->out);
		first = 0;
	}
	fprintf(f, "\n]}\n");
	if (fclose(f))
		die("write %s: %s", path, strerror(errno));
}

static void usage(void)
{
	fputs("usage: gen-logs --kind claude|codex --size SIZE[K|M|G] [--seed N] --out DIR [--expect FILE]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *kind = NULL, *out = NULL, *expect = NULL;
	uint64_t size = 0, seed = 1;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--kind"))
			kind = argv[++i];
		else if (!strcmp(argv[i], "--size"))
			size = parse_size(argv[++i]);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--out"))
			out = argv[++i];
		else if (!strcmp(argv[i], "--expect"))
			expect = argv[++i];
		else
			usage();
	}
	if (!kind || !out || !size || (strcmp(kind, "claude") && strcmp(kind, "codex")))
		usage();
	struct stat st;
	if (stat(out, &st) == 0) {
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", out, strcmp(kind, "claude") ? "sessions" : "projects");
		if (stat(p, &st) == 0)
			die("%s already exists; remove it first", p);
	}
	mkdirs(out);
	gen *g = calloc(1, sizeof *g);
	if (!g)
		die("out of memory");
	g->rng = seed * 0x2545f4914f6cdd1dULL + (strcmp(kind, "claude") ? 7 : 3);
	g->out = out;
	g->target = size;
	make_lorem(g);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!strcmp(kind, "claude"))
		gen_claude(g);
	else
		gen_codex(g);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (expect)
		write_expect(g, expect, kind);
	fprintf(stderr, "gen-logs: %s seed %" PRIu64 ": %" PRIu64 " files, %" PRIu64 " lines, %.1f MiB in %.2f s (%.0f MiB/s)\n",
		kind, seed, g->files, g->lines, (double)g->written / 1048576.0, secs,
		secs > 0 ? (double)g->written / 1048576.0 / secs : 0.0);
	free(g->lorem);
	free(g);
	return 0;
}
