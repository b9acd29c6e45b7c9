/*
 * fdw.c
 *		The FdwRoutine callbacks.  Each turns planner or executor structures
 *		into plain values for a Lua entry point (init.lua) and turns the answer
 *		back: a relation is described once as JSON text, rows come back one
 *		page at a time as a flat array of strings.
 */
#include "dynamo_lua_fdw.h"

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/cost.h"
#include "port/atomics.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "convert.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Planner state of one foreign relation, kept in baserel->fdw_private. */
typedef struct DlfRelInfo
{
	double		rows;
	double		startup_cost;
	double		total_cost;
	char	   *plan_text;		/* the Lua plan, as JSON; stored in the plan */
	char	   *local_flags;	/* per baserestrictinfo entry: '1' = check in PostgreSQL */
	char	   *order_column;	/* column a Query can return rows ordered by, or NULL */
	List	   *clauses;		/* the RestrictInfos Lua was shown, in order */
	char	   *param_column;	/* column whose equality to an outer value makes a Query */
	double		param_rows;		/* ... and that Query's estimates */
	double		param_startup_cost;
	double		param_total_cost;
	List	   *param_candidates;	/* expressions quals compare against */
	List	   *fdw_exprs;		/* those the Lua plan uses, in its order */
	int			parallel_segments;	/* a Scan that parallel workers may share, in segments */
} DlfRelInfo;

/* fdw_private of a ForeignScan */
enum DlfScanPrivate
{
	DlfScanPrivatePlan,			/* String: the Lua plan */
	DlfScanPrivateDirection,	/* String: "asc", "desc" or "" (the order rows must come in) */
	DlfScanPrivateSegments		/* Integer: segments of a parallel Scan, 0 when not parallel */
};

/*
 * Shared by the processes of a parallel Scan: each claims the next segment
 * (Segment/TotalSegments of DynamoDB's parallel scan) until none is left.
 */
typedef struct DlfParallelScan
{
	pg_atomic_uint32 next_segment;
} DlfParallelScan;

static bool dlf_pushdown = true;
static int	dlf_max_scan_capacity = 0;

typedef struct DlfScanState
{
	char	   *plan_text;
	char	   *direction;
	Oid			relid;
	Oid			userid;
	List	   *param_states;
	int			handle;			/* Lua scan state; 0 before the first fetch */
	bool		restart;
	bool		eof;
	DlfConverter *conv;
	MemoryContext batch_context;
	HeapTuple  *tuples;
	int			ntuples;
	int			next;
	int			segments;		/* of a parallel Scan, else 0 */
	int			segment;		/* the one this process reads, -1 before the first claim */
	DlfParallelScan *shared;	/* NULL when run without parallel workers: then local_next */
	uint32		local_next;
} DlfScanState;

typedef struct DlfModifyState
{
	int			handle;
	DlfConverter *conv;
	AttrNumber	wholerow_attno;
	MemoryContext temp_context;
} DlfModifyState;

/* ---------- describing a relation to Lua ---------- */

static void
append_options_json(StringInfo buf, List *options)
{
	ListCell   *lc;
	bool		first = true;

	appendStringInfoChar(buf, '{');
	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		escape_json(buf, def->defname);
		appendStringInfoChar(buf, ':');
		escape_json(buf, defGetString(def));
	}
	appendStringInfoChar(buf, '}');
}

/*
 * A server's options, plus "_ambient_credentials": "false" when a non-superuser
 * owns it: such a server (which its owner may point at any endpoint) must not
 * sign with the PostgreSQL server's own credentials.  No real option can have
 * that name: the validator refuses unknown names.
 */
static void
append_server_options_json(StringInfo buf, ForeignServer *server)
{
	append_options_json(buf, server->options);
	if (!superuser_arg(server->owner))
	{
		buf->len--;				/* reopen the object */
		appendStringInfo(buf, "%s\"_ambient_credentials\":\"false\"}",
						 buf->data[buf->len - 1] == '{' ? "" : ",");
	}
}

/* The column a qual side refers to, or NULL. */
static Var *
qual_var(Node *node, Index relid)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node && IsA(node, Var) && ((Var *) node)->varno == relid &&
		((Var *) node)->varlevelsup == 0 && ((Var *) node)->varattno > 0)
		return (Var *) node;
	return NULL;
}

/*
 * A column, or a text path into a json/jsonb column (col->'a'->>'b',
 * col #>> '{a,b}'), as a qual side: the Var, with *path the keys (NIL for
 * the column itself).  NULL when the side is anything else.
 */
static Var *
qual_side(Node *node, Index relid, List **path)
{
	static const char *const one_key[] = {"json_object_field", "json_object_field_text",
	"jsonb_object_field", "jsonb_object_field_text"};
	static const char *const keys[] = {"json_extract_path", "json_extract_path_text",
	"jsonb_extract_path", "jsonb_extract_path_text"};
	OpExpr	   *op;
	Const	   *c;
	char	   *func;
	Var		   *var;

	*path = NIL;
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node == NULL || !IsA(node, OpExpr))
		return qual_var(node, relid);
	op = (OpExpr *) node;
	if (list_length(op->args) != 2 || !IsA(lsecond(op->args), Const) || ((Const *) lsecond(op->args))->constisnull)
		return NULL;
	c = lsecond(op->args);
	func = get_func_name(op->opfuncid);
	if (func == NULL || (var = qual_side(linitial(op->args), relid, path)) == NULL)
		return NULL;
	for (int i = 0; i < lengthof(one_key); i++)
		if (strcmp(func, one_key[i]) == 0 && c->consttype == TEXTOID)
		{
			*path = lappend(*path, TextDatumGetCString(c->constvalue));
			return var;
		}
	for (int i = 0; i < lengthof(keys); i++)
		if (strcmp(func, keys[i]) == 0 && c->consttype == TEXTARRAYOID)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(c->constvalue), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			for (int k = 0; k < n; k++)
			{
				if (nulls[k])
					return NULL;
				*path = lappend(*path, TextDatumGetCString(elems[k]));
			}
			return var;
		}
	return NULL;
}

/*
 * A qual's other side can be evaluated once per scan: a constant, a parameter,
 * or an expression of other relations' columns (in a parameterized path).
 */
static bool
is_scan_constant(PlannerInfo *root, Node *node, Index relid)
{
	return node && !bms_is_member(relid, pull_varnos(root, node)) &&
		!contain_volatile_functions(node) && !contain_subplans(node);
}

static bool
is_builtin_operator(Oid opno)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	bool		builtin;

	if (!HeapTupleIsValid(tup))
		return false;
	builtin = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace == PG_CATALOG_NAMESPACE;
	ReleaseSysCache(tup);
	return builtin;
}

