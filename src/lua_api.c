/*
 * lua_api.c
 *		The C API that Lua scripts may call, as module "dynamo_lua_fdw.capi":
 *		http_request (and http_start/http_wait/http_cancel), sleep, check_interrupts, log, now, getenv (AWS_* only),
 *		read_aws_file, persistent, http_stats, and the hashing/encoding
 *		functions of lua_crypto.c.
 *
 * Every function that calls into PostgreSQL does so inside PG_TRY; a caught
 * error is parked and re-raised as a Lua error after PG_END_TRY, so no
 * longjmp crosses Lua frames (see lua_host.c).
 */
#include "dynamo_lua_fdw.h"

#include <pwd.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "lua_crypto.h"

extern long dlf_http_requests;
extern long dlf_http_connections;

/*
 * Runs fn(arg), catching a PostgreSQL error and parking it for the boundary
 * (lua_host.c); true when one was caught.  The caller then returns
 * dlf_lua_raise_pending_pg_error(L), outside any PG_TRY.
 */
static bool
pg_call_failed(void (*fn) (void *), void *arg)
{
	MemoryContext context = CurrentMemoryContext;
	volatile bool failed = false;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		dlf_remember_pg_error();
		failed = true;
	}
	PG_END_TRY();
	return failed;
}

typedef struct LogCall
{
	int			level;
	const char *message;
	const char *hint;
} LogCall;

static void
emit_log(void *arg)
{
	LogCall    *c = arg;

	ereport(c->level,
			(errmsg_internal("%s", c->message),
			 c->hint ? errhint("%s", c->hint) : 0));
}

/* capi.log(level, message[, hint]): levels DEBUG5..DEBUG1, LOG, INFO, NOTICE, WARNING. */
static int
l_log(lua_State *L)
{
	static const struct
	{
		const char *name;
		int			level;
	}			levels[] = {
		{"DEBUG5", DEBUG5}, {"DEBUG4", DEBUG4}, {"DEBUG3", DEBUG3}, {"DEBUG2", DEBUG2},
		{"DEBUG1", DEBUG1}, {"LOG", LOG}, {"INFO", INFO}, {"NOTICE", NOTICE}, {"WARNING", WARNING},
	};
	const char *name = luaL_checkstring(L, 1);
	LogCall		c = {-1, luaL_checkstring(L, 2), luaL_optstring(L, 3, NULL)};

	for (size_t i = 0; i < lengthof(levels); i++)
		if (strcmp(levels[i].name, name) == 0)
			c.level = levels[i].level;
	if (c.level < 0)
		return luaL_error(L, "capi.log: unknown level \"%s\"", name);
	if (pg_call_failed(emit_log, &c))
		return dlf_lua_raise_pending_pg_error(L);
	return 0;
}

