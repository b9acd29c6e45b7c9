/*
 * dynamo_lua_fdw.h
 *		Shared declarations of the C shell around the Lua scripts.
 *
 * The C code only translates between PostgreSQL and plain Lua values; every
 * DynamoDB decision is made by the scripts under lua/dynamo_lua_fdw/.
 */
#ifndef DYNAMO_LUA_FDW_H
#define DYNAMO_LUA_FDW_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"

#include <lua.h>
#include <lauxlib.h>

/* ---- lua_host.c: the backend's lua_State and the one protected boundary ---- */

/* One argument handed to a Lua entry point; C fills these before entering Lua. */
typedef enum DlfArgKind
{
	DLF_ARG_NIL,
	DLF_ARG_STRING,				/* str, len */
	DLF_ARG_JSON,				/* str: JSON text decoded into a Lua table */
	DLF_ARG_INT,				/* ival */
	DLF_ARG_BOOL,				/* ival */
	DLF_ARG_STRINGS				/* n values strs[i]/lens[i]; strs[i] NULL is nil */
} DlfArgKind;

typedef struct DlfArg
{
	DlfArgKind	kind;
	const char *str;
	size_t		len;
	int			ival;
	int			n;
	const char **strs;
	size_t	   *lens;
} DlfArg;

extern char *dlf_script_path;
extern int	dlf_lua_memory_limit_kb;

extern void dlf_define_lua_gucs(void);
extern lua_State *dlf_lua(void);
extern bool dlf_lua_exists(void);

/*
 * Calls init.lua's entry(args...) under the one protected boundary.  Lua errors
 * become ereport(ERROR); PostgreSQL errors raised inside the C API are
 * re-thrown unchanged.  On return the results sit on the Lua stack at
 * 1..nresults; read them only with non-allocating functions (dlf_result_*),
 * then call dlf_lua_done().
 */
extern lua_State *dlf_lua_call(const char *entry, int nargs, const DlfArg *args, int nresults);
/* As dlf_lua_call, but for abort paths: reports a failure as a WARNING. */
extern bool dlf_lua_call_noerror(const char *entry, int nargs, const DlfArg *args);
extern void dlf_lua_done(lua_State *L);
extern void dlf_lua_drop_writes(int level);
extern size_t dlf_lua_bytes_used(void);

/* Non-allocating readers of results (a wrong type is an ERROR naming the entry). */
extern char *dlf_result_string(lua_State *L, int idx, const char *what);	/* palloc'd, NULL for nil */
extern double dlf_result_number(lua_State *L, int idx, const char *what);
extern int	dlf_result_int(lua_State *L, int idx, const char *what);

/* Used by the C API functions (lua_api.c) to move a caught PostgreSQL error into Lua. */
extern int	dlf_lua_raise_pending_pg_error(lua_State *L);
extern void dlf_remember_pg_error(void);

/* ---- lua_api.c: what Lua may call ---- */
extern void dlf_open_capi(lua_State *L);

/* ---- http.c: libcurl, interrupt-aware ---- */
typedef struct DlfHttpHeader
{
	char	   *name;
	char	   *value;
} DlfHttpHeader;

typedef struct DlfHttpRequest
{
	const char *method;
	const char *url;
	const char *body;
	size_t		body_len;
	int			nheaders;
	const char **headers;		/* "Name: value" lines */
	long		timeout_ms;
	long		connect_timeout_ms;
	const char *ca_file;
} DlfHttpRequest;

typedef struct DlfHttpResponse
{
	long		status;			/* 0 when no response arrived */
	const char *error_kind;		/* NULL on success; "connect", "timeout", "send", "recv", "tls", "other" */
	char		error_message[256];
	StringInfoData body;
	int			nheaders;
	DlfHttpHeader *headers;		/* names lower-cased */
	long		new_connections;
} DlfHttpResponse;

extern int	dlf_http_start(const DlfHttpRequest *req);
extern MemoryContext dlf_http_wait(int id, DlfHttpResponse *resp);
extern void dlf_http_cancel(int id);
extern void dlf_http_cancel_all(void);
extern void dlf_http_cancel_from(int level);
extern int	dlf_http_in_flight(void);

/* ---- option.c ---- */
extern const char *dlf_option_value(List *options, const char *name);

/* ---- xact.c ---- */
extern void dlf_register_xact_callbacks(void);

#endif							/* DYNAMO_LUA_FDW_H */