static void
append_const_json(StringInfo buf, Const *c)
{
	Oid			out;
	bool		varlena;

	if (c->constisnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	getTypeOutputInfo(c->consttype, &out, &varlena);
	escape_json(buf, OidOutputFunctionCall(out, c->constvalue));
}

/*
 * One qual as JSON, or nothing when its shape is not one Lua can use.
 * Shapes: column OP value, column OP ANY(array constant), column IS [NOT] NULL.
 */
static void
append_qual_json(StringInfo buf, int index, Expr *clause, PlannerInfo *root, RelOptInfo *baserel,
				 Relation rel, DlfRelInfo *info)
{
	Var		   *var = NULL;
	Node	   *other = NULL;
	Oid			opno = InvalidOid;
	const char *op = NULL;
	Oid			collation = InvalidOid;
	bool		any = false;
	const char *bool_value = NULL;
	List	   *path = NIL;
	ListCell   *lc;

	if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *e = (OpExpr *) clause;

		opno = e->opno;
		if ((var = qual_side(linitial(e->args), baserel->relid, &path)) != NULL)
			other = lsecond(e->args);
		else if ((var = qual_side(lsecond(e->args), baserel->relid, &path)) != NULL)
		{
			other = linitial(e->args);
			opno = get_commutator(opno);
		}
		collation = e->inputcollid;
	}
	else if (IsA(clause, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) clause)->useOr)
	{
		ScalarArrayOpExpr *e = (ScalarArrayOpExpr *) clause;

		opno = e->opno;
		var = qual_side(linitial(e->args), baserel->relid, &path);
		other = lsecond(e->args);
		collation = e->inputcollid;
		any = true;
	}
	else if (IsA(clause, NullTest) && !((NullTest *) clause)->argisrow)
	{
		NullTest   *t = (NullTest *) clause;

		var = qual_side((Node *) t->arg, baserel->relid, &path);
		op = t->nulltesttype == IS_NULL ? "IS NULL" : "IS NOT NULL";
	}
	else if ((var = qual_var((Node *) clause, baserel->relid)) != NULL ||
			 (is_notclause(clause) && (var = qual_var((Node *) get_notclausearg(clause), baserel->relid)) != NULL))
	{
		/* a boolean column alone (PostgreSQL's form of "flag = true") or NOT it */
		if (var->vartype != BOOLOID)
			return;
		op = "=";
		bool_value = is_notclause(clause) ? "false" : "true";
		opno = BooleanEqualOperator;
	}
	if (var == NULL)
		return;
	if (op == NULL)
	{
		if (!OidIsValid(opno) || !is_builtin_operator(opno) || !is_scan_constant(root, other, baserel->relid))
			return;
		op = get_opname(opno);
	}

	appendStringInfo(buf, "%s{\"index\":%d,\"column\":", buf->data[buf->len - 1] == '[' ? "" : ",", index);
	escape_json(buf, NameStr(TupleDescAttr(RelationGetDescr(rel), var->varattno - 1)->attname));
	if (path != NIL)
	{
		appendStringInfoString(buf, ",\"path\":[");
		foreach(lc, path)
		{
			if (foreach_current_index(lc) > 0)
				appendStringInfoChar(buf, ',');
			escape_json(buf, lfirst(lc));
		}
		appendStringInfoChar(buf, ']');
	}
	appendStringInfoString(buf, ",\"op\":");
	escape_json(buf, any ? psprintf("%s ANY", op) : op);
	if (OidIsValid(opno))
	{
		appendStringInfoString(buf, ",\"func\":");
		escape_json(buf, get_func_name(get_opcode(opno)));
	}
	if (OidIsValid(collation))
	{
		char	   *collname = get_collation_name(collation);

		appendStringInfoString(buf, ",\"collation\":");
		escape_json(buf, collname ? collname : "");
		/* equality under a non-deterministic collation is not byte equality */
		appendStringInfo(buf, ",\"deterministic\":%s",
						 get_collation_isdeterministic(collation) ? "true" : "false");
	}
	if (bool_value)
		appendStringInfo(buf, ",\"value\":\"%s\"", bool_value);
	else if (other && IsA(other, Const) && any && !((Const *) other)->constisnull)
	{
		Const	   *c = (Const *) other;
		ArrayType  *arr = DatumGetArrayTypeP(c->constvalue);
		Oid			elemtype = ARR_ELEMTYPE(arr);
		int16		elmlen;
		bool		elmbyval;
		char		elmalign;
		Datum	   *elems;
		bool	   *elemnulls;
		int			nelems;

		get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
		deconstruct_array(arr, elemtype, elmlen, elmbyval, elmalign, &elems, &elemnulls, &nelems);
		appendStringInfoString(buf, ",\"values\":[");
		for (int i = 0; i < nelems; i++)
		{
			if (i > 0)
				appendStringInfoChar(buf, ',');
			append_const_json(buf, makeConst(elemtype, -1, InvalidOid, elmlen, elems[i], elemnulls[i], elmbyval));
		}
		appendStringInfoChar(buf, ']');
	}
	else if (other && IsA(other, Const) && !any)
	{
		appendStringInfoString(buf, ",\"value\":");
		append_const_json(buf, (Const *) other);
	}
	else if (other)
	{
		Node	   *stripped = other;

		while (IsA(stripped, RelabelType))
			stripped = (Node *) ((RelabelType *) stripped)->arg;
		info->param_candidates = lappend(info->param_candidates, other);
		/* EXPLAIN names a query parameter $n; other run-time values (join keys) are "?" */
		if (IsA(stripped, Param) && ((Param *) stripped)->paramkind == PARAM_EXTERN)
			appendStringInfo(buf, ",\"param\":%d,\"label\":\"$%d\"", list_length(info->param_candidates),
							 ((Param *) stripped)->paramid);
		else
			appendStringInfo(buf, ",\"param\":%d,\"label\":\"?\"", list_length(info->param_candidates));
	}
	appendStringInfoChar(buf, '}');
}

/*
 * A qual as JSON (append_qual_json), or an OR/AND of such quals as
 * {"index":, "op": "OR"|"AND", "args": [...]}; nothing when any part is not
 * one Lua can use (dropping an arm of an OR would select fewer rows).
 */
static void
append_clause_json(StringInfo buf, int index, Expr *clause, PlannerInfo *root, RelOptInfo *baserel,
				   Relation rel, DlfRelInfo *info)
{
	int			start = buf->len;
	ListCell   *lc;

	if (!is_orclause(clause) && !is_andclause(clause))
	{
		append_qual_json(buf, index, clause, root, baserel, rel, info);
		return;
	}
	appendStringInfo(buf, "%s{\"index\":%d,\"op\":\"%s\",\"args\":[",
					 buf->data[buf->len - 1] == '[' ? "" : ",", index, is_orclause(clause) ? "OR" : "AND");
	foreach(lc, ((BoolExpr *) clause)->args)
	{
		int			before = buf->len;

		append_clause_json(buf, 0, lfirst(lc), root, baserel, rel, info);
		if (buf->len == before)
		{
			buf->len = start;
			buf->data[start] = '\0';
			return;
		}
	}
	appendStringInfoString(buf, "]}");
}

/*
 * "needed": the attribute numbers the query reads (output and quals PostgreSQL
 * checks), or "needed_all" when it needs whole rows (UPDATE, DELETE, row values).
 */
static void
append_needed_columns(StringInfo buf, RelOptInfo *baserel, List *clauses)
{
	Bitmapset  *attrs = NULL;
	ListCell   *lc;
	int			x = -1;
	bool		first = true;

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	foreach(lc, clauses)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, baserel->relid, &attrs);
	if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs))
	{
		appendStringInfoString(buf, ",\"needed_all\":true");
		return;
	}
	appendStringInfoString(buf, ",\"needed\":[");
	while ((x = bms_next_member(attrs, x)) >= 0)
	{
		AttrNumber	attno = x + FirstLowInvalidHeapAttributeNumber;

		if (attno <= 0)
			continue;			/* system columns: nothing to fetch */
		appendStringInfo(buf, "%s%d", first ? "" : ",", attno);
		first = false;
	}
	appendStringInfoChar(buf, ']');
}

/*
 * "output": the attribute numbers the scan returns (none for count(*)), so
 * Lua knows whether it must return values at all once its quals are exact.
 */
