/*
 * lua_host.c
 *		The backend's lua_State: a capped allocator, a sandboxed module loader
 *		that reloads changed scripts, and the one protected boundary through
 *		which every call from C into Lua passes.
 *
 * Two rules keep PostgreSQL and Lua from unwinding each other's frames:
 *	- C enters Lua only through dlf_lua_call(): lua_pcall of a trampoline kept
 *	  in the registry, so even building the arguments runs protected.  A Lua
 *	  error comes back as a status and becomes ereport(ERROR) here.
 *	- C functions called from Lua (lua_api.c) catch PostgreSQL errors with
 *	  PG_TRY, park them here and raise a Lua error; when Lua has unwound,
 *	  dlf_lua_call() re-throws the parked error unchanged (so a cancel is
 *	  still a cancel).
 * Outside those calls only non-allocating Lua API functions are used.
 */
#include "dynamo_lua_fdw.h"

#include <dlfcn.h>
#include <lualib.h>
#include <sys/stat.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

char	   *dlf_script_path = NULL;
int			dlf_lua_memory_limit_kb = 256 * 1024;

static lua_State *dlf_L = NULL;
static int	msgh_ref = LUA_NOREF;
static int	trampoline_ref = LUA_NOREF;

/* A PostgreSQL error caught in the C API, waiting to be re-thrown. */
static ErrorData *pending_pg_error = NULL;
static MemoryContext pending_error_context = NULL;
static char pending_sentinel;

static TimestampTz last_reload_check = 0;

#define REG_SCRIPTS "dynamo_lua_fdw.scripts"
#define REG_PERSISTENT "dynamo_lua_fdw.persistent"
#define ERRORS_CHUNK "@dynamo_lua_fdw/errors.lua"

/* ---------- GUCs ---------- */

