# dynamo_lua_fdw — PGXS build, plus the README's two commands: `make demo` and `make test`.

MODULE_big = dynamo_lua_fdw
OBJS = src/fdw.o src/option.o src/convert.o src/xact.o src/lua_host.o src/lua_api.o \
       src/lua_crypto.o src/http.o
EXTENSION = dynamo_lua_fdw
DATA = sql/dynamo_lua_fdw--0.1.sql
PGFILEDESC = "dynamo_lua_fdw - foreign data wrapper for Amazon DynamoDB"

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
# lua-cjson is opened by the C host from this fixed path (scripts get no loadlib).
CJSON_PATH ?= $(firstword $(wildcard /usr/lib/*/lua/5.1/cjson.so) /usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so)
LUA_CFLAGS = $(shell pkg-config --cflags luajit 2>/dev/null)
LUA_LIBS = $(shell pkg-config --libs luajit 2>/dev/null)
PG_CPPFLAGS = $(LUA_CFLAGS) -DDLF_CJSON_PATH='"$(CJSON_PATH)"' -Wextra -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = $(LUA_LIBS) -lcurl -lcrypto

LUA_FILES = $(shell find lua -name '*.lua' | sort)

# Without PGXS yet (a fresh machine), only deps/demo/test work; they install it first.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
SCRIPT_DIR = $(DESTDIR)$(datadir)/dynamo_lua_fdw
install: install-lua
else
all:
	@echo "PostgreSQL 15 server headers are missing: run 'make deps' (or 'make test'/'make demo')."; exit 1
endif

.PHONY: install-lua deps demo test lua-test crypto-module docker-test bench

# Lua scripts go to $(sharedir)/dynamo_lua_fdw/, the default dynamo_lua_fdw.script_path.
install-lua:
	@for f in $(LUA_FILES); do \
		d=$(SCRIPT_DIR)/$$(dirname $${f#lua/}); \
		$(MKDIR_P) "$$d" && $(INSTALL_DATA) "$$f" "$$d/" || exit 1; \
	done

deps:
	@t/bin/deps.sh

# The Lua unit tests load the crypto C file compiled stand-alone.
t/lua/build/dlf_crypto.so: src/lua_crypto.c src/lua_crypto.h
	@mkdir -p t/lua/build
	gcc -shared -fPIC -O2 -Wall -Wextra -DDLF_STANDALONE_CRYPTO $(LUA_CFLAGS) $< -o $@ -lcrypto

lua-test: t/lua/build/dlf_crypto.so
	luajit t/lua/run.lua

demo: deps
	@$(MAKE) -s --no-print-directory all install
	@t/bin/demo.sh

test: deps
	@$(MAKE) -s --no-print-directory all install t/lua/build/dlf_crypto.so
	@t/bin/run-tests.sh

# Builds docker/Dockerfile with buildah (no Docker daemon needed) and checks the image; as root.
# make test runs it too, and says SKIP when buildah cannot work here. See docs/CONTAINER.md.
docker-test: deps
	@docker/test.sh

# Side by side with the AWS SDK for JavaScript v3 against DynamoDB Local; writes docs/BENCHMARKS.md.
bench: deps
	@$(MAKE) -s --no-print-directory all install
	@bench/run.sh
