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

#include "miscadmin.h"
#include "utils/memutils.h"

static CURLM *multi = NULL;
static CURL *easy = NULL;

/* How long one wait may last before interrupts are checked again. */
#define WAIT_SLICE_MS 100

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
	DlfHttpResponse *resp = userdata;
	size_t		len = size * nitems;
	char	   *colon = memchr(data, ':', len);
	char	   *name,
			   *value;
	size_t		vlen;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		resp->nheaders = 0;		/* a new response (after 100-continue or a redirect) */
	if (colon == NULL)
		return len;
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
ensure_handles(void)
{
	if (multi == NULL)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
			(multi = curl_multi_init()) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("could not initialize libcurl")));
	}
	if (easy == NULL && (easy = curl_easy_init()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
}

/*
 * Performs one request.  The response and its headers are palloc'd in the
 * current memory context.  Raises a PostgreSQL error only for interrupts.
 */
void
dlf_http_perform(const DlfHttpRequest *req, DlfHttpResponse *resp)
{
	struct curl_slist *volatile headers = NULL;
	CURLMsg    *msg;
	int			running = 1;
	int			left;
	volatile CURLcode rc = CURLE_OK;
	static char errbuf[CURL_ERROR_SIZE];

	ensure_handles();
	memset(resp, 0, sizeof(*resp));
	initStringInfo(&resp->body);

	curl_easy_reset(easy);
	errbuf[0] = '\0';
	/* libcurl's own words: "self-signed certificate" says more than the error code's text */
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_URL, req->url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
	if (strcmp(req->method, "GET") != 0)
	{
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	}
	for (int i = 0; i < req->nheaders; i++)
		headers = curl_slist_append(headers, req->headers[i]);
	/* No "Expect: 100-continue" round trip; DynamoDB answers at once. */
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 0L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file && req->ca_file[0])
		curl_easy_setopt(easy, CURLOPT_CAINFO, req->ca_file);

	curl_multi_add_handle(multi, easy);
	PG_TRY();
	{
		while (running)
		{
			int			nfds;

			curl_multi_perform(multi, &running);
			if (!running)
				break;
			curl_multi_poll(multi, NULL, 0, WAIT_SLICE_MS, &nfds);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		/* Cancelled mid-request: drop the transfer (its connection is closed). */
		curl_multi_remove_handle(multi, easy);
		curl_slist_free_all(headers);
		PG_RE_THROW();
	}
	PG_END_TRY();

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy)
			rc = msg->data.result;
	curl_multi_remove_handle(multi, easy);
	curl_slist_free_all(headers);

	dlf_http_requests++;
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &resp->new_connections);
	dlf_http_connections += resp->new_connections;
	if (rc != CURLE_OK)
	{
		resp->error_kind = classify(rc);
		snprintf(resp->error_message, sizeof(resp->error_message), "%s",
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
}