void
dlf_define_lua_gucs(void)
{
	char		sharepath[MAXPGPATH];
	char	   *default_path;

	get_share_path(my_exec_path, sharepath);
	default_path = psprintf("%s/dynamo_lua_fdw", sharepath);

	DefineCustomStringVariable("dynamo_lua_fdw.script_path",
							   "Directory holding the Lua scripts of dynamo_lua_fdw.",
							   "Modules are loaded only from this directory; a changed file is reloaded by the next query.",
							   &dlf_script_path,
							   default_path,
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("dynamo_lua_fdw.lua_memory_limit",
							"Memory the Lua interpreter of one backend may use.",
							NULL,
							&dlf_lua_memory_limit_kb,
							256 * 1024, 8 * 1024, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/* ---------- allocator with a cap ---------- */

/*
 * LuaJIT's own allocator (from luaL_newstate) does the work, much faster than
 * going through malloc/free for every string and table; this wrapper only
 * counts bytes and refuses growth past dynamo_lua_fdw.lua_memory_limit.  The
 * few kB allocated before the wrapper was installed are not counted.
 */
static lua_Alloc luajit_alloc = NULL;
static void *luajit_alloc_ud = NULL;
static long long lua_bytes_used = 0;

static void *
dlf_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	void	   *p;

	(void) ud;
	if (ptr == NULL)
		osize = 0;
	if (nsize == 0)
	{
		(void) luajit_alloc(luajit_alloc_ud, ptr, osize, 0);
		lua_bytes_used -= osize;
		return NULL;
	}
	/* Growing past the cap fails; Lua turns that into a memory error.  Shrinking never fails. */
	if (nsize > osize &&
		lua_bytes_used + (long long) (nsize - osize) > (long long) dlf_lua_memory_limit_kb * 1024)
		return NULL;
	p = luajit_alloc(luajit_alloc_ud, ptr, osize, nsize);
	if (p == NULL)
		return nsize <= osize ? ptr : NULL;
	lua_bytes_used += (long long) nsize - (long long) osize;
	return p;
}

size_t
dlf_lua_bytes_used(void)
{
	return lua_bytes_used > 0 ? (size_t) lua_bytes_used : 0;
}

/* ---------- sandboxed script loading ---------- */

/* Signature of a file, to notice that it changed. */
static bool
file_signature(const char *path, char *buf, size_t buflen)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return false;
	snprintf(buf, buflen, "%lld.%09ld:%lld:%llu",
			 (long long) st.st_mtim.tv_sec, (long) st.st_mtim.tv_nsec,
			 (long long) st.st_size, (unsigned long long) st.st_ino);
	return true;
}

/*
 * Runs a script's chunk for require.  When the chunk fails, require would
 * leave its "loading" mark in package.loaded and refuse the module for the
 * rest of the session ("loop or previous error"); forget the mark so that the
 * next statement loads the module afresh, then pass the error on.
 */
static int
guarded_loader(lua_State *L)
{
	lua_settop(L, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	if (lua_pcall(L, 1, 1, 0) == 0)
		return 1;
	lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	return lua_error(L);
}

/*
 * package.loaders entry: module "a.b" is the file <script_path>/a/b.lua or
 * <script_path>/a/b/init.lua, and nothing else.  The chunk is named by its
 * path relative to the script directory, so errors read "dynamo_lua_fdw/x.lua:12".
 */
static int
script_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *root = dlf_script_path ? dlf_script_path : "";
	const char *suffixes[] = {".lua", "/init.lua"};

	for (const char *p = name; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '_' || (*p == '.' && p != name && p[1] != '.' && p[1] != '\0')))
		{
			lua_pushfstring(L, "\n\tmodule name \"%s\" is not a plain dotted name", name);
			return 1;
		}
	luaL_gsub(L, name, ".", "/");	/* index 2 */
	for (int i = 0; i < 2; i++)
	{
		const char *relpath = lua_pushfstring(L, "%s%s", lua_tostring(L, 2), suffixes[i]);
		const char *path = lua_pushfstring(L, "%s/%s", root, relpath);
		char		sig[128];
		struct stat st;
		FILE	   *f;
		char	   *buf;
		size_t		got;

		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		{
			lua_pop(L, 2);
			continue;
		}
		/* Lua owns the buffer, so an error below leaks nothing. */
		buf = lua_newuserdata(L, st.st_size + 1);
		f = fopen(path, "rb");
		if (f == NULL)
			return luaL_error(L, "cannot open script \"%s\"", relpath);
		got = fread(buf, 1, st.st_size, f);
		fclose(f);
		if (got != (size_t) st.st_size)
			return luaL_error(L, "cannot read script \"%s\"", relpath);
		if (luaL_loadbuffer(L, buf, got, lua_pushfstring(L, "@%s", relpath)) != 0)
			return lua_error(L);
		lua_pushcclosure(L, guarded_loader, 1);
		/* Remember the file so that a change makes the next query reload it. */
		lua_getfield(L, LUA_REGISTRYINDEX, REG_SCRIPTS);
		lua_pushstring(L, name);
		lua_createtable(L, 0, 2);
		lua_pushstring(L, path);
		lua_setfield(L, -2, "path");
		lua_pushstring(L, file_signature(path, sig, sizeof(sig)) ? sig : "");
		lua_setfield(L, -2, "sig");
		lua_rawset(L, -3);
		lua_pop(L, 1);
		return 1;
	}
	lua_pushfstring(L, "\n\tno file \"%s/%s.lua\" in dynamo_lua_fdw.script_path", root, lua_tostring(L, 2));
	return 1;
}

/*
 * Runs protected at the start of a statement: when any loaded script changed
 * on disk (or the script path did), forget every loaded script so that all of
 * them load afresh together; a mix of old and new modules is never used.
 */
static int
reload_if_changed(lua_State *L)
{
	bool		changed = false;
	const char *loaded_from;

	lua_getfield(L, LUA_REGISTRYINDEX, REG_SCRIPTS);
	lua_getfield(L, -1, "\001path");
	loaded_from = lua_tostring(L, -1);
	if (loaded_from && strcmp(loaded_from, dlf_script_path ? dlf_script_path : "") != 0)
		changed = true;
	lua_pop(L, 1);
	lua_pushnil(L);
	while (lua_next(L, -2) != 0)	/* runs to the end: an early exit would leave the key behind */
	{
		if (!changed && lua_istable(L, -1))
		{
			char		sig[128];
			const char *old;

			lua_getfield(L, -1, "sig");
			old = lua_tostring(L, -1);
			lua_getfield(L, -2, "path");
			if (!file_signature(lua_tostring(L, -1), sig, sizeof(sig)) || strcmp(sig, old) != 0)
				changed = true;
			lua_pop(L, 2);
		}
		lua_pop(L, 1);
	}
	if (changed)
	{
		lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
		lua_pushnil(L);
		while (lua_next(L, -3) != 0)
		{
			lua_pop(L, 1);
			if (lua_type(L, -1) == LUA_TSTRING)
			{
				lua_pushvalue(L, -1);
				lua_pushnil(L);
				lua_rawset(L, -4);
			}
		}
		lua_pop(L, 1);
		lua_newtable(L);
		lua_setfield(L, LUA_REGISTRYINDEX, REG_SCRIPTS);
	}
	lua_getfield(L, LUA_REGISTRYINDEX, REG_SCRIPTS);
	lua_pushstring(L, dlf_script_path ? dlf_script_path : "");
	lua_setfield(L, -2, "\001path");
	return 0;
}

