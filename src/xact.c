/*
 * xact.c
 *		Transaction and subtransaction callbacks.  Writes are buffered in Lua
 *		(writes.lua) and sent before commit; these callbacks only tell Lua
 *		where the transaction is.
 */
#include "dynamo_lua_fdw.h"

#include "access/xact.h"

static void
xact_callback(XactEvent event, void *arg)
{
	DlfArg		none;

	/* a prefetched page nobody read, or requests an error left behind */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		dlf_http_cancel_all();
	if (!dlf_lua_exists())
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			/* An error here aborts the transaction, as it must when writes fail. */
			dlf_lua_done(dlf_lua_call("xact_pre_commit", 0, &none, 0));
			break;
		case XACT_EVENT_PRE_PREPARE:
			dlf_lua_done(dlf_lua_call("xact_pre_prepare", 0, &none, 0));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			(void) dlf_lua_call_noerror("xact_end", 0, &none);
			dlf_lua_drop_writes(0); /* even if a broken script failed above */
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			(void) dlf_lua_call_noerror("xact_abort", 0, &none);
			/* rolled-back writes must never reach a later COMMIT, scripts or not */
			dlf_lua_drop_writes(0);
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	DlfArg		level = {DLF_ARG_INT};

	if (event == SUBXACT_EVENT_ABORT_SUB)
		dlf_http_cancel_from(GetCurrentTransactionNestLevel());
	if (!dlf_lua_exists() || (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	level.ival = GetCurrentTransactionNestLevel();
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* if Lua could not drop the savepoint's writes (a broken script), C does */
		if (!dlf_lua_call_noerror("xact_abort_sub", 1, &level))
			dlf_lua_drop_writes(level.ival);
	}
	else
		dlf_lua_done(dlf_lua_call("xact_commit_sub", 1, &level, 0));
}

void
dlf_register_xact_callbacks(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}
