// The audit viewer's page: plain JavaScript, no dependencies. Every value
// from the archive is written with textContent, never as HTML: audit data
// is attacker-influenced.
'use strict';

const $ = (sel) => document.querySelector(sel);
const form = $('#filters');
const state = { page: 1, last: false, limit: 50, utc: false, rows: [], hints: null, selected: -1, pages: 1, more: false, ok: false };

// apiURL makes an absolute URL for the API from the page's origin and
// path, never from its whole address: a page opened as
// http://user:pass@host/ has credentials in its address, and fetch()
// refuses a URL that carries them (the browser sends the credentials it
// was given anyway).
function apiURL(path, loc = location) {
  const dir = loc.pathname.replace(/[^/]*$/, '');
  return loc.origin + dir + path;
}
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
  if (form.elements.unparsed.checked) p.set('parse', 'failed');
  return p;
}

function showError(msg) {
  const e = $('#error');
  e.textContent = msg || '';
  e.hidden = !msg;
}

async function getJSON(url) {
  const resp = await fetch(apiURL(url), { headers: { Accept: 'application/json' } });
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

function flagOf(r) {
  if (r.integrity !== 'ok') return { mark: '\u26a0', why: `Integrity ${r.integrity}: ${r.integrity_error}` };
  if (r.alarm) return { mark: '\u26a0', why: `Archive alarm: ${r.integrity_error}` };
  if (r.parse_error) return { mark: '?', why: `Unparsed input: ${r.parse_error}` };
  return { mark: '', why: '' };
}

function dateText(r) {
  return fmtTime(r.time) + (r.time_received ? ' (received)' : '');
}

function dateHint(r) {
  if (r.time_received) return 'This event had no time of its own (missing or unreadable): the Date is when the collector RECEIVED it.';
  return hintFor(r, 'time');
}

function render() {
  const tbody = $('#events tbody');
  tbody.replaceChildren();
  if (state.rows.length === 0) {
    const tr = document.createElement('tr');
    tr.className = 'empty';
    const td = cell(tr, '', state.ok ? 'No events match these filters.' : 'No events shown: correct the filters above.');
    td.colSpan = 9;
    tbody.appendChild(tr);
    return;
  }
  // A shared index (several collectors): a column names each row's
  // collector; one collector's own index has none.
  const shared = state.rows.some((r) => r.collector);
  $('#col-collector').hidden = !shared;
  state.rows.forEach((r, i) => {
    const tr = document.createElement('tr');
    const f = flagOf(r);
    if (r.integrity !== 'ok' || r.alarm) tr.classList.add('flagged');
    else if (r.parse_error) tr.classList.add('unparsed');
    if (r.kind === 'marker') tr.classList.add('marker');
    if (i === state.selected) tr.classList.add('selected');
    tr.dataset.index = i;
    tr.dataset.file = r.file;
    tr.dataset.line = r.line;
    cell(tr, 'mark', f.mark, f.why || 'Integrity ok: the line matches its hash and follows the line before it');
    cell(tr, 'time' + (r.time_received ? ' received' : ''), dateText(r), dateHint(r));
    cell(tr, 'source', r.kind === 'marker' ? '(archive)' : r.source, hintFor(r, 'source'));
    cell(tr, 'resource', r.resource, hintFor(r, 'resource'));
    cell(tr, 'action', r.action, hintFor(r, 'action'));
    cell(tr, 'actor', r.actor, hintFor(r, 'actor'));
    cell(tr, 'client_address', r.client_address, hintFor(r, 'client_address'));
    cell(tr, 'severity sev-' + r.severity, r.severity, hintFor(r, 'severity'));
    cell(tr, 'message', r.message + (r.truncated ? ' \u2026' : ''), f.why || (r.truncated ? 'Cut for the table: the downloads and the detail view carry all of it' : ''));
    if (shared) cell(tr, 'collector', r.collector || '', r.archive ? `In ${r.collector}'s archive ${r.archive}` : '');
    if (f.why) tr.title = f.why;
    tbody.appendChild(tr);
  });
}

// setDownloads points the downloads at the rows the table shows (the
// filters last applied: they carry their own tz, so toggling UTC later
// does not change them), or (p null) disables them: an invalid filter
// must not leave links to other rows.
function setDownloads(p) {
  for (const [id, path] of [['#download-csv', 'api/events.csv'], ['#download-jsonl', 'api/events.jsonl']]) {
    const a = $(id);
    if (p) {
      const q = p.toString();
      a.href = apiURL(path + (q ? '?' + q : ''));
      a.removeAttribute('aria-disabled');
      a.classList.remove('disabled');
    } else {
      a.removeAttribute('href');
      a.setAttribute('aria-disabled', 'true');
      a.classList.add('disabled');
    }
  }
}


// clearTable empties the table and disables the downloads: what is shown
// must always be what the filters above select.
function clearTable(msg) {
  state.rows = [];
  state.ok = false;
  state.selected = -1;
  render();
  setDownloads(null);
  $('#page-info').textContent = '';
  for (const id of ['#first', '#newer', '#older', '#last']) $(id).disabled = true;
  $('#detail').hidden = true;
  showError(msg);
}

async function load(select) {
  const p = filterParams();
  // The filters live in the address, so a view can be bookmarked or sent;
  // start and end as UTC instants, so the link means the same anywhere.
  const view = new URLSearchParams(p);
  view.delete('tz');
  for (const name of ['since', 'until']) {
    if (view.has(name)) view.set(name, (state.utc ? view.get(name) : toUTCInput(view.get(name))) + 'Z');
  }
  if (state.utc) view.set('utc', '1');
  if (state.last) view.set('page', 'last');
  else if (state.page > 1) view.set('page', state.page);
  history.replaceState(null, '', view.toString() ? '#' + view.toString() : location.pathname);
  const q = new URLSearchParams(p);
  q.set('page', state.last ? 'last' : state.page);
  q.set('limit', state.limit);
  $('#apply').disabled = true;
  try {
    const page = await getJSON('api/events?' + q.toString());
    showError('');
    setDownloads(p);
    state.ok = true;
    state.rows = page.rows;
    state.last = false;
    state.page = page.page;
    state.more = !!page.total_more;
    state.pages = Math.max(1, Math.ceil(page.total / page.limit));
    state.selected = select === 'first' ? 0 : select === 'last' ? state.rows.length - 1 : -1;
    render();
    const total = (page.total_more ? 'more than ' : '') + page.total.toLocaleString();
    const of = page.total_more ? 'many' : state.pages.toLocaleString();
    $('#page-info').textContent = `Page ${page.page.toLocaleString()} of ${of} \u00b7 ${total} matching events`;
    $('#goto-page').max = page.total_more ? '' : state.pages;
    $('#first').disabled = $('#newer').disabled = page.page <= 1;
    $('#older').disabled = $('#last').disabled = !page.total_more && page.page >= state.pages;
    const a = page.archive;
    $('#archive-status').textContent = `${a.events.toLocaleString()} events in ${a.files} files \u00b7 answered in ${(page.took_ns / 1e6).toFixed(1)} ms` +
      (a.indexing ? ' \u00b7 indexing the archive: the newest lines may not be searchable yet' : '');
    const banner = $('#problems-banner');
    const notes = [];
    for (const w of a.warnings || []) if (w.startsWith('the index is behind')) notes.push('\u23f3 ' + w);
    if (a.problems) notes.push(`\u26a0 ${a.problems} line(s) of the archive failed their integrity check or record damage. Tick "Integrity problems only" to list them.`);
    try {
      const v = await getJSON('api/integrity');
      if (!v.intact || v.uncovered_lines || !v.signatures_checked) notes.push(`${v.summary} Full proof, off this host: ${v.command}`);
    } catch (err) {
      // Not checked yet: the next load shows it.
    }
    banner.hidden = notes.length === 0;
    banner.textContent = notes.join(' ');
    if (state.selected >= 0 && !$('#detail').hidden) showSelected();
  } catch (err) {
    clearTable('Could not load events: ' + err.message);
  } finally {
    $('#apply').disabled = false;
  }
}

// The detail panel: the selected row's fields, labelled, and its archive
// line as the file holds it now.
const detailFields = [
  ['Date', (r) => dateText(r) + (r.time_received ? ' \u2014 when the collector received it: the event had no time of its own' : '')],
  ['Source', (r) => r.kind === 'marker' ? '(archive)' : r.source],
  ['Resource', (r) => r.resource],
  ['Action', (r) => r.action],
  ['Action by', (r) => r.actor],
  ['User IP/Node', (r) => r.client_address],
  ['Severity', (r) => r.severity],
  ['Message', (r) => r.message],
  ['Unparsed input', (r) => r.parse_error],
  ['Kind', (r) => r.kind],
  ['Collector', (r) => r.collector],
  ['Archive', (r) => r.archive],
  ['File and line', (r) => `${r.file}:${r.line}`],
  ['Chain seq', (r) => r.seq ? String(r.seq) : ''],
];

function selectRow(i, open) {
  if (i < 0 || i >= state.rows.length) return;
  state.selected = i;
  for (const tr of document.querySelectorAll('#events tbody tr.selected')) tr.classList.remove('selected');
  const tr = document.querySelector(`#events tbody tr[data-index="${i}"]`);
  if (tr) {
    tr.classList.add('selected');
    tr.scrollIntoView({ block: 'nearest' });
  }
  if (open || !$('#detail').hidden) showSelected();
}

// move selects the row delta away, crossing to the next or previous page.
function move(delta) {
  const i = state.selected + delta;
  if (i >= 0 && i < state.rows.length) { selectRow(i); return; }
  if (delta > 0 && !$('#older').disabled) { state.page++; load('first'); }
  if (delta < 0 && state.page > 1) { state.page--; load('last'); }
}

async function showSelected() {
  const r = state.rows[state.selected];
  if (!r) return;
  $('#detail').hidden = false;
  $('#detail-place').textContent = `${r.file}:${r.line}`;
  const dl = $('#detail-fields');
  dl.replaceChildren();
  for (const [label, get] of detailFields) {
    const v = get(r);
    if (!v) continue;
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dd.dataset.field = label;
    dl.append(dt, dd);
  }
  $('#detail-prev').disabled = state.selected <= 0 && state.page <= 1;
  $('#detail-next').disabled = state.selected >= state.rows.length - 1 && $('#older').disabled;
  $('#detail-line').textContent = '';
  const want = state.selected;
  try {
    const file = r.collector ? `${r.collector}/${r.file}` : r.file;
    const d = await getJSON(`api/line?file=${encodeURIComponent(file)}&line=${encodeURIComponent(r.line)}`);
    if (state.selected !== want) return; // moved on meanwhile
    const integ = $('#detail-integrity');
    const bad = d.row.integrity !== 'ok';
    integ.className = bad ? 'bad' : '';
    integ.textContent = bad ? `\u26a0 Integrity ${d.row.integrity}: ${d.row.integrity_error}` : 'Integrity ok: the line matches its hash and follows the line before it.';
    let text = d.line;
    try { text = JSON.stringify(JSON.parse(d.line), null, 2); } catch { /* shown as it is */ }
    if (!d.line && r.collector) text = `The line itself is in ${r.collector}'s archive (${r.archive}), on that collector's machine: its viewer shows it, and auditctl verify proves it there. Above: the line as that collector indexed it.`;
    $('#detail-line').textContent = text;
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
      o.value = '=' + a.code;
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

form.addEventListener('submit', (e) => { e.preventDefault(); state.page = 1; state.last = false; load(); });
$('#clear').addEventListener('click', () => { form.reset(); $('#utc').checked = state.utc; state.page = 1; state.last = false; load(); });
$('#utc').addEventListener('change', (e) => {
  state.utc = e.target.checked;
  for (const name of ['since', 'until']) {
    const el = form.elements[name];
    el.value = state.utc ? toUTCInput(el.value) : toLocalInput(el.value);
  }
  showZone();
  render();
  if (!$('#detail').hidden) showSelected();
});
$('#first').addEventListener('click', () => { state.page = 1; load(); });
$('#newer').addEventListener('click', () => { if (state.page > 1) { state.page--; load(); } });
$('#older').addEventListener('click', () => { state.page++; load(); });
$('#last').addEventListener('click', () => { state.last = true; load(); });
$('#goto').addEventListener('submit', (e) => {
  e.preventDefault();
  const n = Math.floor(Number($('#goto-page').value));
  if (!(n >= 1)) { showError('Page: want a whole number of at least 1'); return; }
  state.page = state.more ? n : Math.min(n, state.pages);
  load();
});
$('#limit').addEventListener('change', (e) => { state.limit = Number(e.target.value); state.page = 1; load(); });
$('#events tbody').addEventListener('click', (e) => {
  const tr = e.target.closest('tr');
  if (tr && tr.dataset.index !== undefined) selectRow(Number(tr.dataset.index), true);
});
$('#detail-close').addEventListener('click', () => { $('#detail').hidden = true; });
$('#detail-prev').addEventListener('click', () => move(-1));
$('#detail-next').addEventListener('click', () => move(1));
document.addEventListener('keydown', (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
  switch (e.key) {
    case 'ArrowDown': case 'j': move(1); break;
    case 'ArrowUp': case 'k': if (state.selected < 0) selectRow(0); else move(-1); break;
    case 'Enter': if (state.selected >= 0) showSelected(); else return; break;
    case 'Escape': $('#detail').hidden = true; break;
    case 'ArrowRight': if (!$('#older').disabled) { state.page++; load(); } break;
    case 'ArrowLeft': if (state.page > 1) { state.page--; load(); } break;
    default: return;
  }
  e.preventDefault();
});

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
  form.elements.unparsed.checked = v.get('parse') === 'failed';
  state.last = v.get('page') === 'last';
  state.page = Math.max(1, Number(v.get('page')) || 1);
}

restoreView();
showZone();
loadHints().then(load);
