/*
 * http_client.h - the libcurl behind host->http() (internal to the core).
 *
 * One blocking request per call, bounded by the collection's deadline,
 * restricted to http/https (redirects too, at most 3), with a hard cap on
 * the response size.  Nothing here logs; errors are in the response.
 */
#ifndef METERD_HTTP_CLIENT_H
#define METERD_HTTP_CLIENT_H

#include <stddef.h>
#include "meterd/plugin.h"

#define HTTP_DEFAULT_MAX_RESPONSE ((size_t)4 * 1024 * 1024)
#define HTTP_MAX_REDIRECTS 3L

/* Perform req with at most remaining_ms left (<= 0 fails at once with
 * MD_ERR_TIMEOUT).  secrets (n of them) are masked out of the error text.
 * Always sets *out to a response owned by the caller (http_response_free).
 * Returns 0 when a response arrived (any status), -1 on transport failure,
 * size cap or bad request (status 0, error and error_class set). */
int http_perform(const md_http_request *req, long long remaining_ms,
                 const char *const *secrets, size_t n_secrets,
                 md_http_response **out);

void http_response_free(md_http_response *resp);

/* Case-insensitive header lookup; NULL when absent.  Owned by resp. */
const char *http_response_header(const md_http_response *resp,
                                 const char *name);

/* curl_global_init exactly once per process (thread-safe). */
void http_global_init(void);

#endif
