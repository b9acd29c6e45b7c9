/* convert.h: values between Lua and PostgreSQL, as text. */
#ifndef DLF_CONVERT_H
#define DLF_CONVERT_H

#include "access/tupdesc.h"
#include "fmgr.h"

typedef struct DlfAttConv
{
	bool		dropped;
	bool		is_text;
	Oid			iso_datetime;	/* date/timestamp type written as ISO 8601, or InvalidOid */
	int32		typmod;
	Oid			ioparam;
	FmgrInfo	input;
	FmgrInfo	output;
} DlfAttConv;

typedef struct DlfConverter
{
	TupleDesc	tupdesc;
	int			natts;
	DlfAttConv *atts;
	const char *where;			/* the item being converted, for error context */
} DlfConverter;

extern DlfConverter *dlf_converter_create(TupleDesc tupdesc);
extern void dlf_row_from_lua(DlfConverter *conv, lua_State *L, int idx, int row,
							 Datum *values, bool *nulls);
extern void dlf_row_to_text(DlfConverter *conv, Datum *values, bool *nulls,
							const char **strs, size_t *lens);

#endif
