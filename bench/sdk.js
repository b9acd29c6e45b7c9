#!/usr/bin/env node
// The AWS SDK for JavaScript v3 side of bench/run.sh: create and load tables, and the reference
// timings the FDW is compared with. Every command prints one JSON object on stdout.
//
//   node bench/sdk.js ENDPOINT create TABLE
//   node bench/sdk.js ENDPOINT load TABLE COUNT [CONCURRENCY] [PREFIX]   BatchWriteItem, 25 a request
//   node bench/sdk.js ENDPOINT scan TABLE RUNS                          paginated Scan, RUNS timed
//   node bench/sdk.js ENDPOINT pscan TABLE SEGMENTS RUNS                parallel Scan, RUNS timed
//   node bench/sdk.js ENDPOINT query TABLE NKEYS QUERIES                sequential Query by partition key
//   node bench/sdk.js ENDPOINT write TABLE COUNT RUNS CONCURRENCY       BatchWriteItem timing (the INSERT rival)
//   node bench/sdk.js ENDPOINT capture TABLE PAGES DIR                  raw Scan and DescribeTable bodies
//
// Timed commands warm their client up with one small request first (scan, pscan, write) or 20
// queries (query); bench/run.sh runs a whole untimed round before the timed ones.
//
// The SDK is loaded from .deps/bench (bench/run.sh installs it there). Items: pkey S 'key<i>'
// (or PREFIX<i>), skey S 's<i % 7>', n N i, pad S (about 200 bytes in all, DynamoDB's item size).
const path = require('path');
const fs = require('fs');
const http = require('http');

const root = path.resolve(__dirname, '..');
const sdkDir = process.env.DLF_BENCH_DEPS || path.join(root, '.deps', 'bench', 'node_modules');
const { DynamoDBClient, CreateTableCommand, DeleteTableCommand, ScanCommand, QueryCommand,
        BatchWriteItemCommand, DescribeTableCommand } = require(path.join(sdkDir, '@aws-sdk', 'client-dynamodb'));
let NodeHttpHandler = null;
try { ({ NodeHttpHandler } = require(path.join(sdkDir, '@smithy', 'node-http-handler'))); } catch (e) { /* default */ }

const [endpoint, cmd, ...args] = process.argv.slice(2);

function client() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'dlftestkey', secretAccessKey: 'dlftestsecretdonotleak' },
    maxAttempts: 10,
    ...(NodeHttpHandler ? { requestHandler: new NodeHttpHandler({ httpAgent: agent }) } : {}),
  });
}

