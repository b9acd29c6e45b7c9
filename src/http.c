/*
 * http.c
 *		HTTP for the Lua AWS client: libcurl's multi interface, one connection
 *		cache per backend (so requests and queries reuse TCP/TLS connections),
 *		and a wait loop that checks for interrupts at least every 100 ms, so
 *		query cancel and statement_timeout work while DynamoDB is slow to answer.
 *
 * Errors from the network are returned in the response (Lua decides about
 * retries); only interrupts and out-of-memory raise PostgreSQL errors.
 */
#include "dynamo_lua_fdw.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/memutils.h"

static CURLM *multi = NULL;

/* How long one wait may last before interrupts are checked again. */
#define WAIT_SLICE_MS 100

/*
 * Requests in flight at once (parallel scan segments, concurrent writes,
 * a prefetched page).  Each slot keeps its easy handle for reuse; the
 * connections themselves are pooled by the multi handle.
 */
#define MAX_TRANSFERS 64

typedef struct Transfer
{
	CURL	   *easy;
	bool		in_use;
	bool		done;
	uint32		generation;		/* makes ids of finished transfers stale (wraps at 2^24) */
	int			nest_level;		/* of the subtransaction that started it */
	CURLcode	rc;
	struct curl_slist *headers;
	MemoryContext context;		/* the response; outlives the caller's context */
	DlfHttpResponse resp;
	char		errbuf[CURL_ERROR_SIZE];
} Transfer;

static Transfer transfers[MAX_TRANSFERS];

long		dlf_http_requests = 0;
long		dlf_http_connections = 0;

static size_t
collect_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	DlfHttpResponse *resp = userdata;

	/* Runs inside libcurl; refuse (ending the transfer) rather than overflow. */
	if (resp->body.len + size * nmemb >= MaxAllocSize - 1)
		return 0;
	appendBinaryStringInfo(&resp->body, data, size * nmemb);
	return size * nmemb;
}

static size_t
collect_header(char *data, size_t size, size_t nitems, void *userdata)
{
	Transfer   *t = userdata;
	DlfHttpResponse *resp = &t->resp;
	size_t		len = size * nitems;
	char	   *colon = memchr(data, ':', len);
	char	   *name,
			   *value;
	size_t		vlen;
	MemoryContext old;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		resp->nheaders = 0;		/* a new response (after 100-continue or a redirect) */
	if (colon == NULL)
		return len;
	old = MemoryContextSwitchTo(t->context);
	name = pnstrdup(data, colon - data);
	for (char *p = name; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	value = colon + 1;
	vlen = len - (value - data);
	while (vlen > 0 && (*value == ' ' || *value == '\t'))
		value++, vlen--;
	while (vlen > 0 && (value[vlen - 1] == '\r' || value[vlen - 1] == '\n' || value[vlen - 1] == ' '))
		vlen--;
	if (resp->nheaders % 16 == 0)
		resp->headers = resp->headers
			? repalloc(resp->headers, sizeof(DlfHttpHeader) * (resp->nheaders + 16))
			: palloc(sizeof(DlfHttpHeader) * 16);
	resp->headers[resp->nheaders].name = name;
	resp->headers[resp->nheaders].value = pnstrdup(value, vlen);
	resp->nheaders++;
	MemoryContextSwitchTo(old);
	return len;
}

static const char *
classify(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
			return "connect";
		case CURLE_OPERATION_TIMEDOUT:
			return "timeout";
		case CURLE_SEND_ERROR:
			return "send";
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_WRITE_ERROR:
			return "recv";
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
			return "tls";
		default:
			return "other";
	}
}

static void
ensure_multi(void)
{
	if (multi == NULL)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
			(multi = curl_multi_init()) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("could not initialize libcurl")));
	}
}

#define GENERATION_MASK 0xFFFFFF	/* ids stay positive ints */

/* The transfer of id, or NULL when it is gone (finished, cancelled, dropped after an error). */
static Transfer *
transfer_of(int id)
{
	Transfer   *t = (id >= 0) ? &transfers[id % MAX_TRANSFERS] : NULL;

	if (t == NULL || !t->in_use || t->generation != (uint32) (id / MAX_TRANSFERS))
		return NULL;
	return t;
}

/* Moves finished transfers out of the multi handle, noting their outcome. */
static void
collect_finished(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		Transfer   *t;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		t->rc = msg->data.result;
		t->done = true;
		curl_multi_remove_handle(multi, t->easy);
		curl_slist_free_all(t->headers);
		t->headers = NULL;
		dlf_http_requests++;
		curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &t->resp.new_connections);
		dlf_http_connections += t->resp.new_connections;
		if (t->rc != CURLE_OK)
		{
			t->resp.error_kind = classify(t->rc);
			snprintf(t->resp.error_message, sizeof(t->resp.error_message), "%s",
					 t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->rc));
		}
		else
			curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
	}
}

static void
release(Transfer *t)
{
	if (!t->done)
		curl_multi_remove_handle(multi, t->easy);	/* its connection is closed */
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	if (t->context)
		MemoryContextDelete(t->context);
	t->context = NULL;
	t->in_use = false;
	t->generation = (t->generation + 1) & GENERATION_MASK;
}

