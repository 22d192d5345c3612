// A webhook receiver that checks Sentry-Hook-Signature the way
// getsentry/integration-platform-example's TypeScript backend does (and the
// receivers copied from it): the body is parsed as JSON (decoded as UTF-8,
// like Express's body parser) and the HMAC-SHA256 is computed over
// JSON.stringify of the parsed value, not over the bytes received.
//
// It listens on 127.0.0.1 and prints {"port":N}; its first stdin line is the
// client secret. Each request answers 200 when the signature matches, 401
// otherwise, and prints {"ok":…,"delivery":…,"data":…} on one line. It exits
// when stdin closes.
'use strict';
const http = require('http');
const crypto = require('crypto');
const readline = require('readline');

let secret = null;
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => { if (secret === null) secret = line; });
rl.on('close', () => process.exit(0));

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let ok = false;
    let body = null;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const hmac = crypto.createHmac('sha256', secret);
      hmac.update(JSON.stringify(body), 'utf8');
      ok = hmac.digest('hex') === req.headers['sentry-hook-signature'];
    } catch (e) {
      ok = false;
    }
    process.stdout.write(JSON.stringify({
      ok, delivery: req.headers['hookworker-delivery-id'] || '', data: body && body.data,
    }) + '\n');
    res.statusCode = ok ? 200 : 401;
    res.setHeader('Content-Type', 'application/json');
    res.end(ok ? '{"ok":true}' : '{"error":"Invalid signature"}');
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