/* ---------- the protected boundary ---------- */

/*
 * Message handler: turns whatever was raised into the array
 * {sqlstate, message, detail, hint, context, traceback}, which the caller
 * reads without allocating.  A parked PostgreSQL error passes through as is.
 */
static int
message_handler(lua_State *L)
{
	lua_Debug	ar;

	if (lua_touserdata(L, 1) == &pending_sentinel)
		return 1;
	lua_createtable(L, 6, 0);
	if (lua_istable(L, 1))
	{
		const char *fields[] = {"sqlstate", "message", "detail", "hint"};

		for (int i = 0; i < 4; i++)
		{
			lua_getfield(L, 1, fields[i]);
			if (!lua_isstring(L, -1))
			{
				lua_pop(L, 1);
				lua_pushnil(L);
			}
			lua_rawseti(L, 2, i + 1);
		}
		/* The script location: the innermost Lua frame outside errors.lua. */
		for (int level = 1; lua_getstack(L, level, &ar); level++)
		{
			lua_getinfo(L, "Sl", &ar);
			if (ar.currentline > 0 && strcmp(ar.source, ERRORS_CHUNK) != 0)
			{
				lua_pushfstring(L, "%s:%d", ar.source[0] == '@' ? ar.source + 1 : ar.short_src, ar.currentline);
				lua_rawseti(L, 2, 5);
				break;
			}
		}
	}
	else
	{
		const char *msg = lua_isstring(L, 1) ? lua_tostring(L, 1) : "(error object is not a string)";
		const char *colon;

		/* "chunk:line: message" -> location in the context, message alone. */
		colon = strstr(msg, ": ");
		if (colon && colon > msg && isdigit((unsigned char) colon[-1]) && strchr(msg, ':') < colon)
		{
			lua_pushlstring(L, msg, colon - msg);
			lua_rawseti(L, 2, 5);
			msg = colon + 2;
		}
		lua_pushstring(L, msg);
		lua_rawseti(L, 2, 2);
	}
	luaL_traceback(L, L, NULL, 1);
	lua_rawseti(L, 2, 6);
	return 1;
}

typedef struct TrampolineCall
{
	const char *entry;
	int			nargs;
	const DlfArg *args;
	int			nresults;
} TrampolineCall;

/* Runs protected: require("dynamo_lua_fdw")[entry](args...). */
static int
trampoline(lua_State *L)
{
	TrampolineCall *call = lua_touserdata(L, 1);

	lua_settop(L, 0);
	luaL_checkstack(L, call->nargs + 8, "too many arguments");
	lua_getglobal(L, "require");
	lua_pushliteral(L, "dynamo_lua_fdw");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, call->entry);
	if (!lua_isfunction(L, -1))
		return luaL_error(L, "dynamo_lua_fdw/init.lua has no function \"%s\"", call->entry);
	lua_remove(L, 1);
	for (int i = 0; i < call->nargs; i++)
	{
		const DlfArg *a = &call->args[i];

		switch (a->kind)
		{
			case DLF_ARG_NIL:
				lua_pushnil(L);
				break;
			case DLF_ARG_STRING:
				if (a->str)
					lua_pushlstring(L, a->str, a->len);
				else
					lua_pushnil(L);
				break;
			case DLF_ARG_JSON:
				lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
				lua_getfield(L, -1, "cjson");
				lua_getfield(L, -1, "decode");
				lua_pushstring(L, a->str);
				lua_call(L, 1, 1);
				lua_replace(L, -3);
				lua_pop(L, 1);
				break;
			case DLF_ARG_INT:
				lua_pushinteger(L, a->ival);
				break;
			case DLF_ARG_BOOL:
				lua_pushboolean(L, a->ival);
				break;
			case DLF_ARG_STRINGS:
				lua_createtable(L, a->n, 0);
				for (int j = 0; j < a->n; j++)
					if (a->strs[j])
					{
						lua_pushlstring(L, a->strs[j], a->lens[j]);
						lua_rawseti(L, -2, j + 1);
					}
				break;
		}
	}
	lua_call(L, call->nargs, call->nresults);
	return call->nresults;
}