static void
check_interrupts(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

static int
l_check_interrupts(lua_State *L)
{
	if (pg_call_failed(check_interrupts, NULL))
		return dlf_lua_raise_pending_pg_error(L);
	return 0;
}

/* Waits ms milliseconds on the latch, so a cancel ends the wait at once. */
static void
sleep_ms(void *arg)
{
	long		ms = *(long *) arg;
	struct timeval start,
				now;

	gettimeofday(&start, NULL);
	for (;;)
	{
		long		elapsed;

		CHECK_FOR_INTERRUPTS();
		gettimeofday(&now, NULL);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_usec - start.tv_usec) / 1000;
		if (elapsed >= ms)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms - elapsed, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* capi.sleep(ms): an interruptible sleep (retry back-off). */
static int
l_sleep(lua_State *L)
{
	long		ms = (long) luaL_checknumber(L, 1);

	if (pg_call_failed(sleep_ms, &ms))
		return dlf_lua_raise_pending_pg_error(L);
	return 0;
}

static int
l_now(lua_State *L)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	lua_pushnumber(L, tv.tv_sec + tv.tv_usec / 1e6);
	return 1;
}

/* capi.getenv(name): only AWS_* variables of the server process. */
static int
l_getenv(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *value;

	if (strncmp(name, "AWS_", 4) != 0)
		return luaL_error(L, "capi.getenv: only AWS_* variables may be read");
	value = getenv(name);
	if (value)
		lua_pushstring(L, value);
	else
		lua_pushnil(L);
	return 1;
}

/*
 * capi.read_aws_file("credentials" | "config"): the AWS shared files of the
 * server's OS user (or AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE).
 * Returns the contents, or nil and a message.
 */
static int
l_read_aws_file(lua_State *L)
{
	const char *kind = luaL_checkstring(L, 1);
	const char *env = strcmp(kind, "credentials") == 0 ? "AWS_SHARED_CREDENTIALS_FILE" :
		strcmp(kind, "config") == 0 ? "AWS_CONFIG_FILE" : NULL;
	const char *path;
	struct stat st;
	FILE	   *f;
	char	   *buf;
	size_t		got;

	if (env == NULL)
		return luaL_error(L, "capi.read_aws_file: unknown file \"%s\"", kind);
	path = getenv(env);
	if (path == NULL || path[0] == '\0')
	{
		const char *home = getenv("HOME");
		struct passwd *pw;

		if ((home == NULL || home[0] == '\0') && (pw = getpwuid(geteuid())) != NULL)
			home = pw->pw_dir;
		path = lua_pushfstring(L, "%s/.aws/%s", home ? home : "", kind);
	}
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 1024 * 1024)
	{
		lua_pushnil(L);
		lua_pushfstring(L, "no readable file \"%s\"", path);
		return 2;
	}
	buf = lua_newuserdata(L, st.st_size + 1);
	f = fopen(path, "rb");
	if (f == NULL)
	{
		lua_pushnil(L);
		lua_pushfstring(L, "cannot open \"%s\"", path);
		return 2;
	}
	got = fread(buf, 1, st.st_size, f);
	fclose(f);
	lua_pushlstring(L, buf, got);
	return 1;
}

/* capi.persistent(): a table that lives as long as the backend, across script reloads. */
static int
l_persistent(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, "dynamo_lua_fdw.persistent");
	return 1;
}

static int
l_http_stats(lua_State *L)
{
	lua_createtable(L, 0, 3);
	lua_pushnumber(L, dlf_http_requests);
	lua_setfield(L, -2, "requests");
	lua_pushnumber(L, dlf_http_connections);
	lua_setfield(L, -2, "connections");
	lua_pushnumber(L, dlf_lua_bytes_used());
	lua_setfield(L, -2, "lua_bytes");
	return 1;
}

typedef struct HttpCall
{
	const DlfHttpRequest *req;
	int			id;
	DlfHttpResponse resp;
	MemoryContext context;		/* of resp, from dlf_http_wait */
} HttpCall;

static void
start(void *arg)
{
	HttpCall   *c = arg;

	c->id = dlf_http_start(c->req);
}

static void
wait_for(void *arg)
{
	HttpCall   *c = arg;

	c->context = dlf_http_wait(c->id, &c->resp);
}

static void
cancel(void *arg)
{
	dlf_http_cancel(((HttpCall *) arg)->id);
}

static const char *
opt_string_field(lua_State *L, const char *field)
{
	const char *s;

	lua_getfield(L, 1, field);
	s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
	lua_pop(L, 1);				/* still anchored by the request table */
	return s;
}

/*
 * capi.http_start{method=, url=, headers={"Name: value", ...}, body=,
 *                 timeout_ms=, connect_timeout_ms=, ca_file=} -> id
 * The request is on its way when this returns; capi.http_wait(id) collects it.
 */