static void
append_output_columns(StringInfo buf, RelOptInfo *baserel)
{
	Bitmapset  *attrs = NULL;
	int			x = -1;
	bool		first = true;

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	appendStringInfoString(buf, ",\"output\":[");
	while ((x = bms_next_member(attrs, x)) >= 0)
	{
		appendStringInfo(buf, "%s%d", first ? "" : ",", x + FirstLowInvalidHeapAttributeNumber);
		first = false;
	}
	appendStringInfoChar(buf, ']');
}

/*
 * "limited" when the query has a LIMIT; "limit": LIMIT + OFFSET as constants, when this scan's rows are the query's
 * rows (one relation; no grouping, aggregates, DISTINCT, window functions or
 * set-returning functions).  "ordered": whether the query also has an ORDER
 * BY, which only a scan in that order may serve with a limited page.  Lua
 * uses it as DynamoDB's page size, so a wrong guess costs requests, never rows.
 */
static void
append_query_limit(StringInfo buf, PlannerInfo *root, RelOptInfo *baserel)
{
	Query	   *parse = root->parse;
	int64		limit = 0;

	/* any LIMIT: a scan does not read ahead (prefetch) what may never be wanted */
	if (parse->limitCount != NULL)
		appendStringInfoString(buf, ",\"limited\":true");
	if (parse->limitCount == NULL || !IsA(parse->limitCount, Const) ||
		((Const *) parse->limitCount)->constisnull || parse->limitOption != LIMIT_OPTION_COUNT)
		return;
	if (parse->groupClause || parse->groupingSets || parse->hasAggs || parse->hasWindowFuncs ||
		parse->distinctClause || parse->hasTargetSRFs || root->hasHavingQual || parse->setOperations ||
		baserel->reloptkind != RELOPT_BASEREL || bms_membership(root->all_baserels) != BMS_SINGLETON)
		return;
	limit = DatumGetInt64(((Const *) parse->limitCount)->constvalue);
	if (parse->limitOffset)
	{
		if (!IsA(parse->limitOffset, Const))
			return;
		if (!((Const *) parse->limitOffset)->constisnull)
			limit += DatumGetInt64(((Const *) parse->limitOffset)->constvalue);
	}
	if (limit > 0 && limit <= INT_MAX)
		appendStringInfo(buf, ",\"limit\":" INT64_FORMAT ",\"ordered\":%s", limit,
						 root->query_pathkeys != NIL ? "true" : "false");
}

/*
 * Options of the user mapping for userid (or PUBLIC).  Unlike GetUserMapping(),
 * no mapping is not an error: credentials may come from the environment.
 */
static List *
user_mapping_options(Oid userid, Oid serverid)
{
	Oid			users[2] = {userid, InvalidOid};

	for (int i = 0; i < 2; i++)
	{
		HeapTuple	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(users[i]),
										 ObjectIdGetDatum(serverid));

		if (HeapTupleIsValid(tp))
		{
			bool		isnull;
			Datum		d = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp, Anum_pg_user_mapping_umoptions, &isnull);
			List	   *options = isnull ? NIL : untransformRelOptions(d);

			ReleaseSysCache(tp);
			return options;
		}
	}
	return NIL;
}

/*
 * The relation as JSON for Lua: options of server, table, user mapping and
 * columns, and (when planning) the quals.  Secrets of the user mapping are in
 * it, so it is never stored in a plan or printed.
 */
static char *
describe_relation(Oid relid, Oid userid, PlannerInfo *root, RelOptInfo *baserel, DlfRelInfo *info,
				  const char *operation)
{
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	List	   *user_options = user_mapping_options(userid, table->serverid);
	Relation	rel = table_open(relid, NoLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"relid\":%u,\"relname\":", relid);
	escape_json(&buf, RelationGetRelationName(rel));
	appendStringInfoString(&buf, ",\"schema\":");
	escape_json(&buf, get_namespace_name(RelationGetNamespace(rel)));
	appendStringInfoString(&buf, ",\"server\":{\"name\":");
	escape_json(&buf, server->servername);
	appendStringInfoString(&buf, ",\"options\":");
	append_server_options_json(&buf, server);
	appendStringInfoString(&buf, "},\"table\":");
	append_options_json(&buf, table->options);
	appendStringInfoString(&buf, ",\"user\":");
	append_options_json(&buf, user_options);
	appendStringInfo(&buf, ",\"pushdown\":%s,\"max_scan_capacity\":%d",
					 dlf_pushdown ? "true" : "false", dlf_max_scan_capacity);
	if (operation)
	{
		appendStringInfoString(&buf, ",\"operation\":");
		escape_json(&buf, operation);
	}
	appendStringInfoString(&buf, ",\"columns\":[");
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (att->attisdropped)
		{
			appendStringInfo(&buf, "{\"attnum\":%d,\"dropped\":true}", i + 1);
			continue;
		}
		appendStringInfo(&buf, "{\"attnum\":%d,\"name\":", i + 1);
		escape_json(&buf, NameStr(att->attname));
		appendStringInfoString(&buf, ",\"type\":");
		escape_json(&buf, format_type_be(att->atttypid));
		appendStringInfo(&buf, ",\"notnull\":%s,\"options\":", att->attnotnull ? "true" : "false");
		append_options_json(&buf, GetForeignColumnOptions(relid, i + 1));
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	if (baserel)
	{
		ListCell   *lc;
		int			index = 0;

		appendStringInfoString(&buf, ",\"quals\":[");
		foreach(lc, info->clauses)
		{
			RestrictInfo *ri = lfirst(lc);

			append_clause_json(&buf, ++index, ri->clause, root, baserel, rel, info);
		}
		appendStringInfo(&buf, "],\"nquals\":%d", index);
		append_needed_columns(&buf, baserel, info->clauses);
		append_output_columns(&buf, baserel);
		append_query_limit(&buf, root, baserel);
	}
	appendStringInfoChar(&buf, '}');
	table_close(rel, NoLock);
	return buf.data;
}

static Oid
planning_user(RelOptInfo *baserel)
{
	return OidIsValid(baserel->userid) ? baserel->userid : GetUserId();
}

/* ---------- planning ---------- */

/*
 * Shows Lua the relation with these clauses and keeps its plan in info:
 * estimates, the plan, which clauses PostgreSQL must still check, the
 * expressions to evaluate as parameters, and what ordered or parameterized
 * paths it can offer.
 */
static void
plan_with_lua(PlannerInfo *root, RelOptInfo *baserel, Oid relid, List *clauses, DlfRelInfo *info)
{
	DlfArg		arg = {DLF_ARG_JSON};
	lua_State  *L;
	int			nparams;

	info->clauses = clauses;
	arg.str = describe_relation(relid, planning_user(baserel), root, baserel, info, NULL);
	/*
	 * plan_scan(rel) -> rows, startup_cost, total_cost, plan_json, local_flags, {param indexes},
	 *                   order column, {param column, rows, startup cost, total cost},
	 *                   parallel segments (0: none)
	 */
	L = dlf_lua_call("plan_scan", 1, &arg, 9);
	info->rows = dlf_result_number(L, 1, "row estimate");
	info->startup_cost = dlf_result_number(L, 2, "startup cost");
	info->total_cost = dlf_result_number(L, 3, "total cost");
	info->plan_text = dlf_result_string(L, 4, "plan");
	info->local_flags = dlf_result_string(L, 5, "local qual flags");
	if (!lua_istable(L, 6))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Lua plan_scan returned no parameter list")));
	nparams = (int) lua_objlen(L, 6);
	for (int i = 1; i <= nparams; i++)
	{
		int			k;

		lua_rawgeti(L, 6, i);
		k = lua_isnumber(L, -1) ? (int) lua_tointeger(L, -1) : 0;
		lua_pop(L, 1);
		if (k < 1 || k > list_length(info->param_candidates))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("Lua plan_scan named parameter %d, which does not exist", k)));
		info->fdw_exprs = lappend(info->fdw_exprs, list_nth(info->param_candidates, k - 1));
	}
	info->order_column = dlf_result_string(L, 7, "order column");
	if (lua_istable(L, 8))
	{
		lua_rawgeti(L, 8, 1);
		lua_rawgeti(L, 8, 2);
		lua_rawgeti(L, 8, 3);
		lua_rawgeti(L, 8, 4);
		info->param_column = dlf_result_string(L, -4, "parameter column");
		info->param_rows = dlf_result_number(L, -3, "parameterized rows");
		info->param_startup_cost = dlf_result_number(L, -2, "parameterized startup cost");
		info->param_total_cost = dlf_result_number(L, -1, "parameterized total cost");
		lua_pop(L, 4);
	}
	info->parallel_segments = (int) dlf_result_number(L, 9, "parallel segments");
	dlf_lua_done(L);
}