/* Records the current PostgreSQL error (inside PG_CATCH) for dlf_lua_call to re-throw. */
void
dlf_remember_pg_error(void)
{
	MemoryContext old = MemoryContextSwitchTo(pending_error_context);

	if (pending_pg_error == NULL)
		pending_pg_error = CopyErrorData();
	MemoryContextSwitchTo(old);
	FlushErrorState();
}

/* Called by a C API function after PG_END_TRY when an error was remembered. */
int
dlf_lua_raise_pending_pg_error(lua_State *L)
{
	lua_pushlightuserdata(L, &pending_sentinel);
	return lua_error(L);
}

static void
rethrow_pending(void)
{
	ErrorData  *edata = pending_pg_error;

	pending_pg_error = NULL;
	ReThrowError(edata);
}

static char *
stack_string(lua_State *L, int tab, int i)
{
	const char *s;

	lua_rawgeti(L, tab, i);
	s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	return s ? pstrdup(s) : NULL;	/* the string stays anchored by tab */
}

static void
report_lua_error(lua_State *L, int status, const char *entry)
{
	char	   *sqlstate = NULL,
			   *message = NULL,
			   *detail = NULL,
			   *hint = NULL,
			   *where = NULL,
			   *traceback = NULL;
	int			code = ERRCODE_FDW_ERROR;

	if (status == LUA_ERRMEM)
	{
		lua_settop(L, 0);
		lua_gc(L, LUA_GCCOLLECT, 0);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("Lua memory limit of %d kB exceeded", dlf_lua_memory_limit_kb),
				 errdetail("The script entry point \"%s\" needed more memory than dynamo_lua_fdw.lua_memory_limit allows.", entry),
				 errhint("Raise dynamo_lua_fdw.lua_memory_limit, or make the query fetch less at once.")));
	}
	if (status == LUA_ERRRUN && lua_istable(L, -1))
	{
		int			t = lua_gettop(L);

		sqlstate = stack_string(L, t, 1);
		message = stack_string(L, t, 2);
		detail = stack_string(L, t, 3);
		hint = stack_string(L, t, 4);
		where = stack_string(L, t, 5);
		traceback = stack_string(L, t, 6);
	}
	else if (lua_type(L, -1) == LUA_TSTRING)
		message = pstrdup(lua_tostring(L, -1));
	lua_settop(L, 0);
	if (sqlstate && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", message ? message : "unknown Lua error"),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 where ? errcontext("Lua script %s", where) : 0,
			 traceback ? errdetail_log("%s", traceback) : 0));
}

