/* view.c - names of provider view states as they appear in the API and
 * in the snapshot. */
#include "view.h"

const char *provider_status_name(provider_status s)
{
    switch (s) {
    case PSTAT_PENDING: return "pending";
    case PSTAT_OK: return "ok";
    case PSTAT_ERROR: return "error";
    case PSTAT_DISABLED: return "disabled";
    }
    return "error";   /* out-of-range value: never claim success */
}

const char *served_from_name(served_from s)
{
    switch (s) {
    case SERVED_NONE: return "none";
    case SERVED_LIVE: return "live";
    case SERVED_SNAPSHOT: return "snapshot";
    }
    return "none";
}