static void
dlfGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	DlfRelInfo *info = palloc0(sizeof(DlfRelInfo));

	baserel->fdw_private = info;
	plan_with_lua(root, baserel, foreigntableid, baserel->baserestrictinfo, info);
	baserel->rows = info->rows;
}

/*
 * The first key of the query's ORDER BY, when it is the column Lua can order
 * by and PostgreSQL's order for it is DynamoDB's: the type's default btree
 * order, and byte order (the C collation) for text.  *desc tells the
 * direction.  Further ORDER BY keys are left to an Incremental Sort.
 */
static List *
ordered_pathkeys(PlannerInfo *root, RelOptInfo *baserel, Oid relid, const char *column, bool *desc)
{
	PathKey    *pathkey;
	AttrNumber	attno = get_attnum(relid, column);
	Oid			type = InvalidOid;
	Oid			opclass;
	ListCell   *lc;

	if (root->query_pathkeys == NIL || attno == InvalidAttrNumber)
		return NIL;
	pathkey = linitial(root->query_pathkeys);
	foreach(lc, pathkey->pk_eclass->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);
		Var		   *var = qual_var((Node *) em->em_expr, baserel->relid);

		if (var && var->varattno == attno)
			type = var->vartype;
	}
	if (!OidIsValid(type))
		return NIL;
	opclass = GetDefaultOpClass(type, BTREE_AM_OID);
	if (!OidIsValid(opclass) || get_opclass_family(opclass) != pathkey->pk_opfamily)
		return NIL;
	if (type_is_collatable(type) && !lc_collate_is_c(pathkey->pk_eclass->ec_collation))
		return NIL;
	*desc = pathkey->pk_strategy == BTGreaterStrategyNumber;
	return list_make1(pathkey);
}

static bool
ec_member_is_column(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
					EquivalenceMember *em, void *arg)
{
	Var		   *var = qual_var((Node *) em->em_expr, rel->relid);

	return var && var->varattno == *(AttrNumber *) arg;
}

/*
 * Parameterized paths: for each join clause "key column = outer value", a
 * Query per outer row, so a join from a few rows does not Scan the table.
 */
static void
add_parameterized_paths(PlannerInfo *root, RelOptInfo *baserel, Oid relid, DlfRelInfo *info)
{
	AttrNumber	attno = get_attnum(relid, info->param_column);
	List	   *clauses;
	ListCell   *lc;

	if (attno == InvalidAttrNumber)
		return;
	/* equi-joins live in equivalence classes; other join clauses in joininfo */
	clauses = generate_implied_equalities_for_column(root, baserel, ec_member_is_column, &attno,
													 baserel->lateral_referencers);
	foreach(lc, baserel->joininfo)
	{
		RestrictInfo *ri = lfirst(lc);

		if (join_clause_is_movable_to(ri, baserel) && IsA(ri->clause, OpExpr) &&
			list_length(((OpExpr *) ri->clause)->args) == 2)
		{
			Var		   *l = qual_var(linitial(((OpExpr *) ri->clause)->args), baserel->relid);
			Var		   *r = qual_var(lsecond(((OpExpr *) ri->clause)->args), baserel->relid);

			if ((l && l->varattno == attno) || (r && r->varattno == attno))
				clauses = lappend(clauses, ri);
		}
	}
	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst(lc);
		Relids		required_outer = bms_union(bms_difference(ri->clause_relids, baserel->relids),
											   baserel->lateral_relids);
		ParamPathInfo *param_info;

		if (bms_is_empty(required_outer))
			continue;
		param_info = get_baserel_parampathinfo(root, baserel, required_outer);
		add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL,
														   Min(param_info->ppi_rows, info->param_rows),
														   info->param_startup_cost,
														   info->param_total_cost,
														   NIL, required_outer, NULL, NIL));
	}
}

static void
dlfGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	DlfRelInfo *info = baserel->fdw_private;
	List	   *pathkeys;
	bool		desc = false;

	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL,
													   baserel->rows,
													   info->startup_cost,
													   info->total_cost,
													   NIL, NULL, NULL, NIL));
	/* A Query returns rows in sort key order, either way: no Sort needed. */
	if (info->order_column &&
		(pathkeys = ordered_pathkeys(root, baserel, foreigntableid, info->order_column, &desc)) != NIL)
		add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL,
														   baserel->rows,
														   info->startup_cost,
														   info->total_cost,
														   pathkeys, NULL, NULL,
														   list_make1(makeString(desc ? "desc" : "asc"))));
	if (info->param_column)
		add_parameterized_paths(root, baserel, foreigntableid, info);

	/* A Scan in segments can be shared by parallel workers, each claiming segments. */
	if (info->parallel_segments > 1 && baserel->consider_parallel && max_parallel_workers_per_gather > 0)
	{
		int			workers = Min(info->parallel_segments - 1, max_parallel_workers_per_gather);
		ForeignPath *path = create_foreignscan_path(root, baserel, NULL,
													baserel->rows / (workers + 1),
													info->startup_cost,
													info->startup_cost + (info->total_cost - info->startup_cost) / (workers + 1),
													NIL, NULL, NULL, NIL);

		path->path.parallel_aware = true;
		path->path.parallel_safe = true;
		path->path.parallel_workers = workers;
		add_partial_path(baserel, (Path *) path);
	}
}

static ForeignScan *
dlfGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				  ForeignPath *best_path, List *tlist, List *scan_clauses, Plan *outer_plan)
{
	DlfRelInfo *info = baserel->fdw_private;
	List	   *local_exprs = NIL;
	ListCell   *lc;

	/* A parameterized path adds join clauses: Lua plans again with them. */
	if (best_path->path.param_info)
	{
		info = palloc0(sizeof(DlfRelInfo));
		plan_with_lua(root, baserel, foreigntableid, scan_clauses, info);
	}
	/* Quals Lua answers exactly are dropped; every other one is checked here. */
	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst(lc);
		int			index = -1;
		ListCell   *bc;

		foreach(bc, info->clauses)
			if (lfirst(bc) == ri)
				index = foreach_current_index(bc);
		if (ri->pseudoconstant)
			continue;
		if (index < 0 || index >= (int) strlen(info->local_flags) || info->local_flags[index] != '0')
			local_exprs = lappend(local_exprs, ri->clause);
	}
	return make_foreignscan(tlist, local_exprs, baserel->relid, info->fdw_exprs,
							list_make3(makeString(info->plan_text),
									   best_path->fdw_private ? linitial(best_path->fdw_private) : makeString(""),
									   makeInteger(best_path->path.parallel_aware ? info->parallel_segments : 0)),
							NIL, NIL, outer_plan);
}