/*
 * Drops the requests started at or below subtransaction nest level
 * (level 1: every one): at the end of each transaction, when a
 * subtransaction aborts (a scan that failed in it never ends), and after an
 * interrupt.  Lua may still hold their ids; waiting for one then reports a
 * dropped request, which the client retries.
 */
void
dlf_http_cancel_from(int level)
{
	for (int i = 0; i < MAX_TRANSFERS; i++)
		if (transfers[i].in_use && transfers[i].nest_level >= level)
			release(&transfers[i]);
}

void
dlf_http_cancel_all(void)
{
	dlf_http_cancel_from(0);
}

/* Drops one request; one already gone is no error. */
void
dlf_http_cancel(int id)
{
	Transfer   *t = transfer_of(id);

	if (t)
		release(t);
}

/* How many requests are in flight (the read-ahead keeps within a budget). */
int
dlf_http_in_flight(void)
{
	int			n = 0;

	for (int i = 0; i < MAX_TRANSFERS; i++)
		n += transfers[i].in_use;
	return n;
}

/* Lets libcurl move every transfer on; an interrupt or error drops this subtransaction's. */
static void
drive(long wait_ms)
{
	PG_TRY();
	{
		int			running,
					nfds;

		curl_multi_perform(multi, &running);
		collect_finished();
		if (wait_ms > 0 && running)
		{
			curl_multi_poll(multi, NULL, 0, (int) wait_ms, &nfds);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		/* the (sub)transaction this error aborts drops its requests; outer ones stay */
		dlf_http_cancel_from(GetCurrentTransactionNestLevel());
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Starts one request and returns its id; the request is sent as far as the
 * socket takes it before returning.  Raises a PostgreSQL error only when too
 * many requests are in flight, for interrupts, or out of memory.
 */
int
dlf_http_start(const DlfHttpRequest *req)
{
	Transfer   *t = NULL;
	int			slot;
	MemoryContext old;

	ensure_multi();
	for (slot = 0; slot < MAX_TRANSFERS; slot++)
		if (!transfers[slot].in_use)
		{
			t = &transfers[slot];
			break;
		}
	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %d HTTP requests in flight", MAX_TRANSFERS),
				 errhint("Lower write_concurrency or scan_segments.")));
	if (t->easy == NULL && (t->easy = curl_easy_init()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

	t->context = AllocSetContextCreate(TopMemoryContext, "dynamo_lua_fdw http response",
									   ALLOCSET_DEFAULT_SIZES);
	t->in_use = true;			/* from here on release() frees it */
	t->done = true;				/* not in the multi handle yet */
	t->nest_level = GetCurrentTransactionNestLevel();
	old = MemoryContextSwitchTo(t->context);
	memset(&t->resp, 0, sizeof(t->resp));
	initStringInfo(&t->resp.body);
	MemoryContextSwitchTo(old);
	t->errbuf[0] = '\0';

	curl_easy_reset(t->easy);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (char *) t);
	/* libcurl's own words: "self-signed certificate" says more than the error code's text */
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->easy, CURLOPT_URL, req->url);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, req->method);
	if (strcmp(req->method, "GET") != 0)
	{
		/* copied: the caller's body need not outlive this call */
		curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
		curl_easy_setopt(t->easy, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
	}
	for (int i = 0; i < req->nheaders; i++)
		t->headers = curl_slist_append(t->headers, req->headers[i]);
	/* No "Expect: 100-continue" round trip; DynamoDB answers at once. */
	t->headers = curl_slist_append(t->headers, "Expect:");
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, &t->resp);
	curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 0L);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
	curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file && req->ca_file[0])
		curl_easy_setopt(t->easy, CURLOPT_CAINFO, req->ca_file);

	if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
	{
		release(t);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not start an HTTP request")));
	}
	t->done = false;
	drive(0);
	return (int) (t->generation * MAX_TRANSFERS + slot);	/* < 2^30 */
}

/*
 * Waits for request id (moving the others on meanwhile) and fills resp; its
 * body and headers live in a memory context made a child of the caller's,
 * which the caller deletes.  Network errors are in resp (Lua decides about
 * retries); an interrupt raises and drops every request in flight.
 */
MemoryContext
dlf_http_wait(int id, DlfHttpResponse *resp)
{
	Transfer   *t = transfer_of(id);
	MemoryContext context;

	if (t == NULL)
	{
		/* dropped (an aborted subtransaction, an interrupt): a network failure the client retries */
		memset(resp, 0, sizeof(*resp));
		resp->error_kind = "recv";
		snprintf(resp->error_message, sizeof(resp->error_message), "the request was dropped before its answer");
		return AllocSetContextCreate(CurrentMemoryContext, "dynamo_lua_fdw http response", ALLOCSET_SMALL_SIZES);
	}
	while (!t->done)
		drive(WAIT_SLICE_MS);
	*resp = t->resp;
	context = t->context;
	MemoryContextSetParent(context, CurrentMemoryContext);
	t->context = NULL;
	release(t);
	return context;
}
