#!/usr/bin/env node
// A fake DynamoDB endpoint for bench/run.sh's replay mode: answers from captured response bodies,
// at memory speed, so a scan through it measures the client side (HTTP + decode + rows) alone.
//
//   node bench/replay.js PORT DIR PAGES
//
// DIR holds describe.json (a DescribeTable answer) and page0.json ... pageK.json (Scan answers,
// as bench/sdk.js capture writes them). DescribeTable gets describe.json; Scan gets the captured
// pages in turn, PAGES in all (N for a table named pages<N>), each but the last with a
// LastEvaluatedKey naming the next page ({"pkey":{"S":"replay<n>"},"skey":{"S":"replay"}}), so
// one Scan walks PAGES pages. The pages are prepared at start-up; a request writes one and a tail.
// Query finds nothing (bench/run.sh warms a backend up with one); any other operation is a 400.
// It stops on SIGTERM/SIGINT (bench/run.sh's trap) and answers only on 127.0.0.1.
const http = require('http');
const fs = require('fs');
const path = require('path');

const [port, dir, pagesArg] = process.argv.slice(2);
const PAGES = Number(pagesArg);

const describe = fs.readFileSync(path.join(dir, 'describe.json'));
const heads = []; // each captured page without its closing brace and LastEvaluatedKey
for (let p = 0; fs.existsSync(path.join(dir, `page${p}.json`)); p++) {
  const doc = JSON.parse(fs.readFileSync(path.join(dir, `page${p}.json`), 'utf8'));
  delete doc.LastEvaluatedKey;
  const s = JSON.stringify(doc);
  heads.push(s.slice(0, -1));
}
if (heads.length === 0) throw new Error('no captured pages in ' + dir);
const headBufs = heads.map((h) => Buffer.from(h));
// The answer to the request for page n of a scan of total pages: a captured page and its tail.
function page(n, total) {
  const tail = Buffer.from(n + 1 < total
    ? `,"LastEvaluatedKey":{"pkey":{"S":"replay${n + 1}"},"skey":{"S":"replay"}}}` : '}');
  return [headBufs[n % headBufs.length], tail];
}
// A table named pages<N> has N pages; any other name has PAGES.
function pagesOf(tableName) {
  const m = /^pages(\d+)$/.exec(String(tableName || ''));
  return m ? Math.max(1, Number(m[1])) : PAGES;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const op = String(req.headers['x-amz-target'] || '').split('.').pop();
    let body;
    let request = {};
    try { request = JSON.parse(Buffer.concat(chunks).toString()); } catch (e) { /* as {} */ }
    if (op === 'DescribeTable') {
      body = [describe];
    } else if (op === 'Scan') {
      const total = pagesOf(request.TableName);
      const k = request.ExclusiveStartKey;
      const n = k && k.pkey && /^replay\d+$/.test(k.pkey.S) ? Number(k.pkey.S.slice(6)) : 0;
      body = page(Math.min(n, total - 1), total);
    } else if (op === 'Query') {
      body = [Buffer.from('{"Items":[],"Count":0,"ScannedCount":0}')]; // the FDW's warm-up statement
    } else {
      res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: 'replay: ' + op }));
      return;
    }
    const length = body.reduce((a, b) => a + b.length, 0);
    res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.0', 'Content-Length': length });
    for (let i = 0; i < body.length - 1; i++) res.write(body[i]);
    res.end(body[body.length - 1]);
  });
});
server.keepAliveTimeout = 60000;
server.listen(Number(port), '127.0.0.1');
const stop = () => { server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
