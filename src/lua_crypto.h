/* lua_crypto.h: hashing and encoding for Lua, free of PostgreSQL. */
#ifndef DLF_LUA_CRYPTO_H
#define DLF_LUA_CRYPTO_H

#include <lua.h>

extern void dlf_register_crypto(lua_State *L);

#endif