/* ---------- scanning ---------- */

static void begin_lua_scan(ForeignScanState *node, DlfScanState *st);

static void
dlfBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	DlfScanState *st = palloc0(sizeof(DlfScanState));

	node->fdw_state = st;
	st->plan_text = strVal(list_nth(fsplan->fdw_private, DlfScanPrivatePlan));
	st->direction = strVal(list_nth(fsplan->fdw_private, DlfScanPrivateDirection));
	st->segments = intVal(list_nth(fsplan->fdw_private, DlfScanPrivateSegments));
	st->segment = -1;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	st->relid = RelationGetRelid(node->ss.ss_currentRelation);
	{
		RangeTblEntry *rte = exec_rt_fetch(fsplan->scan.scanrelid, estate);

		st->userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
	st->param_states = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);
	st->conv = dlf_converter_create(RelationGetDescr(node->ss.ss_currentRelation));
	st->batch_context = AllocSetContextCreate(estate->es_query_cxt, "dynamo_lua_fdw batch",
											  ALLOCSET_DEFAULT_SIZES);

	/*
	 * A scan that needs no executor parameter (an outer row's value, an
	 * InitPlan's result: neither exists yet) sends its first request
	 * now, so that the scans of a UNION ALL or a partitioned table (each
	 * begun before any is read) wait for DynamoDB together: all requests
	 * share one libcurl multi handle, and waiting for one moves all.
	 */
	if (bms_is_empty(fsplan->scan.plan.allParam) && st->segments == 0)
	{
		DlfArg		arg = {DLF_ARG_INT};

		begin_lua_scan(node, st);
		arg.ival = st->handle;
		dlf_lua_done(dlf_lua_call("prime", 1, &arg, 1));
	}
}

/* Parameter values as text, evaluated now (at scan start or rescan). */
static DlfArg
param_values(ForeignScanState *node, DlfScanState *st)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	int			n = list_length(st->param_states);
	DlfArg		arg = {DLF_ARG_STRINGS};
	ListCell   *lc;
	int			i = 0;

	arg.n = n;
	arg.strs = palloc0(sizeof(char *) * Max(n, 1));
	arg.lens = palloc0(sizeof(size_t) * Max(n, 1));
	foreach(lc, st->param_states)
	{
		ExprState  *es = lfirst(lc);
		bool		isnull;
		Datum		v = ExecEvalExpr(es, econtext, &isnull);

		if (!isnull)
		{
			Oid			out;
			bool		varlena;

			getTypeOutputInfo(exprType((Node *) es->expr), &out, &varlena);
			arg.strs[i] = OidOutputFunctionCall(out, v);
			arg.lens[i] = strlen(arg.strs[i]);
		}
		i++;
	}
	return arg;
}

/* Claims the next segment of a parallel Scan for this process; false when none is left. */
static bool
claim_segment(DlfScanState *st)
{
	uint32		next;

	/* a Gather may run the scan without shared memory (a plan not run to completion in one go) */
	next = st->shared ? pg_atomic_fetch_add_u32(&st->shared->next_segment, 1) : st->local_next++;
	if (next >= (uint32) st->segments)
		return false;
	st->segment = (int) next;
	return true;
}

/* Starts (or restarts) the Lua side of the scan, with the parameters' values now. */
static void
begin_lua_scan(ForeignScanState *node, DlfScanState *st)
{
	DlfArg		args[6] = {{DLF_ARG_STRING}, {DLF_ARG_JSON}, {0}, {DLF_ARG_INT}, {DLF_ARG_STRING}, {DLF_ARG_STRING}};
	lua_State  *L;

	if (st->handle != 0 && !st->restart)
		return;
	args[5].str = st->segment >= 0 ? psprintf("%d/%d", st->segment, st->segments) : "";
	args[5].len = strlen(args[5].str);
	args[0].str = st->plan_text;
	args[0].len = strlen(st->plan_text);
	args[1].str = describe_relation(st->relid, st->userid, NULL, NULL, NULL, NULL);
	args[2] = param_values(node, st);
	args[3].ival = st->handle;
	args[4].str = st->direction;
	args[4].len = strlen(st->direction);
	/* begin_scan(plan, rel, params, handle or 0, direction, "segment/segments" or "") -> handle */
	L = dlf_lua_call("begin_scan", 6, args, 1);
	st->handle = dlf_result_int(L, 1, "scan handle");
	dlf_lua_done(L);
	st->restart = false;
}

static void
fetch_batch(ForeignScanState *node, DlfScanState *st)
{
	lua_State  *L;
	int			nrows;
	MemoryContext old;
	Datum	   *values;
	bool	   *nulls;

	MemoryContextReset(st->batch_context);
	st->ntuples = st->next = 0;
	st->tuples = NULL;
	if (st->segments > 0 && st->segment < 0)
	{
		if (!claim_segment(st))
		{
			st->eof = true;
			return;
		}
	}
	begin_lua_scan(node, st);
	{
		DlfArg		arg = {DLF_ARG_INT};

		arg.ival = st->handle;
		/* fetch(handle) -> flat array of values, row count (0 at the end), [row descriptions] */
		L = dlf_lua_call("fetch", 1, &arg, 3);
	}
	nrows = dlf_result_int(L, 2, "row count");
	if (nrows <= 0)
	{
		dlf_lua_done(L);
		/* a parallel Scan goes on with the next unclaimed segment (a rescan keeps its counts) */
		if (st->segments > 0 && claim_segment(st))
		{
			st->restart = true;
			return;
		}
		st->eof = true;
		return;
	}
	if (!lua_istable(L, 1))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Lua fetch returned rows without a value array")));
	old = MemoryContextSwitchTo(st->batch_context);
	st->tuples = palloc(sizeof(HeapTuple) * nrows);
	values = palloc(sizeof(Datum) * Max(st->conv->natts, 1));
	nulls = palloc(sizeof(bool) * Max(st->conv->natts, 1));
	for (int r = 0; r < nrows; r++)
	{
		const char *where = NULL;

		if (lua_istable(L, 3))
		{
			lua_rawgeti(L, 3, r + 1);
			where = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
			lua_pop(L, 1);		/* still anchored by the table */
		}
		st->conv->where = where;
		dlf_row_from_lua(st->conv, L, 1, r, values, nulls);
		st->tuples[r] = heap_form_tuple(st->conv->tupdesc, values, nulls);
	}
	st->ntuples = nrows;
	MemoryContextSwitchTo(old);
	dlf_lua_done(L);
}

static TupleTableSlot *
dlfIterateForeignScan(ForeignScanState *node)
{
	DlfScanState *st = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	while (st->next >= st->ntuples)
	{
		if (st->eof)
			return ExecClearTuple(slot);
		fetch_batch(node, st);
	}
	ExecStoreHeapTuple(st->tuples[st->next++], slot, false);
	return slot;
}

static void
dlfReScanForeignScan(ForeignScanState *node)
{
	DlfScanState *st = node->fdw_state;

	st->restart = true;
	st->eof = false;
	st->ntuples = st->next = 0;
	st->segment = -1;			/* ReInitializeDSMForeignScan has reset the claims */
	st->local_next = 0;
}

/* Lets Lua end a scan or modify state (entry end_scan / end_modify), once. */
static void
end_lua_state(const char *entry, int *handle)
{
	DlfArg		arg = {DLF_ARG_INT};

	if (*handle == 0)
		return;
	arg.ival = *handle;
	*handle = 0;
	dlf_lua_done(dlf_lua_call(entry, 1, &arg, 0));
}

