#!/usr/bin/env node
// A fault-injecting HTTP proxy in front of DynamoDB (Local), for the TAP tests. Node built-ins only.
//
//   node t/bin/fault-proxy.js PORT UPSTREAM [--exit-on-eof]
//
// Listens on 127.0.0.1:PORT (0: any free port) and prints the port as the first line on stdout.
// With --exit-on-eof it exits when its stdin closes, so it dies with the test that started it.
// Control endpoints on the same port:
//   POST /__faults  [{"target": "Query" | "*", "action": "throttle", "times": 3}, ...] replaces the
//                   fault script; a request takes the first fault whose target is its X-Amz-Target
//                   operation (or "*") with times left, and that fault's times goes down by one.
//   GET  /__counts  {"ops": {"Query": 3}, "connections": 1, "per_connection": {"1": 3},
//                    "access_keys": [...], "session_token_sha256": [...], "requests": [[op, x-amz-date]],
//                    "forwarded_writes": n, "creds_requests": n, "forwarded_transactions": n,
//                    "transaction_tokens": [ClientRequestToken of each TransactWriteItems request],
//                    "in_flight_max": n}
//                   (only DynamoDB requests count; key ids are listed, secrets and tokens never are;
//                   in_flight_max: the most DynamoDB requests the proxy was answering at one time)
//   POST /__reset   forgets faults and counts (and closes connections left hanging)
//   GET  /__creds   container credentials (for AWS_CONTAINER_CREDENTIALS_FULL_URI)
// Actions:
//   throttle     400 ProvisionedThroughputExceededException     error500   500 InternalServerError
//   error503     503 with a plain-text body (like a load balancer)
//   validation   400 ValidationException
//   skew         400 InvalidSignatureException "Signature expired: ..." with a Date header 1 hour ahead
//   bad_crc      forwards, then answers with a wrong x-amz-crc32
//   truncate     forwards, then sends the headers (full content-length) and half the body, and closes
//   garble       200 with invalid JSON and a matching x-amz-crc32
//   drop         closes the connection without answering        hang   never answers
//   empty_page   Scan/Query with an ExclusiveStartKey: answers {"Items": [], "Count": 0,
//                "ScannedCount": 0, "LastEvaluatedKey": <that key>} without forwarding, so the client
//                must ask again. A request without one is forwarded untouched and the fault waits for
//                a later page (the key comes from the upstream answer): use a table of several pages.
//   unprocessed  BatchWriteItem: forwards only the first request of each table, returns the rest as
//                UnprocessedItems
//   forward_then_drop  forwards the request (DynamoDB applies it), then closes the client's connection
//                without answering: an ambiguous write
//   expired_token  400 ExpiredTokenException (temporary credentials that DynamoDB considers expired)
//   tx_cancel    TransactWriteItems: 400 TransactionCanceledException without forwarding; the fault's
//                "reasons" are the CancellationReasons codes, or else its "reason" (default
//                TransactionConflict) stands at its "index" (default 0) and "None" at every other action
//   slow         waits the fault's "ms" (default 200) milliseconds, then forwards
//   fuzz         answers without forwarding with a malformed response made by a pseudo-random generator
//                seeded by the fault's "seed" (default 1): garbage bytes, truncated or wrongly shaped
//                JSON, AWS errors with odd codes, random status codes and headers; x-amz-crc32 always
//                matches the body. Counted in /__counts as "fuzzed".
'use strict';
const http = require('http');
const zlib = require('zlib');
const crypto = require('crypto');

const [portArg, upstreamArg, flag] = process.argv.slice(2);
if (portArg === undefined || !upstreamArg) {
  console.error('usage: fault-proxy.js PORT UPSTREAM [--exit-on-eof]');
  process.exit(2);
}
const upstream = new URL(upstreamArg);
const agent = new http.Agent({ keepAlive: true });
const ACTIONS = new Set(['throttle', 'error500', 'error503', 'validation', 'skew', 'bad_crc', 'truncate',
  'garble', 'drop', 'hang', 'empty_page', 'unprocessed', 'forward_then_drop', 'expired_token', 'fuzz',
  'tx_cancel', 'slow']);