static int
l_http_start(lua_State *L)
{
	DlfHttpRequest req;
	size_t		body_len = 0;
	HttpCall	call;

	luaL_checktype(L, 1, LUA_TTABLE);
	memset(&req, 0, sizeof(req));
	req.method = opt_string_field(L, "method");
	req.url = opt_string_field(L, "url");
	req.ca_file = opt_string_field(L, "ca_file");
	if (req.method == NULL || req.url == NULL)
		return luaL_error(L, "capi.http_start: method and url are required");
	lua_getfield(L, 1, "body");
	req.body = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, &body_len);
	req.body_len = body_len;
	lua_getfield(L, 1, "timeout_ms");
	req.timeout_ms = (long) luaL_optnumber(L, -1, 0);
	lua_getfield(L, 1, "connect_timeout_ms");
	req.connect_timeout_ms = (long) luaL_optnumber(L, -1, 0);
	lua_getfield(L, 1, "headers");
	if (lua_istable(L, -1))
	{
		int			n = (int) lua_objlen(L, -1);
		int			htab = lua_gettop(L);

		req.headers = lua_newuserdata(L, sizeof(char *) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			lua_rawgeti(L, htab, i + 1);
			req.headers[i] = luaL_checkstring(L, -1);
			lua_pop(L, 1);		/* anchored by the headers table */
		}
		req.nheaders = n;
	}
	call.req = &req;
	if (pg_call_failed(start, &call))
		return dlf_lua_raise_pending_pg_error(L);
	lua_pushinteger(L, call.id);
	return 1;
}

/*
 * capi.http_wait(id)
 * -> status, headers (lower-case name -> value), body
 * or nil, message, kind ("connect", "timeout", "send", "recv", "tls", "other").
 */
static int
l_http_wait(lua_State *L)
{
	HttpCall	call;

	call.id = (int) luaL_checkinteger(L, 1);
	if (pg_call_failed(wait_for, &call))
		return dlf_lua_raise_pending_pg_error(L);
	/* From here on only Lua allocates; the context is freed with its parent if that fails. */
	if (call.resp.error_kind)
	{
		lua_pushnil(L);
		lua_pushstring(L, call.resp.error_message);
		lua_pushstring(L, call.resp.error_kind);
		MemoryContextDelete(call.context);
		return 3;
	}
	lua_pushnumber(L, call.resp.status);
	lua_createtable(L, 0, call.resp.nheaders);
	for (int i = 0; i < call.resp.nheaders; i++)
	{
		lua_pushstring(L, call.resp.headers[i].value);
		lua_setfield(L, -2, call.resp.headers[i].name);
	}
	lua_pushlstring(L, call.resp.body.data, call.resp.body.len);
	MemoryContextDelete(call.context);
	return 3;
}

/* capi.http_cancel(id): drops a request that is no longer wanted (its connection is closed). */
static int
l_http_cancel(lua_State *L)
{
	HttpCall	call;

	call.id = (int) luaL_checkinteger(L, 1);
	if (pg_call_failed(cancel, &call))
		return dlf_lua_raise_pending_pg_error(L);
	return 0;
}

/* capi.http_in_flight() -> how many requests are in flight in this backend (at most 64). */
static int
l_http_in_flight(lua_State *L)
{
	lua_pushinteger(L, dlf_http_in_flight());
	return 1;
}

/* capi.http_request(req): http_start then http_wait. */
static int
l_http_request(lua_State *L)
{
	int			top;

	l_http_start(L);
	top = lua_gettop(L);
	lua_pushcfunction(L, l_http_wait);
	lua_pushvalue(L, top);
	lua_call(L, 1, 3);
	return 3;
}

static const luaL_Reg api_funcs[] = {
	{"log", l_log},
	{"check_interrupts", l_check_interrupts},
	{"sleep", l_sleep},
	{"now", l_now},
	{"getenv", l_getenv},
	{"read_aws_file", l_read_aws_file},
	{"persistent", l_persistent},
	{"http_stats", l_http_stats},
	{"http_request", l_http_request},
	{"http_start", l_http_start},
	{"http_wait", l_http_wait},
	{"http_cancel", l_http_cancel},
	{"http_in_flight", l_http_in_flight},
	{NULL, NULL}
};

/* Fills the table on top of the stack with the C API. */
void
dlf_open_capi(lua_State *L)
{
	luaL_register(L, NULL, api_funcs);
	dlf_register_crypto(L);
}