static void
dlfEndForeignScan(ForeignScanState *node)
{
	DlfScanState *st = node->fdw_state;

	if (st)
		end_lua_state("end_scan", &st->handle);
}

static void
explain_pairs(lua_State *L, ExplainState *es)
{
	int			n = lua_istable(L, 1) ? (int) lua_objlen(L, 1) : 0;

	for (int i = 1; i + 1 <= n; i += 2)
	{
		char	   *label,
				   *value;

		lua_rawgeti(L, 1, i);
		lua_rawgeti(L, 1, i + 1);
		label = dlf_result_string(L, -2, "explain label");
		value = dlf_result_string(L, -1, "explain value");
		lua_pop(L, 2);
		if (label && value)
			ExplainPropertyText(label, value, es);
	}
	dlf_lua_done(L);
}

static void
dlfExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	DlfScanState *st = node->fdw_state;
	DlfArg		args[4] = {{DLF_ARG_STRING}, {DLF_ARG_BOOL}, {DLF_ARG_INT}, {DLF_ARG_STRING}};

	args[0].str = st->plan_text;
	args[0].len = strlen(st->plan_text);
	args[1].ival = es->verbose;
	args[2].ival = es->analyze ? st->handle : 0;
	args[3].str = st->direction;
	args[3].len = strlen(st->direction);
	/* explain(plan, verbose, handle or 0, direction) -> {label, value, label, value, ...} */
	explain_pairs(dlf_lua_call("explain", 4, args, 1), es);
	if (st->segments > 0)
		ExplainPropertyInteger("DynamoDB Parallel Segments", NULL, st->segments, es);
}

/* ---------- modifying ---------- */

static void
dlfAddForeignUpdateTargets(PlannerInfo *root, Index rtindex, RangeTblEntry *target_rte,
						   Relation target_relation)
{
	TriggerDesc *trig = target_relation->trigdesc;

	/*
	 * The old row is the row identity: Lua derives the key from it, and
	 * DELETE ... RETURNING shows it.  PostgreSQL adds this same "wholerow"
	 * itself for UPDATE and for DELETE with row triggers; add it otherwise.
	 */
	if (root->parse->commandType == CMD_DELETE &&
		!(trig && (trig->trig_delete_after_row || trig->trig_delete_before_row)))
		add_row_identity_var(root, makeVar(rtindex, InvalidAttrNumber, RECORDOID, -1, InvalidOid, 0),
							 rtindex, "wholerow");
}

static int
dlfIsForeignRelUpdatable(Relation rel)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	const char *readonly = dlf_option_value(table->options, "readonly");
	bool		ro = false;

	if (readonly)
		(void) parse_bool(readonly, &ro);
	return ro ? 0 : (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

static const char *
operation_name(CmdType op)
{
	return op == CMD_INSERT ? "insert" : op == CMD_UPDATE ? "update" : "delete";
}

/* The Lua modify state of a result relation, for INSERT/UPDATE/DELETE and for COPY FROM. */
static DlfModifyState *
begin_modify(EState *estate, ResultRelInfo *rinfo, CmdType op, Plan *subplan, bool do_nothing,
			 const char *increments)
{
	Relation	rel = rinfo->ri_RelationDesc;
	Oid			userid = GetUserId();
	DlfModifyState *st = palloc0(sizeof(DlfModifyState));
	DlfArg		args[3] = {{DLF_ARG_JSON}, {DLF_ARG_STRING}, {DLF_ARG_JSON}};
	lua_State  *L;

	/* a partition routed to by INSERT or COPY has no range table entry of its own */
	if (rinfo->ri_RangeTableIndex > 0)
	{
		RangeTblEntry *rte = exec_rt_fetch(rinfo->ri_RangeTableIndex, estate);

		if (OidIsValid(rte->checkAsUser))
			userid = rte->checkAsUser;
	}
	st->conv = dlf_converter_create(RelationGetDescr(rel));
	st->temp_context = AllocSetContextCreate(estate->es_query_cxt, "dynamo_lua_fdw modify",
											 ALLOCSET_SMALL_SIZES);
	if (op != CMD_INSERT)
	{
		st->wholerow_attno = ExecFindJunkAttributeInTlist(subplan->targetlist, "wholerow");
		if (!AttributeNumberIsValid(st->wholerow_attno))
			elog(ERROR, "dynamo_lua_fdw: no wholerow row identity in the subplan");
	}
	args[0].str = describe_relation(RelationGetRelid(rel), userid, NULL, NULL, NULL, operation_name(op));
	args[1].str = do_nothing ? "nothing" : "";
	args[1].len = strlen(args[1].str);
	args[2].str = increments;
	/* begin_modify(rel, on_conflict, increments) -> handle */
	L = dlf_lua_call("begin_modify", 3, args, 1);
	st->handle = dlf_result_int(L, 1, "modify handle");
	dlf_lua_done(L);
	return st;
}

/* fdw_private of a modify: the ON CONFLICT action (INSERT ... ON CONFLICT DO NOTHING). */
/*
 * The columns an UPDATE sets to themselves plus or minus a constant
 * ("n = n + 1"), as {"attnum": "delta", ...}: Lua sends those as
 * SET #n = #n + :delta, so concurrent increments are not lost.
 */
static char *
update_increments(PlannerInfo *root, Index resultRelation)
{
	static const char *const plus[] = {"numeric_add", "int2pl", "int4pl", "int8pl", "int24pl", "int42pl",
	"int28pl", "int82pl", "int48pl", "int84pl"};
	static const char *const minus[] = {"numeric_sub", "int2mi", "int4mi", "int8mi", "int24mi", "int42mi",
	"int28mi", "int82mi", "int48mi", "int84mi"};
	List	   *tlist,
			   *colnos;
	ListCell   *lc,
			   *lc2;
	StringInfoData buf;

	get_translated_update_targetlist(root, resultRelation, &tlist, &colnos);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	forboth(lc, tlist, lc2, colnos)
	{
		Expr	   *expr = ((TargetEntry *) lfirst(lc))->expr;
		AttrNumber	attno = (AttrNumber) lfirst_int(lc2);
		OpExpr	   *op = IsA(expr, OpExpr) ? (OpExpr *) expr : NULL;
		Var		   *var;
		Const	   *c;
		const char *func;
		bool		add = false,
					sub = false;
		Oid			out;
		bool		varlena;
		char	   *delta;

		if (op == NULL || list_length(op->args) != 2 || !IsA(lsecond(op->args), Const))
			continue;
		var = qual_var(linitial(op->args), resultRelation);
		c = lsecond(op->args);
		if (var == NULL || var->varattno != attno || c->constisnull)
			continue;
		func = get_func_name(op->opfuncid);
		for (int i = 0; func && i < lengthof(plus); i++)
		{
			add |= strcmp(func, plus[i]) == 0;
			sub |= strcmp(func, minus[i]) == 0;
		}
		if (!add && !sub)
			continue;
		getTypeOutputInfo(c->consttype, &out, &varlena);
		delta = OidOutputFunctionCall(out, c->constvalue);
		if (sub)
			delta = delta[0] == '-' ? delta + 1 : psprintf("-%s", delta);
		appendStringInfo(&buf, "%s\"%d\":", buf.len > 1 ? "," : "", attno);
		escape_json(&buf, delta);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static List *
dlfPlanForeignModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation, int subplan_index)
{
	Relation	rel = table_open(planner_rt_fetch(resultRelation, root)->relid, NoLock);
	/* a BEFORE UPDATE trigger may change the value: then the row's value is what is written */
	bool		triggers = rel->trigdesc && rel->trigdesc->trig_update_before_row;

	table_close(rel, NoLock);
	return list_make2(makeInteger(plan->onConflictAction),
					  makeString(plan->operation == CMD_UPDATE && !triggers ?
								 update_increments(root, resultRelation) : "{}"));
}

static void
dlfBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private,
					  int subplan_index, int eflags)
{
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	rinfo->ri_FdwState = begin_modify(mtstate->ps.state, rinfo, mtstate->operation,
									  outerPlanState(mtstate)->plan,
									  fdw_private && intVal(linitial(fdw_private)) == ONCONFLICT_NOTHING,
									  fdw_private ? strVal(lsecond(fdw_private)) : "{}");
}

/* COPY FROM, and INSERT routed to a foreign partition. */
static void
dlfBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	rinfo->ri_FdwState = begin_modify(mtstate->ps.state, rinfo, CMD_INSERT, NULL, false, "{}");
}

