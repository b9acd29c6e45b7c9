#!/usr/bin/env node
// Minimal DynamoDB Local client for fixtures (no dependencies). DynamoDB Local does not check
// signatures, so a well-formed dummy Authorization header is enough.
//   node t/bin/ddb.js ENDPOINT call Operation '{"json":...}'
//   node t/bin/ddb.js ENDPOINT create-tables FILE.json      (array of CreateTable requests; existing tables are dropped first)
const http = require('http');
const fs = require('fs');

const [endpoint, cmd, a, b] = process.argv.slice(2);

function call(op, body) {
  const url = new URL(endpoint);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: '/', method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.0',
        'X-Amz-Target': 'DynamoDB_20120810.' + op,
        'Authorization': 'AWS4-HMAC-SHA256 Credential=fixture/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        'Content-Length': Buffer.byteLength(data),
      },
    }, (res) => {
      let out = '';
      res.on('data', (c) => { out += c; });
      res.on('end', () => {
        const parsed = out ? JSON.parse(out) : {};
        if (res.statusCode !== 200) reject(new Error(op + ': ' + out));
        else resolve(parsed);
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  if (cmd === 'call') {
    console.log(JSON.stringify(await call(a, JSON.parse(b || '{}'))));
  } else if (cmd === 'create-tables') {
    for (const t of JSON.parse(fs.readFileSync(a, 'utf8'))) {
      await call('DeleteTable', { TableName: t.TableName }).catch(() => {});
      await call('CreateTable', t);
    }
  } else {
    throw new Error('usage: ddb.js ENDPOINT call OP JSON | create-tables FILE');
  }
}
main().catch((e) => { console.error(e.message); process.exit(1); });
