#!/usr/bin/env node
// A TLS-terminating forwarder for the TAP tests: HTTPS in front of a plain-HTTP DynamoDB (Local) or
// t/bin/fault-proxy.js. Node built-ins only.
//
//   node t/bin/tls-forward.js PORT CERT.pem KEY.pem UPSTREAM [--exit-on-eof]
//
// Listens on 127.0.0.1:PORT (0: any free port) with the certificate (chain) and key given, and prints
// the port as the first line on stdout. Every request is forwarded to UPSTREAM unchanged (headers,
// body) and the answer relayed. Each TLS handshake that fails is reported on stdout as one line
// "tls-error <code>", each request forwarded as "forwarded <X-Amz-Target operation>", so a test can
// tell that a client gave up during the handshake and never sent its request.
// With --exit-on-eof it exits when its stdin closes, so it dies with the test that started it.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');

const [portArg, certFile, keyFile, upstreamArg, flag] = process.argv.slice(2);
if (portArg === undefined || !certFile || !keyFile || !upstreamArg) {
  console.error('usage: tls-forward.js PORT CERT.pem KEY.pem UPSTREAM [--exit-on-eof]');
  process.exit(2);
}
const upstream = new URL(upstreamArg);
const agent = new http.Agent({ keepAlive: true });

const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile),
  keepAliveTimeout: 60000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const target = String(req.headers['x-amz-target'] || '');
    console.log('forwarded ' + (target.slice(target.lastIndexOf('.') + 1) || '(none)'));
    const headers = { ...req.headers, 'content-length': body.length };
    delete headers.connection;
    const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method,
      headers, agent }, (ur) => {
      const parts = [];
      ur.on('data', (c) => parts.push(c));
      ur.on('end', () => {
        const out = Buffer.concat(parts);
        const h = { ...ur.headers, 'content-length': out.length };
        delete h.connection;
        delete h['transfer-encoding'];
        res.writeHead(ur.statusCode, h);
        res.end(out);
      });
    });
    up.on('error', (e) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('tls-forward: ' + e.message);
    });
    up.end(body);
  });
});
server.on('tlsClientError', (err) => console.log('tls-error ' + (err.code || err.message)));
server.listen(Number(portArg), '127.0.0.1', () => console.log(server.address().port));
if (flag === '--exit-on-eof') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));