/* A row as text for Lua. */
static DlfArg
row_text(DlfModifyState *st, Datum *values, bool *nulls)
{
	DlfArg		arg = {DLF_ARG_STRINGS};

	arg.n = st->conv->natts;
	arg.strs = palloc(sizeof(char *) * Max(arg.n, 1));
	arg.lens = palloc(sizeof(size_t) * Max(arg.n, 1));
	dlf_row_to_text(st->conv, values, nulls, arg.strs, arg.lens);
	return arg;
}

/* Deforms the "wholerow" junk value of planSlot (the old row) into values/nulls. */
static void
old_row(DlfModifyState *st, TupleTableSlot *planSlot, Datum *values, bool *nulls)
{
	bool		isnull;
	Datum		d = ExecGetJunkAttribute(planSlot, st->wholerow_attno, &isnull);
	HeapTupleHeader td;
	HeapTupleData tup;

	if (isnull)
		elog(ERROR, "dynamo_lua_fdw: the old row is null");
	td = DatumGetHeapTupleHeader(d);
	tup.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = InvalidOid;
	tup.t_data = td;
	heap_deform_tuple(&tup, st->conv->tupdesc, values, nulls);
}

/* Stores the row Lua returned (result 1) into slot, for RETURNING and triggers. */
static void
store_returned_row(DlfModifyState *st, lua_State *L, TupleTableSlot *slot)
{
	if (!lua_istable(L, 1))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Lua write entry point returned no row")));
	ExecClearTuple(slot);
	dlf_row_from_lua(st->conv, L, 1, 0, slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);
}

static TupleTableSlot *
modify(const char *entry, ResultRelInfo *rinfo, TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	DlfModifyState *st = rinfo->ri_FdwState;
	MemoryContext old;
	DlfArg		args[4] = {{DLF_ARG_INT}, {DLF_ARG_INT}};
	int			nargs = 2;
	lua_State  *L;

	if (st == NULL || st->handle == 0)
		elog(ERROR, "dynamo_lua_fdw: foreign table \"%s\" was not prepared for writing",
			 RelationGetRelationName(rinfo->ri_RelationDesc));

	MemoryContextReset(st->temp_context);
	old = MemoryContextSwitchTo(st->temp_context);
	args[0].ival = st->handle;
	args[1].ival = GetCurrentTransactionNestLevel();
	if (planSlot && st->wholerow_attno)
	{
		int			natts = st->conv->natts;
		Datum	   *values = palloc(sizeof(Datum) * Max(natts, 1));
		bool	   *nulls = palloc(sizeof(bool) * Max(natts, 1));

		old_row(st, planSlot, values, nulls);
		args[nargs++] = row_text(st, values, nulls);
		if (strcmp(entry, "delete") == 0)
		{
			/* RETURNING shows the old row; its values live in planSlot's tuple */
			ExecClearTuple(slot);
			memcpy(slot->tts_values, values, sizeof(Datum) * natts);
			memcpy(slot->tts_isnull, nulls, sizeof(bool) * natts);
			ExecStoreVirtualTuple(slot);
		}
	}
	if (strcmp(entry, "delete") != 0)
	{
		slot_getallattrs(slot);
		args[nargs++] = row_text(st, slot->tts_values, slot->tts_isnull);
	}
	/* insert(handle, level, new) / update(handle, level, old, new) / delete(handle, level, old) -> row */
	L = dlf_lua_call(entry, nargs, args, 1);
	if (strcmp(entry, "delete") != 0)
		store_returned_row(st, L, slot);
	dlf_lua_done(L);
	MemoryContextSwitchTo(old);
	return slot;
}

static TupleTableSlot *
dlfExecForeignInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	return modify("insert", rinfo, slot, NULL);
}

static TupleTableSlot *
dlfExecForeignUpdate(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	return modify("update", rinfo, slot, planSlot);
}

static TupleTableSlot *
dlfExecForeignDelete(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	return modify("delete", rinfo, slot, planSlot);
}

/* Rows per ExecForeignBatchInsert call: one Lua call per batch. */
#define DLF_INSERT_BATCH 100

static int
dlfGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	/* RETURNING and row triggers need each row back as stored: row by row then */
	if (rinfo->ri_projectReturning || rinfo->ri_WithCheckOptions ||
		(rinfo->ri_TrigDesc &&
		 (rinfo->ri_TrigDesc->trig_insert_before_row || rinfo->ri_TrigDesc->trig_insert_after_row)))
		return 1;
	return DLF_INSERT_BATCH;
}

static TupleTableSlot **
dlfExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot **slots,
						  TupleTableSlot **planSlots, int *numSlots)
{
	DlfModifyState *st = rinfo->ri_FdwState;
	int			natts = st->conv->natts;
	DlfArg		args[4] = {{DLF_ARG_INT}, {DLF_ARG_INT}, {DLF_ARG_STRINGS}, {DLF_ARG_INT}};
	MemoryContext old;

	MemoryContextReset(st->temp_context);
	old = MemoryContextSwitchTo(st->temp_context);
	args[0].ival = st->handle;
	args[1].ival = GetCurrentTransactionNestLevel();
	args[2].n = natts * *numSlots;
	args[2].strs = palloc(sizeof(char *) * Max(args[2].n, 1));
	args[2].lens = palloc(sizeof(size_t) * Max(args[2].n, 1));
	for (int i = 0; i < *numSlots; i++)
	{
		slot_getallattrs(slots[i]);
		dlf_row_to_text(st->conv, slots[i]->tts_values, slots[i]->tts_isnull,
						args[2].strs + i * natts, args[2].lens + i * natts);
	}
	args[3].ival = *numSlots;
	/* insert_batch(handle, level, rows (flat), nrows) */
	dlf_lua_done(dlf_lua_call("insert_batch", 4, args, 0));
	MemoryContextSwitchTo(old);
	return slots;
}

static void
dlfEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	DlfModifyState *st = rinfo->ri_FdwState;

	if (st)
		end_lua_state("end_modify", &st->handle);
}

static void
dlfExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private,
						int subplan_index, ExplainState *es)
{
	DlfArg		args[3] = {{DLF_ARG_JSON}, {DLF_ARG_STRING}, {DLF_ARG_JSON}};
	bool		do_nothing = fdw_private && intVal(linitial(fdw_private)) == ONCONFLICT_NOTHING;

	args[0].str = describe_relation(RelationGetRelid(rinfo->ri_RelationDesc), GetUserId(), NULL, NULL, NULL,
									operation_name(mtstate->operation));
	args[1].str = do_nothing ? "nothing" : "";
	args[1].len = strlen(args[1].str);
	args[2].str = fdw_private ? strVal(lsecond(fdw_private)) : "{}";
	/* explain_modify(rel, on_conflict, increments) -> {label, value, ...}: how the writes are sent */
	explain_pairs(dlf_lua_call("explain_modify", 3, args, 1), es);
}

