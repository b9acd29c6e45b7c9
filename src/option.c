/*
 * option.c
 *		The options dynamo_lua_fdw accepts, one table for all catalogs, and the
 *		validator that rejects anything else with a hint listing what is valid.
 */
#include "dynamo_lua_fdw.h"

#include "access/reloptions.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "catalog/pg_attribute.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "utils/builtins.h"

typedef enum OptionKind
{
	OPT_TEXT,
	OPT_BOOL,
	OPT_INT,
	OPT_URL,
	OPT_NAME,					/* a Lua module name under mappings/ or routers/ */
	OPT_WRITE_MODE,				/* batch, transaction or immediate */
	OPT_IN_FLIGHT				/* requests in flight at once: 1 to 32 */
} OptionKind;

typedef struct DlfOption
{
	const char *name;
	Oid			context;		/* catalog the option belongs to */
	OptionKind	kind;
	bool		superuser_only;
} DlfOption;

static const DlfOption valid_options[] = {
	{"region", ForeignServerRelationId, OPT_TEXT, false},
	{"endpoint", ForeignServerRelationId, OPT_URL, false},
	{"profile", ForeignServerRelationId, OPT_TEXT, false},
	{"max_retries", ForeignServerRelationId, OPT_INT, false},
	{"consistent_read", ForeignServerRelationId, OPT_BOOL, false},
	{"ca_file", ForeignServerRelationId, OPT_TEXT, true},
	{"request_timeout_ms", ForeignServerRelationId, OPT_INT, false},
	{"write_mode", ForeignServerRelationId, OPT_WRITE_MODE, false},
	{"write_concurrency", ForeignServerRelationId, OPT_IN_FLIGHT, false},
	{"max_scan_capacity", ForeignServerRelationId, OPT_INT, false},
	{"scan_segments", ForeignServerRelationId, OPT_IN_FLIGHT, false},
	{"regions", ForeignServerRelationId, OPT_TEXT, false},
	{"region_endpoints", ForeignServerRelationId, OPT_TEXT, false},
	{"router", ForeignServerRelationId, OPT_NAME, true},
	{"access_key_id", UserMappingRelationId, OPT_TEXT, false},
	{"secret_access_key", UserMappingRelationId, OPT_TEXT, false},
	{"session_token", UserMappingRelationId, OPT_TEXT, false},
	{"table", ForeignTableRelationId, OPT_TEXT, false},
	{"index", ForeignTableRelationId, OPT_TEXT, false},
	{"mapping", ForeignTableRelationId, OPT_NAME, true},
	{"consistent_read", ForeignTableRelationId, OPT_BOOL, false},
	{"readonly", ForeignTableRelationId, OPT_BOOL, false},
	{"truncatable", ForeignTableRelationId, OPT_BOOL, false},
	{"write_mode", ForeignTableRelationId, OPT_WRITE_MODE, false},
	{"write_concurrency", ForeignTableRelationId, OPT_IN_FLIGHT, false},
	{"max_scan_capacity", ForeignTableRelationId, OPT_INT, false},
	{"scan_segments", ForeignTableRelationId, OPT_IN_FLIGHT, false},
	{"stream", ForeignTableRelationId, OPT_TEXT, false},
	{"ordering", ForeignTableRelationId, OPT_TEXT, false},
	{"attribute", AttributeRelationId, OPT_TEXT, false},
	{"raw_item", AttributeRelationId, OPT_BOOL, false},
	{"format", AttributeRelationId, OPT_TEXT, false},
};

static const char *
context_name(Oid context)
{
	switch (context)
	{
		case ForeignDataWrapperRelationId:
			return "foreign-data wrapper";
		case ForeignServerRelationId:
			return "server";
		case UserMappingRelationId:
			return "user mapping";
		case ForeignTableRelationId:
			return "foreign table";
		default:
			return "column";
	}
}

static void
check_value(const DlfOption *opt, DefElem *def)
{
	const char *value = defGetString(def);

	switch (opt->kind)
	{
		case OPT_BOOL:
			(void) defGetBoolean(def);
			break;
		case OPT_INT:
			{
				char	   *end;
				long		v = strtol(value, &end, 10);

				if (*value == '\0' || *end != '\0' || v < 0 || v > INT_MAX)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
							 errhint("The value must be a non-negative integer.")));
				break;
			}
		case OPT_IN_FLIGHT:
			{
				char	   *end;
				long		v = strtol(value, &end, 10);

				if (*value == '\0' || *end != '\0' || v < 1 || v > 32)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
							 errhint("The value must be an integer from 1 to 32 (requests in flight at once).")));
				break;
			}
		case OPT_URL:
			if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
						 errhint("Give a URL such as https://dynamodb.eu-west-1.amazonaws.com or http://localhost:8000.")));
			break;
		case OPT_NAME:
			for (const char *p = value; *p; p++)
				if (!(isalnum((unsigned char) *p) || *p == '_'))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
							 errhint("Name a script dynamo_lua_fdw/%s/<name>.lua under dynamo_lua_fdw.script_path, using letters, digits and underscores.",
									 strcmp(opt->name, "router") == 0 ? "routers" : "mappings")));
			break;
		case OPT_WRITE_MODE:
			if (strcmp(value, "batch") != 0 && strcmp(value, "transaction") != 0 &&
				strcmp(value, "immediate") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
						 errhint("Valid values are batch (BatchWriteItem at commit), transaction "
								 "(TransactWriteItems at commit, all or nothing) and immediate "
								 "(sent when each statement ends).")));
			break;
		case OPT_TEXT:
			break;
	}
	if (opt->superuser_only && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may set option \"%s\"", opt->name)));
}

PG_FUNCTION_INFO_V1(dynamo_lua_fdw_validator);

Datum
dynamo_lua_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			context = PG_GETARG_OID(1);
	ListCell   *cell;

	foreach(cell, options)
	{
		DefElem    *def = lfirst(cell);
		const DlfOption *found = NULL;

		for (size_t i = 0; i < lengthof(valid_options); i++)
			if (valid_options[i].context == context && strcmp(valid_options[i].name, def->defname) == 0)
				found = &valid_options[i];
		if (found == NULL)
		{
			StringInfoData names;

			initStringInfo(&names);
			for (size_t i = 0; i < lengthof(valid_options); i++)
				if (valid_options[i].context == context)
					appendStringInfo(&names, "%s%s", names.len ? ", " : "", valid_options[i].name);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" for a dynamo_lua_fdw %s", def->defname, context_name(context)),
					 names.len > 0
					 ? errhint("Valid options in this context are: %s", names.data)
					 : errhint("There are no valid options in this context.")));
		}
		check_value(found, def);
	}
	PG_RETURN_VOID();
}

/* The value of option name in a List of DefElem, or NULL. */
const char *
dlf_option_value(List *options, const char *name)
{
	ListCell   *cell;

	foreach(cell, options)
	{
		DefElem    *def = lfirst(cell);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}