// zlib.crc32 exists from Node 20.15/22.2; the bitwise CRC-32 (IEEE) otherwise.
const crc32 = zlib.crc32 || ((buf) => {
  let crc = 0xFFFFFFFF;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xEDB88320 : crc >>> 1;
  }
  return (crc ^ 0xFFFFFFFF) >>> 0;
});

let faults = [];
let counts;
const hung = new Set();
let connectionSeq = 0;
let inFlight = 0;
let creds = {
  AccessKeyId: 'ASIAFAULTPROXYCONTAINER', SecretAccessKey: 'dlfContainerSecretNeverLog0001',
  Token: 'dlfContainerTokenNeverLog0001', Expiration: new Date(Date.now() + 6 * 3600e3).toISOString(),
};

function reset() {
  faults = [];
  counts = { ops: {}, connections: 0, per_connection: {}, access_keys: [], session_token_sha256: [],
    requests: [], forwarded_writes: 0, creds_requests: 0, fuzzed: 0, forwarded_transactions: 0,
    transaction_tokens: [], in_flight_max: inFlight };
  for (const s of hung) s.destroy();
  hung.clear();
}

function send(res, status, body, extra = {}) {
  if (!Buffer.isBuffer(body)) body = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': body.length,
    'x-amz-crc32': String(crc32(body)), ...extra });
  res.end(body);
}

function awsError(res, status, type, message, extra) {
  send(res, status, { __type: type, message }, extra);
}

function countWrites(body) {
  let n = 0;
  for (const reqs of Object.values(JSON.parse(body).RequestItems || {})) n += reqs.length;
  return n;
}

