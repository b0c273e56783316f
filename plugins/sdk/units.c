/*
 * plugins/sdk/units.c - unit normalisation at the plugin's edge
 * (meterd/util.h, "Units"): providers report fractions, remaining shares
 * and cents; meters are percent used and major currency units.  Unknown
 * stays unknown.  (Sums are core/lib/tokens.c, shared with the core.)
 */
#include "meterd/util.h"

md_num mdu_fraction_to_percent(md_num f)
{
    if (f.state == MD_KNOWN)
        f.value *= 100.0;
    return f;
}

md_num mdu_remaining_to_used_percent(md_num r)
{
    if (r.state == MD_KNOWN)
        r.value = r.value >= 100.0 ? 0.0 : 100.0 - r.value;
    return r;
}

md_num mdu_minor_to_major(md_num cents)
{
    if (cents.state == MD_KNOWN)
        cents.value /= 100.0;
    return cents;
}