static int
init_state(lua_State *L)
{
	static const struct
	{
		const char *name;
		lua_CFunction open;
	}			libs[] = {
		{"", luaopen_base},
		{LUA_LOADLIBNAME, luaopen_package},
		{LUA_TABLIBNAME, luaopen_table},
		{LUA_STRLIBNAME, luaopen_string},
		{LUA_MATHLIBNAME, luaopen_math},
		{LUA_BITLIBNAME, luaopen_bit},
		{LUA_JITLIBNAME, luaopen_jit},
		{LUA_OSLIBNAME, luaopen_os},
	};
	const char *unsafe_globals[] = {"dofile", "loadfile", "print", "module"};
	const char *unsafe_os[] = {"execute", "exit", "getenv", "remove", "rename", "tmpname", "setlocale"};
	void	   *cjson_handle;
	lua_CFunction open_cjson;

	for (size_t i = 0; i < lengthof(libs); i++)
	{
		lua_pushcfunction(L, libs[i].open);
		lua_pushstring(L, libs[i].name);
		lua_call(L, 1, 0);
	}
	for (size_t i = 0; i < lengthof(unsafe_globals); i++)
	{
		lua_pushnil(L);
		lua_setglobal(L, unsafe_globals[i]);
	}
	/* math.random differs per backend, so retry jitter does not march in step across backends */
	{
		uint32		seed;

		if (!pg_strong_random(&seed, sizeof(seed)))
			seed = (uint32) MyProcPid ^ (uint32) GetCurrentTimestamp();
		lua_getglobal(L, "math");
		lua_getfield(L, -1, "randomseed");
		lua_pushnumber(L, (lua_Number) seed);
		lua_call(L, 1, 0);
		lua_pop(L, 1);
	}
	lua_getglobal(L, "os");
	for (size_t i = 0; i < lengthof(unsafe_os); i++)
	{
		lua_pushnil(L);
		lua_setfield(L, -2, unsafe_os[i]);
	}
	lua_pop(L, 1);

	/* lua-cjson is opened here from its fixed path; scripts get no loadlib. */
	cjson_handle = dlopen(DLF_CJSON_PATH, RTLD_NOW);
	if (cjson_handle == NULL)
		return luaL_error(L, "could not load lua-cjson from \"%s\": %s", DLF_CJSON_PATH, dlerror());
	open_cjson = (lua_CFunction) dlsym(cjson_handle, "luaopen_cjson");
	if (open_cjson == NULL)
		return luaL_error(L, "lua-cjson at \"%s\" has no luaopen_cjson", DLF_CJSON_PATH);
	lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
	lua_pushcfunction(L, open_cjson);
	lua_pushliteral(L, "cjson");
	lua_call(L, 1, 1);
	lua_setfield(L, -2, "cjson");
	lua_newtable(L);
	dlf_open_capi(L);
	lua_setfield(L, -2, "dynamo_lua_fdw.capi");
	lua_pop(L, 1);

	/* package: preloads and the script directory only. */
	lua_getglobal(L, "package");
	lua_pushnil(L);
	lua_setfield(L, -2, "loadlib");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "path");
	lua_getfield(L, -1, "loaders");
	lua_createtable(L, 2, 0);
	lua_rawgeti(L, -2, 1);		/* the preload searcher */
	lua_rawseti(L, -2, 1);
	lua_pushcfunction(L, script_searcher);
	lua_rawseti(L, -2, 2);
	lua_setfield(L, -3, "loaders");
	lua_pop(L, 2);

	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, REG_SCRIPTS);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, REG_PERSISTENT);
	lua_pushcfunction(L, message_handler);
	msgh_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushcfunction(L, trampoline);
	trampoline_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

