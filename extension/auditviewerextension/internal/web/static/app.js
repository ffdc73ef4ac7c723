// The audit viewer's page: plain JavaScript, no dependencies. Every value
// from the archive is written with textContent, never as HTML: audit data
// is attacker-influenced.
'use strict';

const $ = (sel) => document.querySelector(sel);
const form = $('#filters');
const state = { page: 1, limit: 50, utc: false, rows: [], hints: null };
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function pad(n, w = 2) { return String(n).padStart(w, '0'); }

// fmtTime shows an archive time (RFC 3339 UTC, nine fraction digits) in
// this browser's zone with its offset, or in UTC with every digit.
function fmtTime(iso) {
  if (!iso) return '';
  if (state.utc) return iso.replace('T', ' ').replace('Z', ' UTC');
  const d = new Date(iso.replace(/(\.\d{3})\d+/, '$1'));
  if (isNaN(d)) return iso;
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} ` +
    `${off >= 0 ? '+' : '-'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

// toUTCInput and toLocalInput convert a datetime-local value between the
// browser's zone and UTC, so toggling UTC keeps the same instant. They keep
// its precision (minutes or seconds): an end time takes in its whole last
// unit.
function toUTCInput(v) {
  if (!v) return v;
  const d = new Date(v);
  return isNaN(d) ? v : d.toISOString().slice(0, v.length);
}
function toLocalInput(v) {
  if (!v) return v;
  const d = new Date(v + 'Z');
  if (isNaN(d)) return v;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`.slice(0, v.length);
}

// filterParams reads the form into the API's query parameters.
function filterParams() {
  const p = new URLSearchParams();
  for (const name of ['resource', 'action', 'actor', 'source', 'severity', 'text', 'since', 'until']) {
    const v = form.elements[name].value.trim();
    if (v) p.set(name, v);
  }
  if (p.has('since') || p.has('until')) p.set('tz', state.utc ? 'UTC' : browserZone);
  if (form.elements.problems.checked) p.set('integrity', 'problems');
  return p;
}

function showError(msg) {
  const e = $('#error');
  e.textContent = msg || '';
  e.hidden = !msg;
}

async function getJSON(url) {
  const resp = await fetch(url, { headers: { Accept: 'application/json' } });
  let body;
  try { body = await resp.json(); } catch { body = {}; }
  if (!resp.ok) throw new Error(body.error || `${resp.status} ${resp.statusText}`);
  return body;
}

function hintFor(row, col) {
  const h = state.hints;
  if (!h) return '';
  if (col === 'action' && row.source === 'sippy') {
    const a = h.byCode.get(row.action);
    if (a) return `${a.code}: ${a.description}. Resource syntax: ${a.resource}`;
  }
  if (col === 'action' && row.kind === 'marker') return 'A record the archive writer made about the archive itself (' + row.action + ')';
  if (col === 'actor' && row.source === 'sippy') return h.sippy_actor;
  return h.byColumn.get(col) || '';
}

function cell(tr, cls, text, title) {
  const td = document.createElement('td');
  td.className = cls;
  td.textContent = text;
  if (title) td.title = title;
  tr.appendChild(td);
  return td;
}

function render() {
  const tbody = $('#events tbody');
  tbody.replaceChildren();
  if (state.rows.length === 0) {
    const tr = document.createElement('tr');
    tr.className = 'empty';
    const td = cell(tr, '', 'No events match these filters.');
    td.colSpan = 9;
    tbody.appendChild(tr);
    return;
  }
  for (const r of state.rows) {
    const tr = document.createElement('tr');
    const flagged = r.integrity !== 'ok' || r.alarm;
    if (flagged) tr.classList.add('flagged');
    if (r.kind === 'marker') tr.classList.add('marker');
    tr.dataset.file = r.file;
    tr.dataset.line = r.line;
    const why = r.integrity !== 'ok' ? `Integrity ${r.integrity}: ${r.integrity_error}` : (r.alarm ? `Archive alarm: ${r.integrity_error}` : '');
    cell(tr, 'mark', flagged ? '\u26a0' : '', why || 'Integrity ok: the line matches its hash and follows the line before it');
    cell(tr, 'time', fmtTime(r.time), hintFor(r, 'time'));
    cell(tr, 'source', r.kind === 'marker' ? '(archive)' : r.source, hintFor(r, 'source'));
    cell(tr, 'resource', r.resource, hintFor(r, 'resource'));
    cell(tr, 'action', r.action, hintFor(r, 'action'));
    cell(tr, 'actor', r.actor, hintFor(r, 'actor'));
    cell(tr, 'client_address', r.client_address, hintFor(r, 'client_address'));
    cell(tr, 'severity sev-' + r.severity, r.severity, hintFor(r, 'severity'));
    cell(tr, 'message', r.message + (r.truncated ? ' \u2026' : ''), why || (r.truncated ? 'Cut for the table: the downloads and the line view carry all of it' : ''));
    if (why) tr.title = why;
    tbody.appendChild(tr);
  }
}

// updateLinks points the downloads at the rows the table shows: the
// filters last applied (they carry their own tz, so toggling UTC later
// does not change them).
function updateLinks(p) {
  const q = p.toString();
  $('#download-csv').href = 'api/events.csv' + (q ? '?' + q : '');
  $('#download-jsonl').href = 'api/events.jsonl' + (q ? '?' + q : '');
}

async function load() {
  const p = filterParams();
  updateLinks(p);
  // The filters live in the address, so a view can be bookmarked or sent;
  // start and end as UTC instants, so the link means the same anywhere.
  const view = new URLSearchParams(p);
  view.delete('tz');
  for (const name of ['since', 'until']) {
    if (view.has(name)) view.set(name, (state.utc ? view.get(name) : toUTCInput(view.get(name))) + 'Z');
  }
  if (state.utc) view.set('utc', '1');
  if (state.page > 1) view.set('page', state.page);
  history.replaceState(null, '', view.toString() ? '#' + view.toString() : location.pathname);
  p.set('page', state.page);
  p.set('limit', state.limit);
  $('#apply').disabled = true;
  try {
    const page = await getJSON('api/events?' + p.toString());
    showError('');
    state.rows = page.rows;
    render();
    const pages = Math.max(1, Math.ceil(page.total / page.limit));
    $('#page-info').textContent = `Page ${page.page} of ${pages} \u00b7 ${page.total.toLocaleString()} matching events`;
    $('#newer').disabled = page.page <= 1;
    $('#older').disabled = page.page >= pages;
    const a = page.archive;
    $('#archive-status').textContent = `${a.events.toLocaleString()} events in ${a.files} files \u00b7 answered in ${(page.took_ns / 1e6).toFixed(1)} ms`;
    const banner = $('#problems-banner');
    const notes = [];
    if (a.problems) notes.push(`\u26a0 ${a.problems} line(s) of the archive failed their integrity check or record damage. Tick "Integrity problems only" to list them.`);
    if (a.excluded_files) notes.push(`The ${a.excluded_files} oldest rotated file(s) are not searchable here (index memory limit, index_memory_limit_mib); auditctl query reads them.`);
    try {
      const v = await getJSON('api/integrity');
      if (!v.intact || v.uncovered_lines || !v.signatures_checked) notes.push(`${v.summary} Full proof, off this host: ${v.command}`);
    } catch (err) {
      // Not checked yet: the next load shows it.
    }
    banner.hidden = notes.length === 0;
    banner.textContent = notes.join(' ');
  } catch (err) {
    showError('Could not load events: ' + err.message);
  } finally {
    $('#apply').disabled = false;
  }
}

async function showLine(file, line) {
  try {
    const d = await getJSON(`api/line?file=${encodeURIComponent(file)}&line=${encodeURIComponent(line)}`);
    $('#detail-place').textContent = `${file}:${line}`;
    const integ = $('#detail-integrity');
    const bad = d.row.integrity !== 'ok';
    integ.className = bad ? 'bad' : '';
    integ.textContent = bad ? `\u26a0 Integrity ${d.row.integrity}: ${d.row.integrity_error}` : 'Integrity ok: the line matches its hash and follows the line before it.';
    let text = d.line;
    try { text = JSON.stringify(JSON.parse(d.line), null, 2); } catch { /* shown as it is */ }
    $('#detail-line').textContent = text;
    $('#detail').hidden = false;
    $('#detail').scrollIntoView({ behavior: 'smooth' });
  } catch (err) {
    showError('Could not load the line: ' + err.message);
  }
}

async function loadHints() {
  try {
    const h = await getJSON('api/hints');
    h.byCode = new Map(h.sippy_actions.map((a) => [a.code, a]));
    h.byColumn = new Map(h.columns.map((c) => [c.key, c.hint]));
    state.hints = h;
    for (const th of document.querySelectorAll('#events th[data-col]')) {
      th.title = h.byColumn.get(th.dataset.col) || '';
    }
    const list = $('#action-codes');
    for (const a of h.sippy_actions) {
      const o = document.createElement('option');
      o.value = a.code;
      o.label = `${a.code} \u2014 ${a.description} (Sippy)`;
      list.appendChild(o);
    }
  } catch (err) {
    showError('Could not load the hints: ' + err.message);
  }
}

function showZone() {
  $('#zone').textContent = state.utc ? 'Times in UTC' : `Times in ${browserZone}`;
}

form.addEventListener('submit', (e) => { e.preventDefault(); state.page = 1; load(); });
$('#clear').addEventListener('click', () => { form.reset(); $('#utc').checked = state.utc; state.page = 1; load(); });
$('#utc').addEventListener('change', (e) => {
  state.utc = e.target.checked;
  for (const name of ['since', 'until']) {
    const el = form.elements[name];
    el.value = state.utc ? toUTCInput(el.value) : toLocalInput(el.value);
  }
  showZone();
  render();
});
$('#newer').addEventListener('click', () => { if (state.page > 1) { state.page--; load(); } });
$('#older').addEventListener('click', () => { state.page++; load(); });
$('#limit').addEventListener('change', (e) => { state.limit = Number(e.target.value); state.page = 1; load(); });
$('#events tbody').addEventListener('click', (e) => {
  const tr = e.target.closest('tr');
  if (tr && tr.dataset.file) showLine(tr.dataset.file, tr.dataset.line);
});
$('#detail-close').addEventListener('click', () => { $('#detail').hidden = true; });

// restoreView fills the form from the address (see load).
function restoreView() {
  const v = new URLSearchParams(location.hash.slice(1));
  state.utc = v.get('utc') === '1';
  $('#utc').checked = state.utc;
  for (const name of ['resource', 'action', 'actor', 'source', 'severity', 'text']) {
    if (v.has(name)) form.elements[name].value = v.get(name);
  }
  for (const name of ['since', 'until']) {
    const t = (v.get(name) || '').replace(/Z$/, '');
    if (t) form.elements[name].value = state.utc ? t : toLocalInput(t);
  }
  form.elements.problems.checked = v.get('integrity') === 'problems';
  state.page = Math.max(1, Number(v.get('page')) || 1);
}

restoreView();
showZone();
loadHints().then(load);