// Sends the request upstream; resolves to { status, headers, body }.
function forward(req, op, body) {
  if (op === 'BatchWriteItem') counts.forwarded_writes += countWrites(body);
  if (op === 'TransactWriteItems') counts.forwarded_transactions++;
  const headers = { ...req.headers, host: upstream.host, 'content-length': body.length };
  delete headers.connection;
  return new Promise((resolve, reject) => {
    const r = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method,
      headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

function relay(res, up, crc) {
  const extra = up.headers['x-amzn-requestid'] ? { 'x-amzn-requestid': up.headers['x-amzn-requestid'] } : {};
  if (crc !== undefined) extra['x-amz-crc32'] = String(crc);
  send(res, up.status, up.body, extra);
}

function record(req, op) {
  counts.ops[op] = (counts.ops[op] || 0) + 1;
  const id = req.socket.dlfId;
  if (!counts.per_connection[id]) counts.connections++;
  counts.per_connection[id] = (counts.per_connection[id] || 0) + 1;
  const m = /Credential=([^/,\s]+)\//.exec(req.headers.authorization || '');
  if (m && !counts.access_keys.includes(m[1])) counts.access_keys.push(m[1]);
  const token = req.headers['x-amz-security-token'];
  if (token) {
    const h = crypto.createHash('sha256').update(token).digest('hex');
    if (!counts.session_token_sha256.includes(h)) counts.session_token_sha256.push(h);
  }
  counts.requests.push([op, req.headers['x-amz-date'] || null]);
}

// The ClientRequestToken of a TransactWriteItems request (null when absent or unreadable).
function transactionToken(body) {
  try { return JSON.parse(body.toString()).ClientRequestToken ?? null; } catch (e) { return null; }
}

async function control(req, res, body) {
  if (req.url === '/__faults' && req.method === 'POST') {
    const script = JSON.parse(body.toString() || '[]');
    const bad = script.find((f) => !ACTIONS.has(f.action) || typeof f.target !== 'string');
    if (bad) return send(res, 400, { error: 'bad fault ' + JSON.stringify(bad) });
    faults = script.map((f) => ({ ...f, times: f.times ?? 1,
      ...(f.action === 'fuzz' ? { rng: mulberry32(Number(f.seed ?? 1)) } : {}) }));
    return send(res, 200, { ok: true });
  }
  if (req.url === '/__counts') {
    return send(res, 200, { ...counts, faults_left: faults.map(({ rng, ...f }) => f) });
  }
  if (req.url === '/__reset' && req.method === 'POST') { reset(); return send(res, 200, { ok: true }); }
  if (req.url === '/__creds' && req.method === 'POST') { creds = JSON.parse(body.toString()); return send(res, 200, { ok: true }); }
  if (req.url === '/__creds') { counts.creds_requests++; return send(res, 200, creds); }
  return send(res, 404, { error: 'unknown control endpoint ' + req.url });
}

async function handle(req, res, body) {
  if (req.url.startsWith('/__')) return control(req, res, body);
  const target = String(req.headers['x-amz-target'] || '');
  const op = target.slice(target.lastIndexOf('.') + 1) || '(none)';
  record(req, op);
  if (op === 'TransactWriteItems') counts.transaction_tokens.push(transactionToken(body));
  inFlight++;
  counts.in_flight_max = Math.max(counts.in_flight_max, inFlight);
  res.on('close', () => { inFlight--; });
  const fault = faults.find((f) => f.times > 0 && (f.target === '*' || f.target === op));
  if (!fault) return relay(res, await forward(req, op, body));
  fault.times--;
  switch (fault.action) {
    case 'throttle':
      return awsError(res, 400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        'The level of configured provisioned throughput for the table was exceeded (injected)');
    case 'error500':
      return awsError(res, 500, 'com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error (injected)');
    case 'error503':
      return send(res, 503, 'Service Unavailable (injected)', { 'content-type': 'text/plain' });
    case 'validation':
      return awsError(res, 400, 'com.amazon.coral.validate#ValidationException', 'Injected validation error');
    case 'skew': {
      const ahead = new Date(Date.now() + 3600e3);
      const amz = (d) => d.toISOString().replace(/[-:]|\.\d+/g, '');
      return awsError(res, 400, 'com.amazon.coral.service#InvalidSignatureException',
        `Signature expired: ${req.headers['x-amz-date']} is now earlier than ${amz(new Date(ahead - 300e3))} `
        + `(${amz(ahead)} - 5 min.)`, { date: ahead.toUTCString() });
    }
    case 'bad_crc': {
      const up = await forward(req, op, body);
      return relay(res, up, (crc32(up.body) + 1) >>> 0);
    }
    case 'truncate': {
      const up = await forward(req, op, body);
      const sock = req.socket;
      sock.write(`HTTP/1.1 ${up.status} X\r\ncontent-type: application/x-amz-json-1.0\r\n`
        + `content-length: ${up.body.length}\r\nx-amz-crc32: ${crc32(up.body)}\r\n\r\n`);
      return sock.end(up.body.subarray(0, up.body.length >> 1), () => sock.destroy());
    }
    case 'garble':
      return send(res, 200, '{"Items": [{"pk": {"S": "garbled"}, "Count": 1,');
    case 'drop':
      return req.socket.destroy();
    case 'hang':
      hung.add(req.socket);
      return req.socket.on('close', () => hung.delete(req.socket));
    case 'empty_page': {
      const esk = (op === 'Scan' || op === 'Query') && JSON.parse(body.toString()).ExclusiveStartKey;
      if (esk) return send(res, 200, { Items: [], Count: 0, ScannedCount: 0, LastEvaluatedKey: esk });
      fault.times++; // the first page: forward it, and fault a later one
      return relay(res, await forward(req, op, body));
    }
    case 'unprocessed': {
      if (op !== 'BatchWriteItem') return relay(res, await forward(req, op, body));
      const request = JSON.parse(body.toString());
      const first = {};
      const rest = {};
      for (const [table, reqs] of Object.entries(request.RequestItems || {})) {
        first[table] = reqs.slice(0, 1);
        if (reqs.length > 1) rest[table] = reqs.slice(1);
      }
      const up = await forward(req, op, Buffer.from(JSON.stringify({ ...request, RequestItems: first })));
      if (up.status !== 200) return relay(res, up);
      const answer = JSON.parse(up.body.toString());
      const unprocessed = answer.UnprocessedItems || {};
      for (const [table, reqs] of Object.entries(rest)) unprocessed[table] = (unprocessed[table] || []).concat(reqs);
      return send(res, 200, { ...answer, UnprocessedItems: unprocessed });
    }
    case 'forward_then_drop': {
      await forward(req, op, body);
      return req.socket.destroy();
    }
    case 'expired_token':
      return awsError(res, 400, 'com.amazon.coral.service#ExpiredTokenException',
        'The security token included in the request is expired (injected)');
    case 'tx_cancel': {
      if (op !== 'TransactWriteItems') return relay(res, await forward(req, op, body));
      const n = (JSON.parse(body.toString()).TransactItems || []).length;
      const codes = fault.reasons || Array.from({ length: n },
        (_, i) => (i === (fault.index ?? 0) ? fault.reason || 'TransactionConflict' : 'None'));
      return send(res, 400, { __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
        Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}] (injected)`,
        CancellationReasons: codes.map((c) => (c === 'None' ? { Code: c } : { Code: c, Message: c + ' (injected)' })) });
    }
    case 'slow':
      await new Promise((resolve) => setTimeout(resolve, fault.ms ?? 200));
      return relay(res, await forward(req, op, body));
    case 'fuzz': {
      counts.fuzzed++;
      const r = fuzzResponse(fault.rng, op);
      res.writeHead(r.status, { ...r.headers, 'content-length': r.body.length, 'x-amz-crc32': String(crc32(r.body)) });
      return res.end(r.body);
    }
  }
}

// ---------- the fuzz generator (deterministic for a seed) ----------
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FUZZ_STRINGS = ['', 'a', 'pk', 'sk', 'k', 'id', 'garbled', '\u0000', 'a\u0000b', 'é', '😀', '名前', '"', '\\',
  '\n', '\t', ' ', '%s%n%x', 'NaN', 'Infinity', '-0', '1e999', '1E-131', '-1e126', '0x10', '12345678901234567890123456789012345678901',
  '\ud800', '\udfff', 'AAEC/w==', '!!notbase64!!', '=', 'null', 'true', '{"S":"x"}', '2024-02-29T12:34:56Z',
  'x'.repeat(3000), '\u202e\u0301', 'us-east-1', '["us-east-1","t","k",{"S":"x"}]'];
const FUZZ_TAGS = ['S', 'N', 'B', 'BOOL', 'NULL', 'M', 'L', 'SS', 'NS', 'BS', 'X', '', 's', 'n'];
const FUZZ_CODES = ['ProvisionedThroughputExceededException', 'ThrottlingException', 'ValidationException',
  'ResourceNotFoundException', 'ExpiredTokenException', 'InvalidSignatureException', 'RequestTimeTooSkewed',
  'UnrecognizedClientException', 'TransactionCanceledException', 'InternalServerError', 'AccessDeniedException',
  'ConditionalCheckFailedException', 'SerializationException', 'UnknownOperationException', '', '#', 'a#b:c', '\u0000',
  'x'.repeat(500)];

function fuzzResponse(rnd, op) {
  const int = (n) => Math.floor(rnd() * n);
  const pick = (a) => a[int(a.length)];
  const chance = (p) => rnd() < p;
  const str = () => (chance(0.8) ? pick(FUZZ_STRINGS)
    : Array.from({ length: int(12) }, () => String.fromCodePoint(pick([int(128), int(0x800), int(0x10000), 0x10000 + int(0x10000)]))).join(''));
  const num = () => pick([0, -1, 1.5, 1e308, -1e-308, 2 ** 53 + 1, 12345678901234567890, int(1000), NaN, Infinity]);
  const scalar = () => pick([str, num, () => chance(0.5), () => null])();
  function value(depth) {
    if (depth > 3 || chance(0.4)) return scalar();
    if (chance(0.5)) return Array.from({ length: int(4) }, () => value(depth + 1));
    const o = {};
    for (let i = int(4); i > 0; i--) o[str()] = value(depth + 1);
    return o;
  }
  function av(depth) {
    if (chance(0.1)) return value(depth);             // not an AttributeValue at all
    const tag = pick(FUZZ_TAGS);
    const good = chance(0.6);
    let v;
    switch (tag) {
      case 'S': v = good ? str() : value(depth + 1); break;
      case 'N': v = good ? pick(['0', '-1', '1.5', '1E-130', '9.9999999999999999999999999999999999999E+125', '1e999',
        'abc', '', ' 1', '1 ', '--1', '1e', '.5', '5.', '+1', '0x1F', '12345678901234567890123456789012345678901']) : value(depth + 1); break;
      case 'B': v = good ? pick(['AAEC/w==', '', '!!', 'A', 'AA=', '====']) : value(depth + 1); break;
      case 'BOOL': v = good ? chance(0.5) : pick(['true', 1, null]); break;
      case 'NULL': v = good ? true : pick([false, 'yes', 0]); break;
      case 'M': {
        v = {};
        if (depth < 6) for (let i = int(4); i > 0; i--) v[str()] = av(depth + 1);
        if (!good) v = pick([v, [], 'M', null]);
        break;
      }
      case 'L': v = depth < 6 ? Array.from({ length: int(4) }, () => av(depth + 1)) : []; if (!good) v = pick([v, {}, 'L']); break;
      case 'SS': case 'NS': case 'BS': v = good ? Array.from({ length: int(4) }, () => pick(['1', 'a', 'AA==', '', '1.0'])) : value(depth + 1); break;
      default: v = value(depth + 1);
    }
    const out = { [tag]: v };
    if (chance(0.05)) out[pick(FUZZ_TAGS)] = scalar(); // two type tags
    return out;
  }
  const names = ['pk', 'sk', 'k', 'id', 'pkey', 'skey', 'n', 'b', 'v', 'name', 'status', 'doc', 'tags', 'i'];
  function item() {
    if (chance(0.05)) return value(0);
    const it = {};
    for (let i = int(6); i > 0; i--) it[chance(0.8) ? pick(names) : str()] = av(0);
    return it;
  }
  function shaped() {
    switch (op) {
      case 'Scan': case 'Query': {
        const o = { Items: chance(0.9) ? Array.from({ length: int(5) }, item) : value(0), Count: scalar(), ScannedCount: scalar() };
        if (chance(0.3)) o.LastEvaluatedKey = chance(0.7) ? item() : value(0);
        if (chance(0.1)) delete o.Items;
        return o;
      }
      case 'GetItem': return chance(0.8) ? { Item: item() } : chance(0.5) ? {} : { Item: value(0) };
      case 'DescribeTable': {
        const key = () => ({ AttributeName: chance(0.8) ? pick(names) : scalar(), KeyType: pick(['HASH', 'RANGE', 'hash', '', 'X', null]) });
        const def = () => ({ AttributeName: chance(0.8) ? pick(names) : scalar(), AttributeType: pick(['S', 'N', 'B', 'X', '', null, 1]) });
        const t = { TableName: str(), TableStatus: pick(['ACTIVE', 'CREATING', null, 1]), ItemCount: scalar(),
          KeySchema: chance(0.9) ? Array.from({ length: int(4) }, key) : value(0),
          AttributeDefinitions: chance(0.9) ? Array.from({ length: int(4) }, def) : value(0) };
        return chance(0.9) ? { Table: t } : { Table: value(0) };
      }
      case 'ListTables': {
        const o = { TableNames: chance(0.8) ? Array.from({ length: int(4) }, () => (chance(0.7) ? pick(names) : scalar())) : value(0) };
        if (chance(0.2)) o.LastEvaluatedTableName = scalar();
        return o;
      }
      case 'BatchWriteItem': {
        if (chance(0.5)) return { UnprocessedItems: {} };
        const u = {};
        for (let i = int(3); i > 0; i--) u[chance(0.5) ? 'dlf_fuzz' : str()] = chance(0.8)
          ? Array.from({ length: int(3) }, () => pick([{ PutRequest: { Item: item() } }, { DeleteRequest: { Key: item() } }, value(0)]))
          : value(0);
        return { UnprocessedItems: chance(0.9) ? u : value(0) };
      }
      case 'UpdateItem': return chance(0.5) ? {} : { Attributes: item() };
      default: return value(0);
    }
  }
  const headers = {};
  headers['content-type'] = pick(['application/x-amz-json-1.0', 'application/json', 'text/html', 'text/plain; charset=utf-8']);
  let status = 200;
  let body;
  const kind = rnd();
  if (kind < 0.45) {
    body = JSON.stringify(shaped());
  } else if (kind < 0.6) {
    const whole = JSON.stringify(shaped());
    body = whole.slice(0, int(whole.length + 1));
  } else if (kind < 0.7) {
    body = Buffer.from(Array.from({ length: int(300) }, () => int(256)));
  } else if (kind < 0.8) {
    body = JSON.stringify(value(0)) ?? '';
  } else {
    status = pick([400, 400, 400, 403, 404, 409, 413, 418, 429, 500, 502, 503, 504]);
    const code = pick(FUZZ_CODES);
    const e = {};
    if (chance(0.8)) e.__type = chance(0.7) ? 'com.amazonaws.dynamodb.v20120810#' + code : code;
    if (chance(0.8)) e[pick(['message', 'Message', 'msg'])] = chance(0.7)
      ? pick(['Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z', 'not yet current', str()]) : scalar();
    if (chance(0.2)) e.CancellationReasons = chance(0.7) ? Array.from({ length: int(3) }, () => ({ Code: scalar() })) : value(0);
    if (chance(0.3)) headers['x-amzn-errortype'] = (code + pick(['', ':http://internal.amazon.com/coral/', '#x'])).replace(/[^\x20-\x7e]/g, '?');
    body = chance(0.9) ? JSON.stringify(e) : str();
  }
  if (chance(0.1)) status = pick([200, 201, 202, 204, 206, 299, 301, 302, 304, 400, 500, 599]);
  if (chance(0.2)) {
    headers.date = pick([new Date(Date.now() + (int(7200) - 3600) * 1000).toUTCString(), 'Thu, 01 Jan 1970 00:00:00 GMT',
      'Fri, 31 Dec 9999 23:59:59 GMT', 'Mon, 32 Foo 2024 25:61:61 GMT', 'garbage', '']);
  }
  if (chance(0.05)) headers['x-fuzz-long'] = 'v'.repeat(int(8000));
  if (chance(0.05)) headers['content-encoding'] = pick(['gzip', 'deflate', 'br', 'x-unknown']);
  if (chance(0.05)) headers['x-amzn-requestid'] = str().replace(/[^\x20-\x7e]/g, '?');
  return { status, headers, body: Buffer.isBuffer(body) ? body : Buffer.from(String(body)) };
}

reset();
const server = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks)).catch((e) => {
    console.error('fault-proxy: ' + (e && e.stack || e));
    if (!res.headersSent) send(res, 502, { __type: 'FaultProxyError', message: String(e && e.message) });
    else req.socket.destroy();
  }));
});
server.on('connection', (s) => { s.dlfId = ++connectionSeq; });
server.listen(Number(portArg), '127.0.0.1', () => console.log(server.address().port));
if (flag === '--exit-on-eof') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));
