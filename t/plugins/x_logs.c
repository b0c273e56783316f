/*
 * x_logs.c - cellmaker.c built as "x_logs" without declaring
 * MD_PRODUCES_USAGE_CELLS: a name ending in "_logs" must not make
 * `meterd report daily` run a plugin (see cellmaker.c).
 */
#define CELLMAKER_NAME "x_logs"
#define CELLMAKER_PRODUCES 0
#include "cellmaker.c"
