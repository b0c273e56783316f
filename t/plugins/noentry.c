/* noentry.c - a test "plugin" that exports no entry point. */
#include "meterd/plugin.h"

MD_EXPORT int meterd_not_the_entry(void);
MD_EXPORT int meterd_not_the_entry(void) { return 42; }
