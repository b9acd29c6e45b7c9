/*
 * convert.c
 *		Values between Lua and PostgreSQL.  Everything crosses as text: Lua
 *		hands strings to the column types' input functions and receives the
 *		output functions' text, so numbers never pass through a double.
 */
#include "dynamo_lua_fdw.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#include "convert.h"

DlfConverter *
dlf_converter_create(TupleDesc tupdesc)
{
	DlfConverter *conv = palloc0(sizeof(DlfConverter));

	conv->tupdesc = tupdesc;
	conv->natts = tupdesc->natts;
	conv->atts = palloc0(sizeof(DlfAttConv) * Max(conv->natts, 1));
	for (int i = 0; i < conv->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		DlfAttConv *a = &conv->atts[i];
		Oid			func;
		bool		varlena;

		a->dropped = att->attisdropped;
		if (a->dropped)
			continue;
		a->typmod = att->atttypmod;
		/* text needs no parsing; the checks below are all it gets */
		a->is_text = (att->atttypid == TEXTOID);
		/* dates and timestamps go to Lua as ISO 8601, whatever DateStyle says */
		a->iso_datetime = (att->atttypid == DATEOID || att->atttypid == TIMESTAMPOID ||
						   att->atttypid == TIMESTAMPTZOID) ? att->atttypid : InvalidOid;
		getTypeInputInfo(att->atttypid, &func, &a->ioparam);
		fmgr_info(func, &a->input);
		getTypeOutputInfo(att->atttypid, &func, &varlena);
		fmgr_info(func, &a->output);
	}
	return conv;
}

/* Datum for one Lua string, through the column's input function. */
static Datum
datum_from_string(DlfAttConv *a, const char *s, size_t len, const char *attname)
{
	if (strlen(s) != len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("value for column \"%s\" contains a NUL character", attname),
				 errhint("PostgreSQL text cannot store U+0000; use a json column, where it is escaped.")));
	if (a->is_text)
	{
		(void) pg_verifymbstr(s, len, false);
		return PointerGetDatum(cstring_to_text_with_len(s, len));
	}
	return InputFunctionCall(&a->input, (char *) s, a->ioparam, a->typmod);
}

typedef struct ConvertContext
{
	DlfConverter *conv;
	int			attnum;
} ConvertContext;

static void
convert_error_context(void *arg)
{
	ConvertContext *cc = arg;

	errcontext("column \"%s\" of DynamoDB item %s",
			   NameStr(TupleDescAttr(cc->conv->tupdesc, cc->attnum)->attname),
			   cc->conv->where ? cc->conv->where : "being written");
}

/*
 * Reads row `row` (0-based) of the flat array at stack index idx, whose rows
 * are natts strings or nils each, into values/nulls.
 */
void
dlf_row_from_lua(DlfConverter *conv, lua_State *L, int idx, int row, Datum *values, bool *nulls)
{
	ConvertContext cc = {conv, 0};
	ErrorContextCallback callback = {error_context_stack, convert_error_context, &cc};

	error_context_stack = &callback;
	for (int i = 0; i < conv->natts; i++)
	{
		DlfAttConv *a = &conv->atts[i];
		size_t		len;
		const char *s;

		values[i] = (Datum) 0;
		nulls[i] = true;
		lua_rawgeti(L, idx, row * conv->natts + i + 1);
		if (!lua_isnil(L, -1) && !a->dropped)
		{
			if (lua_type(L, -1) != LUA_TSTRING)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("Lua returned a %s for column \"%s\"; expected a string",
								lua_typename(L, lua_type(L, -1)),
								NameStr(TupleDescAttr(conv->tupdesc, i)->attname))));
			s = lua_tolstring(L, -1, &len);
			cc.attnum = i;
			values[i] = datum_from_string(a, s, len, NameStr(TupleDescAttr(conv->tupdesc, i)->attname));
			nulls[i] = false;
		}
		lua_pop(L, 1);
	}
	error_context_stack = callback.previous;
}

/* Text of each value (NULL for SQL NULL), for handing a row to Lua. */
void
dlf_row_to_text(DlfConverter *conv, Datum *values, bool *nulls, const char **strs, size_t *lens)
{
	for (int i = 0; i < conv->natts; i++)
	{
		strs[i] = NULL;
		lens[i] = 0;
		if (nulls[i] || conv->atts[i].dropped)
			continue;
		if (OidIsValid(conv->atts[i].iso_datetime))
		{
			char		buf[MAXDATELEN + 1];

			JsonEncodeDateTime(buf, values[i], conv->atts[i].iso_datetime, NULL);
			strs[i] = pstrdup(buf);
		}
		else
			strs[i] = OutputFunctionCall(&conv->atts[i].output, values[i]);
		lens[i] = strlen(strs[i]);
	}
}
