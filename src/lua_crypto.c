/*
 * lua_crypto.c
 *		Hashing and encoding functions for Lua: sha256, hmac_sha256, hex,
 *		base64 and crc32.
 *
 * Nothing here touches PostgreSQL, so the same file is compiled into the
 * extension and into a stand-alone Lua module that the Lua unit tests load
 * under plain luajit (see t/lua/run.lua).  None of these functions can raise
 * a PostgreSQL error; bad input is reported as (nil, message).
 */
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "lua_crypto.h"

static int
l_sha256(lua_State *L)
{
	size_t		len;
	const char *data = luaL_checklstring(L, 1, &len);
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		return luaL_error(L, "sha256 failed");
	lua_pushlstring(L, (const char *) md, mdlen);
	return 1;
}

static int
l_hmac_sha256(lua_State *L)
{
	size_t		keylen,
				len;
	const char *key = luaL_checklstring(L, 1, &keylen);
	const char *data = luaL_checklstring(L, 2, &len);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) data, len, md, &mdlen))
		return luaL_error(L, "hmac_sha256 failed");
	lua_pushlstring(L, (const char *) md, mdlen);
	return 1;
}

static int
l_hex(lua_State *L)
{
	static const char digits[] = "0123456789abcdef";
	size_t		len;
	const unsigned char *s = (const unsigned char *) luaL_checklstring(L, 1, &len);
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (size_t i = 0; i < len; i++)
	{
		luaL_addchar(&b, digits[s[i] >> 4]);
		luaL_addchar(&b, digits[s[i] & 15]);
	}
	luaL_pushresult(&b);
	return 1;
}

static const char b64chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
l_base64_encode(lua_State *L)
{
	size_t		len;
	const unsigned char *s = (const unsigned char *) luaL_checklstring(L, 1, &len);
	luaL_Buffer b;
	size_t		i;

	luaL_buffinit(L, &b);
	for (i = 0; i + 2 < len; i += 3)
	{
		uint32_t	v = (s[i] << 16) | (s[i + 1] << 8) | s[i + 2];

		luaL_addchar(&b, b64chars[(v >> 18) & 63]);
		luaL_addchar(&b, b64chars[(v >> 12) & 63]);
		luaL_addchar(&b, b64chars[(v >> 6) & 63]);
		luaL_addchar(&b, b64chars[v & 63]);
	}
	if (i < len)
	{
		uint32_t	v = s[i] << 16;

		if (i + 1 < len)
			v |= s[i + 1] << 8;
		luaL_addchar(&b, b64chars[(v >> 18) & 63]);
		luaL_addchar(&b, b64chars[(v >> 12) & 63]);
		luaL_addchar(&b, i + 1 < len ? b64chars[(v >> 6) & 63] : '=');
		luaL_addchar(&b, '=');
	}
	luaL_pushresult(&b);
	return 1;
}

static int
b64value(unsigned char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;

	return p ? (int) (p - b64chars) : -1;
}

/* Strict RFC 4648 decoding: padded, no white space; (nil, message) otherwise. */
static int
l_base64_decode(lua_State *L)
{
	size_t		len;
	const unsigned char *s = (const unsigned char *) luaL_checklstring(L, 1, &len);
	luaL_Buffer b;

	if (len % 4 != 0)
	{
		lua_pushnil(L);
		lua_pushliteral(L, "base64 length is not a multiple of 4");
		return 2;
	}
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < len; i += 4)
	{
		int			v[4];
		int			pad = 0;

		for (int j = 0; j < 4; j++)
		{
			if (s[i + j] == '=' && i + 4 == len && j >= 2)
			{
				v[j] = 0;
				pad++;
			}
			else if (pad > 0 || (v[j] = b64value(s[i + j])) < 0)
			{
				lua_pushnil(L);
				lua_pushliteral(L, "invalid base64 character");
				return 2;
			}
		}
		luaL_addchar(&b, (char) ((v[0] << 2) | (v[1] >> 4)));
		if (pad < 2)
			luaL_addchar(&b, (char) (((v[1] & 15) << 4) | (v[2] >> 2)));
		if (pad < 1)
			luaL_addchar(&b, (char) (((v[2] & 3) << 6) | v[3]));
	}
	luaL_pushresult(&b);
	return 1;
}

/* CRC-32 (IEEE 802.3, as zlib), the checksum DynamoDB sends in x-amz-crc32. */
static int
l_crc32(lua_State *L)
{
	static uint32_t table[256];
	static int	ready = 0;
	size_t		len;
	const unsigned char *s = (const unsigned char *) luaL_checklstring(L, 1, &len);
	uint32_t	crc = 0xFFFFFFFFu;

	if (!ready)
	{
		for (uint32_t i = 0; i < 256; i++)
		{
			uint32_t	c = i;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		ready = 1;
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ s[i]) & 0xFF] ^ (crc >> 8);
	lua_pushnumber(L, (lua_Number) (crc ^ 0xFFFFFFFFu));
	return 1;
}

/* random_bytes(n) -> n bytes from OpenSSL's CSPRNG (request tokens must differ between backends) */
static int
l_random_bytes(lua_State *L)
{
	int			n = (int) luaL_checkinteger(L, 1);
	unsigned char buf[256];

	if (n < 1 || n > (int) sizeof(buf))
		return luaL_error(L, "random_bytes: between 1 and %d bytes", (int) sizeof(buf));
	if (RAND_bytes(buf, n) != 1)
		return luaL_error(L, "random_bytes: OpenSSL has no randomness");
	lua_pushlstring(L, (const char *) buf, n);
	return 1;
}

static const luaL_Reg crypto_funcs[] = {
	{"random_bytes", l_random_bytes},
	{"sha256", l_sha256},
	{"hmac_sha256", l_hmac_sha256},
	{"hex", l_hex},
	{"base64_encode", l_base64_encode},
	{"base64_decode", l_base64_decode},
	{"crc32", l_crc32},
	{NULL, NULL}
};

/* Adds the functions to the table on top of the stack. */
void
dlf_register_crypto(lua_State *L)
{
	luaL_register(L, NULL, crypto_funcs);
}

#ifdef DLF_STANDALONE_CRYPTO
/* Entry point of the stand-alone module used by the Lua unit tests. */
int			luaopen_dlf_crypto(lua_State *L);

int
luaopen_dlf_crypto(lua_State *L)
{
	lua_newtable(L);
	dlf_register_crypto(L);
	return 1;
}
#endif