const PAD = 'x'.repeat(170);
function item(i, prefix = 'key') {
  return {
    pkey: { S: prefix + i },
    skey: { S: 's' + (i % 7) },
    n: { N: String(i) },
    pad: { S: PAD.slice(0, 170 - String(i).length) + String(i) },
  };
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function batchWrite(c, table, items) {
  let req = { [table]: items.map((Item) => ({ PutRequest: { Item } })) };
  for (let attempt = 0; ; attempt++) {
    const out = await c.send(new BatchWriteItemCommand({ RequestItems: req }));
    const un = out.UnprocessedItems || {};
    if (!un[table] || un[table].length === 0) return;
    if (attempt > 20) throw new Error('UnprocessedItems did not drain');
    req = un;
    await new Promise((r) => setTimeout(r, Math.min(1000, 10 * 2 ** attempt)));
  }
}

// count items starting at 'from', 25 a request, `concurrency` requests in flight.
async function writeItems(c, table, count, concurrency, prefix, from = 0) {
  let next = 0;
  const nreq = Math.ceil(count / 25);
  async function worker() {
    for (;;) {
      const r = next++;
      if (r >= nreq) return;
      const items = [];
      for (let i = r * 25; i < Math.min(count, (r + 1) * 25); i++) items.push(item(from + i, prefix));
      await batchWrite(c, table, items);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function scanAll(c, table, segment, total) {
  let n = 0;
  let pages = 0;
  let key;
  do {
    const out = await c.send(new ScanCommand({
      TableName: table, ExclusiveStartKey: key,
      ...(total ? { Segment: segment, TotalSegments: total } : {}),
    }));
    n += out.Items.length;
    pages++;
    key = out.LastEvaluatedKey;
  } while (key);
  return { n, pages };
}

// Raw HTTP (no SDK) for the replay capture: the exact bytes DynamoDB Local sends.
function raw(op, body) {
  const url = new URL(endpoint);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: '/', method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.0',
        'X-Amz-Target': 'DynamoDB_20120810.' + op,
        Authorization: 'AWS4-HMAC-SHA256 Credential=dlftestkey/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        'Content-Length': Buffer.byteLength(data),
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (ch) => chunks.push(ch));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks))
        : reject(new Error(op + ': HTTP ' + res.statusCode + ' ' + Buffer.concat(chunks)))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  const c = client();
  const out = {};
  if (cmd === 'create') {
    const [table] = args;
    await c.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
    await c.send(new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'pkey', AttributeType: 'S' }, { AttributeName: 'skey', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pkey', KeyType: 'HASH' }, { AttributeName: 'skey', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
    }));
    out.created = table;
  } else if (cmd === 'load') {
    const [table, count, conc = '4', prefix = 'key'] = args;
    const t0 = now();
    await writeItems(c, table, Number(count), Number(conc), prefix);
    out.seconds = (now() - t0) / 1000;
    const d = await c.send(new DescribeTableCommand({ TableName: table }));
    out.items = d.Table.ItemCount;
    out.bytes = d.Table.TableSizeBytes;
  } else if (cmd === 'scan' || cmd === 'pscan') {
    const table = args[0];
    const segs = cmd === 'pscan' ? Number(args[1]) : 0;
    const runs = Number(args[cmd === 'pscan' ? 2 : 1]);
    const once = async () => {
      if (!segs) return scanAll(c, table);
      const parts = await Promise.all(Array.from({ length: segs }, (_, s) => scanAll(c, table, s, segs)));
      return parts.reduce((a, p) => ({ n: a.n + p.n, pages: a.pages + p.pages }), { n: 0, pages: 0 });
    };
    // warm-up: the client's connection and code path (a full warm-up round is bench/run.sh's job)
    await Promise.all(Array.from({ length: segs || 1 }, (_, s) => c.send(new ScanCommand({
      TableName: table, Limit: 25, ...(segs ? { Segment: s, TotalSegments: segs } : {}) }))));
    out.ms = [];
    for (let r = 0; r < runs; r++) {
      const t0 = now();
      const res = await once();
      out.ms.push(now() - t0);
      if (out.items !== undefined && res.n !== out.items) throw new Error(`scan counted ${res.n}, before ${out.items}`);
      out.items = res.n;
      out.pages = res.pages;
    }
    out.median_ms = median(out.ms);
  } else if (cmd === 'query') {
    const [table, nkeys, queries] = args.map((a, i) => (i ? Number(a) : a));
    let seed = 12345;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % nkeys; };
    const one = async () => {
      const res = await c.send(new QueryCommand({
        TableName: table, KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': 'pkey' }, ExpressionAttributeValues: { ':pk': { S: 'key' + rnd() } },
      }));
      if (res.Items.length !== 1) throw new Error('query found ' + res.Items.length + ' items');
    };
    for (let i = 0; i < 20; i++) await one(); // warm-up
    const ms = [];
    for (let i = 0; i < queries; i++) {
      const t0 = now();
      await one();
      ms.push(now() - t0);
    }
    out.queries = queries;
    out.median_ms = median(ms);
    out.mean_ms = ms.reduce((a, b) => a + b, 0) / ms.length;
  } else if (cmd === 'write') {
    const [table, count, runs, conc] = args;
    await writeItems(c, table, 25, 1, 'ins'); // warm-up: the connection and code path
    out.ms = [];
    for (let r = 0; r < Number(runs); r++) {
      const t0 = now();
      await writeItems(c, table, Number(count), Number(conc), 'ins');
      out.ms.push(now() - t0);
    }
    out.median_ms = median(out.ms);
  } else if (cmd === 'capture') {
    const [table, pages, dir] = args;
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'describe.json'), await raw('DescribeTable', { TableName: table }));
    let key;
    out.pages = [];
    for (let p = 0; p < Number(pages); p++) {
      const body = await raw('Scan', { TableName: table, ...(key ? { ExclusiveStartKey: key } : {}) });
      const doc = JSON.parse(body);
      fs.writeFileSync(path.join(dir, `page${p}.json`), body);
      out.pages.push({ bytes: body.length, items: doc.Items.length });
      key = doc.LastEvaluatedKey;
      if (!key) break;
    }
  } else {
    throw new Error('unknown command ' + cmd);
  }
  console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), (e) => { console.error(e.stack || e.message); process.exit(1); });
