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
//                    "forwarded_writes": n, "creds_requests": n}
//                   (only DynamoDB requests count; key ids are listed, secrets and tokens never are)
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
  'garble', 'drop', 'hang', 'empty_page', 'unprocessed']);

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
let creds = {
  AccessKeyId: 'ASIAFAULTPROXYCONTAINER', SecretAccessKey: 'dlfContainerSecretNeverLog0001',
  Token: 'dlfContainerTokenNeverLog0001', Expiration: new Date(Date.now() + 6 * 3600e3).toISOString(),
};

function reset() {
  faults = [];
  counts = { ops: {}, connections: 0, per_connection: {}, access_keys: [], session_token_sha256: [],
    requests: [], forwarded_writes: 0, creds_requests: 0 };
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

async function control(req, res, body) {
  if (req.url === '/__faults' && req.method === 'POST') {
    const script = JSON.parse(body.toString() || '[]');
    const bad = script.find((f) => !ACTIONS.has(f.action) || typeof f.target !== 'string');
    if (bad) return send(res, 400, { error: 'bad fault ' + JSON.stringify(bad) });
    faults = script.map((f) => ({ target: f.target, action: f.action, times: f.times ?? 1 }));
    return send(res, 200, { ok: true });
  }
  if (req.url === '/__counts') return send(res, 200, { ...counts, faults_left: faults });
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
  }
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
