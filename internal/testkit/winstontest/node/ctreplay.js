// ctreplay.js logs CTReplay audit events through winston as CTReplay does:
// a winston logger whose transports are winston-syslog (seed 001's
// syslogHost, syslogPort, syslogProtocol, syslogFacility) and/or winston's
// File transport (fileLoggerPath), the message being the event's JSON line.
//
//   node ctreplay.js '<config JSON>'
//
// config: {"syslog": {host, port, protocol, facility, path, type},
//          "file": {filename, maxsize, maxFiles, tailable, zippedArchive}}
//
// It reads commands from stdin, one JSON object per line, and answers each
// with "done" on stdout once winston took every event of it:
//   {"burst": n, "from": k, "params": "...", "gapMs": 0}  log events k..k+n-1
//   {"close": true}                                     close the logger and exit
// Event i has userID "u<i>" and params "seq-<i> <params>", so a reader can
// count what arrived (seq first: it survives a SIEM cutting long messages).
'use strict';
const readline = require('readline');
const winston = require('winston');
require('winston-syslog');

const cfg = JSON.parse(process.argv[2] || '{}');

// CTReplay's line: its fields in seed 001's order.
const ctreplayLine = winston.format.printf(info => JSON.stringify({
  ts: info.ts,
  domain: info.domain,
  userID: info.userID,
  ipAddress: info.ipAddress,
  action: info.action,
  params: info.params,
  level: info.level,
}));

const transports = [];
if (cfg.syslog) {
  const t = new winston.transports.Syslog(Object.assign({ format: ctreplayLine }, cfg.syslog));
  t.on('error', err => process.stderr.write(`syslog transport error: ${err.message}\n`));
  transports.push(t);
}
if (cfg.file) {
  const t = new winston.transports.File(Object.assign({ format: ctreplayLine }, cfg.file));
  t.on('error', err => process.stderr.write(`file transport error: ${err.message}\n`));
  transports.push(t);
}
const logger = winston.createLogger({ transports });
// winston re-emits a transport's errors on the logger; without a listener
// Node would end the process (a unix datagram send refused for congestion).
logger.on('error', err => process.stderr.write(`logger error: ${err.message}\n`));

const pad = (n, w) => String(n).padStart(w, '0');
function ts(d) {
  return `${pad(d.getDate(), 2)}/${pad(d.getMonth() + 1, 2)}/${d.getFullYear()} - ` +
    `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds(), 3)}`;
}
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function burst(c) {
  const n = c.burst, from = c.from || 0;
  for (let i = from; i < from + n; i++) {
    logger.log({
      level: 'info',
      message: '',
      ts: ts(new Date()),
      domain: 'SAASFCL',
      userID: `u${i}`,
      ipAddress: '10.0.0.1',
      action: c.action || 'SEARCH Recording',
      params: `seq-${i} ${c.params || ''}`.trimEnd(),
    });
    if (c.gapMs) {
      await sleep(c.gapMs);
    }
  }
}

async function close() {
  // winston-syslog's close waits (up to about 4 s) for its queue to drain.
  const done = new Promise(resolve => {
    let left = transports.length;
    if (left === 0) resolve();
    for (const t of transports) {
      t.once('closed', () => { if (--left === 0) resolve(); });
      t.once('finish', () => { if (--left === 0) resolve(); });
    }
  });
  logger.close();
  await Promise.race([done, sleep(6000)]);
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', line => {
  chain = chain.then(async () => {
    const c = JSON.parse(line);
    if (c.burst !== undefined) {
      await burst(c);
    }
    if (c.close) {
      await close();
      process.stdout.write('done\n');
      process.exit(0);
    }
    // Let winston's streams take what was logged before answering.
    await new Promise(resolve => setImmediate(resolve));
    process.stdout.write('done\n');
  });
});
