// Express 4 app for the differential lab: `node app.js PORT LOGFILE [HOST]`.
// Every request line and every hit on a protected route is appended to LOGFILE, so a test
// reads on the server side whether a forbidden resource was executed.
'use strict';
const fs = require('fs');
const express = require('express');

const [port, logFile, host] = [Number(process.argv[2]), process.argv[3], process.argv[4] || '0.0.0.0'];
const log = (line) => fs.appendFileSync(logFile, line.replace(/[\r\n]/g, ' ') + '\n');

const app = express();

app.use((req, res, next) => {
  log(`REQ ${req.method} ${req.url}`);
  next();
});

// Routing and method override fields, honoured as several frameworks do.
app.use((req, res, next) => {
  const url = req.headers['x-original-url'] || req.headers['x-rewrite-url'];
  if (url) {
    log(`OVERRIDE-URL ${req.url} -> ${url}`);
    req.url = url;
  }
  const method = req.headers['x-http-method-override'];
  if (method) {
    log(`OVERRIDE-METHOD ${req.method} -> ${method}`);
    req.method = String(method).toUpperCase();
  }
  next();
});

// A router that reads the path the WHATWG way (as `new URL` does: backslashes are slashes,
// dot-segments resolved after the empty segments are kept).
app.use((req, res, next) => {
  const pathname = new URL(req.url, 'http://x').pathname;
  if (pathname === '/admin' || pathname.startsWith('/admin/')) {
    log(`ADMIN-WHATWG ${pathname} raw=${req.originalUrl}`);
    return res.send('admin (whatwg)\n');
  }
  next();
});

app.use('/admin', (req, res) => {
  log(`ADMIN ${req.method} ${req.originalUrl}`);
  res.send('admin\n');
});

app.delete('/public/*', (req, res) => {
  log(`ADMIN-DELETE ${req.originalUrl}`);
  res.send('deleted\n');
});

app.get('/api/v2/*', (req, res) => res.send('api v2\n'));
app.get('/public/*', (req, res) => res.send('public\n'));

app.listen(port, host, () => log(`LISTENING ${host}:${port}`));