/* ---------- TRUNCATE ---------- */

/* Lua reads each table's keys and buffers their deletes (table option truncatable). */
static void
dlfExecForeignTruncate(List *rels, DropBehavior behavior, bool restart_seqs)
{
	ListCell   *lc;

	foreach(lc, rels)
	{
		Relation	rel = lfirst(lc);
		DlfArg		args[2] = {{DLF_ARG_JSON}, {DLF_ARG_INT}};

		args[0].str = describe_relation(RelationGetRelid(rel), GetUserId(), NULL, NULL, NULL, "truncate");
		args[1].ival = GetCurrentTransactionNestLevel();
		/* truncate(rel, level) */
		dlf_lua_done(dlf_lua_call("truncate", 2, args, 0));
	}
}

/* ---------- IMPORT FOREIGN SCHEMA ---------- */

static List *
dlfImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	StringInfoData buf;
	ListCell   *lc;
	List	   *commands = NIL;
	DlfArg		arg = {DLF_ARG_JSON};
	lua_State  *L;
	int			n;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"server\":{\"name\":");
	escape_json(&buf, server->servername);
	appendStringInfoString(&buf, ",\"options\":");
	append_server_options_json(&buf, server);
	appendStringInfoString(&buf, "},\"user\":");
	append_options_json(&buf, user_mapping_options(GetUserId(), serverOid));
	appendStringInfoString(&buf, ",\"remote_schema\":");
	escape_json(&buf, stmt->remote_schema);
	appendStringInfoString(&buf, ",\"local_schema\":");
	escape_json(&buf, stmt->local_schema);
	appendStringInfo(&buf, ",\"list_type\":\"%s\",\"tables\":[",
					 stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO ? "limit" :
					 stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT ? "except" : "all");
	foreach(lc, stmt->table_list)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, ((RangeVar *) lfirst(lc))->relname);
	}
	appendStringInfoString(&buf, "],\"options\":");
	append_options_json(&buf, stmt->options);
	appendStringInfoChar(&buf, '}');
	arg.str = buf.data;
	/* import_schema(info) -> {CREATE FOREIGN TABLE ..., ...} */
	L = dlf_lua_call("import_schema", 1, &arg, 1);
	n = lua_istable(L, 1) ? (int) lua_objlen(L, 1) : 0;
	for (int i = 1; i <= n; i++)
	{
		lua_rawgeti(L, 1, i);
		commands = lappend(commands, dlf_result_string(L, -1, "import statement"));
		lua_pop(L, 1);
	}
	dlf_lua_done(L);
	return commands;
}

/* ---------- SQL-callable ---------- */

PG_FUNCTION_INFO_V1(dynamo_lua_fdw_handler);

/* ---------- parallel Scan ---------- */

static bool
dlfIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte)
{
	/* Workers run their own Lua and HTTP; writes are never parallel. */
	return true;
}

static Size
dlfEstimateDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt)
{
	return sizeof(DlfParallelScan);
}

static void
dlfInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt, void *coordinate)
{
	DlfScanState *st = node->fdw_state;

	st->shared = coordinate;
	pg_atomic_init_u32(&st->shared->next_segment, 0);
}

static void
dlfReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt, void *coordinate)
{
	pg_atomic_write_u32(&((DlfParallelScan *) coordinate)->next_segment, 0);
}

static void
dlfInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *toc, void *coordinate)
{
	((DlfScanState *) node->fdw_state)->shared = coordinate;
}

Datum
dynamo_lua_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = dlfGetForeignRelSize;
	routine->GetForeignPaths = dlfGetForeignPaths;
	routine->GetForeignPlan = dlfGetForeignPlan;
	routine->BeginForeignScan = dlfBeginForeignScan;
	routine->IterateForeignScan = dlfIterateForeignScan;
	routine->ReScanForeignScan = dlfReScanForeignScan;
	routine->EndForeignScan = dlfEndForeignScan;
	routine->ExplainForeignScan = dlfExplainForeignScan;
	routine->AddForeignUpdateTargets = dlfAddForeignUpdateTargets;
	routine->PlanForeignModify = dlfPlanForeignModify;
	routine->BeginForeignModify = dlfBeginForeignModify;
	routine->ExecForeignInsert = dlfExecForeignInsert;
	routine->ExecForeignUpdate = dlfExecForeignUpdate;
	routine->ExecForeignDelete = dlfExecForeignDelete;
	routine->EndForeignModify = dlfEndForeignModify;
	routine->BeginForeignInsert = dlfBeginForeignInsert;
	routine->EndForeignInsert = dlfEndForeignModify;
	routine->GetForeignModifyBatchSize = dlfGetForeignModifyBatchSize;
	routine->ExecForeignBatchInsert = dlfExecForeignBatchInsert;
	routine->IsForeignRelUpdatable = dlfIsForeignRelUpdatable;
	routine->ExplainForeignModify = dlfExplainForeignModify;
	routine->ImportForeignSchema = dlfImportForeignSchema;
	routine->ExecForeignTruncate = dlfExecForeignTruncate;
	routine->IsForeignScanParallelSafe = dlfIsForeignScanParallelSafe;
	routine->EstimateDSMForeignScan = dlfEstimateDSMForeignScan;
	routine->InitializeDSMForeignScan = dlfInitializeDSMForeignScan;
	routine->ReInitializeDSMForeignScan = dlfReInitializeDSMForeignScan;
	routine->InitializeWorkerForeignScan = dlfInitializeWorkerForeignScan;
	PG_RETURN_POINTER(routine);
}

/* dynamo_lua_fdw.stats(): this backend's counters (requests, connections, retries, ...). */
PG_FUNCTION_INFO_V1(dynamo_lua_fdw_stats);

Datum
dynamo_lua_fdw_stats(PG_FUNCTION_ARGS)
{
	lua_State  *L = dlf_lua_call("stats", 0, NULL, 1);
	char	   *json = dlf_result_string(L, 1, "stats");

	dlf_lua_done(L);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json ? json : "{}")));
}

/* dynamo_lua_fdw.check_script(name): loads and checks a mapping script. */
PG_FUNCTION_INFO_V1(dynamo_lua_fdw_check_script);

Datum
dynamo_lua_fdw_check_script(PG_FUNCTION_ARGS)
{
	DlfArg		arg = {DLF_ARG_STRING};
	lua_State  *L;
	char	   *result;

	arg.str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arg.len = strlen(arg.str);
	L = dlf_lua_call("check_script", 1, &arg, 1);
	result = dlf_result_string(L, 1, "check_script result");
	dlf_lua_done(L);
	PG_RETURN_TEXT_P(cstring_to_text(result ? result : ""));
}

void
_PG_init(void)
{
	dlf_define_lua_gucs();
	DefineCustomIntVariable("dynamo_lua_fdw.max_scan_capacity",
							"Read capacity units a Scan may consume before it is stopped (0: no limit).",
							"The table or server option max_scan_capacity takes precedence.",
							&dlf_max_scan_capacity, 0, 0, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("dynamo_lua_fdw.pushdown",
							 "Lets DynamoDB answer the conditions it can answer exactly.",
							 "Off: every condition is checked by PostgreSQL over a Scan (for testing and comparison).",
							 &dlf_pushdown, true, PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("dynamo_lua_fdw");
	dlf_register_xact_callbacks();
}