static int
panic_handler(lua_State *L)
{
	/* Only reachable through a bug in the boundary; end the backend, not the cluster. */
	elog(FATAL, "unprotected Lua error: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
	return 0;
}

bool
dlf_lua_exists(void)
{
	return dlf_L != NULL;
}

lua_State *
dlf_lua(void)
{
	lua_State  *L;
	int			status;

	if (dlf_L)
		return dlf_L;
	if (pending_error_context == NULL)
		pending_error_context = AllocSetContextCreate(TopMemoryContext, "dynamo_lua_fdw errors",
													  ALLOCSET_SMALL_SIZES);
	L = luaL_newstate();
	if (L != NULL)
	{
		luajit_alloc = lua_getallocf(L, &luajit_alloc_ud);
		lua_setallocf(L, dlf_alloc, NULL);
	}
	if (L == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a Lua state")));
	lua_atpanic(L, panic_handler);
	status = lua_cpcall(L, init_state, NULL);
	if (status != 0)
	{
		char	   *msg = pstrdup(lua_isstring(L, -1) ? lua_tostring(L, -1) : "out of memory");

		lua_close(L);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not initialize the Lua interpreter: %s", msg)));
	}
	dlf_L = L;
	return L;
}

/* Reload check, once per statement. */
static void
check_scripts(lua_State *L)
{
	TimestampTz stmt = GetCurrentStatementStartTimestamp();
	int			status;

	if (stmt == last_reload_check)
		return;
	last_reload_check = stmt;
	status = lua_cpcall(L, reload_if_changed, NULL);
	if (status != 0)
		report_lua_error(L, status, "reload");
}

static lua_State *
call_protected(const char *entry, int nargs, const DlfArg *args, int nresults, int *status)
{
	lua_State  *L = dlf_lua();
	TrampolineCall call = {entry, nargs, args, nresults};

	check_scripts(L);
	lua_settop(L, 0);
	MemoryContextReset(pending_error_context);
	pending_pg_error = NULL;
	lua_rawgeti(L, LUA_REGISTRYINDEX, msgh_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, trampoline_ref);
	lua_pushlightuserdata(L, &call);
	*status = lua_pcall(L, 1, nresults, 1);
	return L;
}

lua_State *
dlf_lua_call(const char *entry, int nargs, const DlfArg *args, int nresults)
{
	int			status;
	lua_State  *L = call_protected(entry, nargs, args, nresults, &status);

	/* A PostgreSQL error (cancel, timeout...) wins even if a script caught it. */
	if (pending_pg_error)
	{
		lua_settop(L, 0);
		rethrow_pending();
	}
	if (status != 0)
		report_lua_error(L, status, entry);
	lua_remove(L, 1);			/* the message handler; results are now 1..n */
	return L;
}

bool
dlf_lua_call_noerror(const char *entry, int nargs, const DlfArg *args)
{
	volatile bool ok = true;
	MemoryContext oldcontext = CurrentMemoryContext;

	PG_TRY();
	{
		lua_State  *L = dlf_lua_call(entry, nargs, args, 0);

		dlf_lua_done(L);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		ok = false;
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("dynamo_lua_fdw: %s failed: %s", entry, edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return ok;
}

void
dlf_lua_done(lua_State *L)
{
	lua_settop(L, 0);
}

/*
 * Keeps, in the array on top of the stack, the entries whose field "level"
 * is below level; the others are removed (the array is compacted in place).
 */
static void
keep_levels_below(lua_State *L, int level)
{
	int			len = (int) lua_objlen(L, -1);
	int			n = 0;

	for (int i = 1; i <= len; i++)
	{
		bool		keep;

		lua_rawgeti(L, -1, i);
		lua_getfield(L, -1, "level");
		keep = lua_tonumber(L, -1) < level;
		lua_pop(L, 1);
		if (keep)
			lua_rawseti(L, -2, ++n);
		else
			lua_pop(L, 1);
	}
	for (int i = n + 1; i <= len; i++)
	{
		lua_pushnil(L);
		lua_rawseti(L, -2, i);
	}
}

/*
 * Drops buffered writes without running any script, so that rolled-back
 * writes can never reach a later COMMIT even when a broken script made
 * Lua's own handler fail: at transaction end (level 0) the whole buffer and
 * the scan states (which hold the Kinesis records too); for a rolled-back
 * savepoint the entries whose level is at or above it, of the DynamoDB
 * buffer (writes.lua) and of the Kinesis one (kinesis/buffer.lua).
 */
static int
drop_writes(lua_State *L)
{
	int			level = *(int *) lua_touserdata(L, 1);

	lua_getfield(L, LUA_REGISTRYINDEX, REG_PERSISTENT);
	if (level == 0)
	{
		lua_newtable(L);
		lua_setfield(L, -2, "writes");
		lua_newtable(L);
		lua_setfield(L, -2, "states");
		return 0;
	}
	lua_getfield(L, -1, "writes");
	if (lua_istable(L, -1))
		keep_levels_below(L, level);
	lua_pop(L, 1);
	lua_getfield(L, -1, "states");
	if (lua_istable(L, -1))
	{
		lua_getfield(L, -1, "kinesis_buffer");
		if (lua_istable(L, -1))
		{
			lua_getfield(L, -1, "records");
			if (lua_istable(L, -1))
				keep_levels_below(L, level);
		}
	}
	return 0;
}

void
dlf_lua_drop_writes(int level)
{
	static int	drop_level;

	if (dlf_L == NULL)
		return;
	drop_level = level;
	lua_settop(dlf_L, 0);
	(void) lua_cpcall(dlf_L, drop_writes, &drop_level);
	lua_settop(dlf_L, 0);
}

/* ---------- reading results without allocating ---------- */

static void
wrong_result(const char *what, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("Lua entry point returned a bad %s", what),
			 errdetail("Expected %s.", expected)));
}

char *
dlf_result_string(lua_State *L, int idx, const char *what)
{
	size_t		len;
	const char *s;

	if (lua_isnil(L, idx))
		return NULL;
	if (lua_type(L, idx) != LUA_TSTRING)
		wrong_result(what, "a string");
	s = lua_tolstring(L, idx, &len);
	return pnstrdup(s, len);
}

double
dlf_result_number(lua_State *L, int idx, const char *what)
{
	if (lua_type(L, idx) != LUA_TNUMBER)
		wrong_result(what, "a number");
	return lua_tonumber(L, idx);
}

int
dlf_result_int(lua_State *L, int idx, const char *what)
{
	if (lua_type(L, idx) != LUA_TNUMBER)
		wrong_result(what, "an integer");
	return (int) lua_tointeger(L, idx);
}
