// SPDX-License-Identifier: MIT
// The PortEye page: two sortable, filterable tables kept live by /api/events (server-sent events).
// No framework: the DOM is rebuilt from plain arrays; every string goes in through textContent.
'use strict';

const STATES = ['LISTEN', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSING', 'UNCONN'];

// A record field wherever the daemon puts it: flat, or under details/usage (process details are new).
function field(r, key) {
  if (r[key] !== undefined) return r[key];
  for (const sub of ['details', 'usage', 'process_details']) if (r[sub] && r[sub][key] !== undefined) return r[sub][key];
  return undefined;
}
const has = (rows, key, of) => rows.some((x) => field(of(x), key) !== undefined && field(of(x), key) !== '');
const endpoint = (addr, port) => (addr && addr.includes(':') ? `[${addr}]` : addr || '*') + ':' + (port || '*');
const userOf = (r) => { const u = field(r, 'user'); return u !== undefined && u !== '' ? String(u) : String(r.uid); };
function mib(bytes) {
  if (bytes === undefined || bytes === null) return '';
  return bytes >= 1 << 30 ? (bytes / (1 << 30)).toFixed(2) + ' GiB' : (bytes / (1 << 20)).toFixed(1) + ' MiB';
}
const cpu = (v) => (v === undefined || v === null ? '' : Number(v).toFixed(1) + ' %');

// Columns: key, heading, how to show, how to sort, optional (shown only when some row has the field).
const recordColumns = (of) => [
  { key: 'protocol', title: 'Proto', text: (x) => of(x).protocol, sort: (x) => of(x).protocol },
  { key: 'local', title: 'Local', text: (x) => endpoint(of(x).local_address, of(x).local_port), sort: (x) => of(x).local_port },
  { key: 'remote', title: 'Remote', text: (x) => endpoint(of(x).remote_address, of(x).remote_port), sort: (x) => of(x).remote_port },
  { key: 'state', title: 'State', text: (x) => of(x).state, sort: (x) => of(x).state },
  { key: 'pid', title: 'PID', num: true, text: (x) => (of(x).pid ? String(of(x).pid) : ''), sort: (x) => of(x).pid },
  { key: 'process', title: 'Process', text: (x) => of(x).process || '', sort: (x) => (of(x).process || '').toLowerCase() },
  { key: 'user', title: 'User', text: (x) => userOf(of(x)), sort: (x) => userOf(of(x)) },
  { key: 'unit', title: 'Unit', optional: true, text: (x) => field(of(x), 'unit') || '', sort: (x) => field(of(x), 'unit') || '' },
  { key: 'cpu_percent', title: 'CPU', num: true, optional: true, text: (x) => cpu(field(of(x), 'cpu_percent')), sort: (x) => field(of(x), 'cpu_percent') ?? -1 },
  { key: 'memory_rss', title: 'Memory', num: true, optional: true, text: (x) => mib(field(of(x), 'memory_rss')), sort: (x) => field(of(x), 'memory_rss') ?? -1 },
  { key: 'cmdline', title: 'Command line', cls: 'cmd', optional: true, text: (x) => field(of(x), 'cmdline') || '', sort: (x) => field(of(x), 'cmdline') || '' },
];

function formValues(form) {
  const v = {};
  for (const el of form.elements) if (el.name) v[el.name] = el.type === 'checkbox' ? el.checked : el.value.trim();
  return v;
}

// Mirrors the server's filters, so live events land in the right table without a round trip.
function recordMatches(r, f, listeningOnly) {
  if (f.port && String(r.local_port) !== f.port && String(r.remote_port) !== f.port) return false;
  if (f.process && !(r.process || '').toLowerCase().includes(f.process.toLowerCase())) return false;
  if (f.protocol && r.protocol !== f.protocol) return false;
  if (f.state && r.state !== f.state) return false;
  if (f.user && !userOf(r).toLowerCase().includes(f.user.toLowerCase())) return false;
  if (listeningOnly && !(r.state === 'LISTEN' || (r.protocol === 'udp' && !r.remote_port))) return false;
  return true;
}

class Table {
  constructor(id, columns, sort, groupKey) {
    this.table = document.getElementById(id);
    this.empty = document.getElementById(id.replace('-table', '-empty'));
    this.count = document.getElementById(id.replace('-table', '-count'));
    this.columns = columns;
    this.sort = sort;
    this.group = false;
    this.groupKey = groupKey;
    this.rows = [];
    this.fresh = new Set();
    this.pending = false;
  }
  set(rows) { this.rows = rows; this.render(); }
  render() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }
  draw() {
    // Live updates rebuild the table: keep the keyboard focus on the heading it was on.
    const focused = this.table.contains(document.activeElement) ? document.activeElement.dataset.key : undefined;
    const visible = this.columns.filter((c) => !c.optional || has(this.rows, c.key, c.of || ((x) => x.record || x)));
    const thead = document.createElement('thead');
    const hr = thead.insertRow();
    for (const c of visible) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.setAttribute('aria-sort', this.sort.key === c.key ? (this.sort.desc ? 'descending' : 'ascending') : 'none');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = c.title;
      b.dataset.key = c.key;
      b.addEventListener('click', () => {
        this.sort = { key: c.key, desc: this.sort.key === c.key ? !this.sort.desc : false };
        this.draw();
      });
      th.appendChild(b);
      hr.appendChild(th);
    }
    const col = this.columns.find((c) => c.key === this.sort.key) || this.columns[0];
    const dir = this.sort.desc ? -1 : 1;
    const cmp = (a, b) => { const x = col.sort(a), y = col.sort(b); return (x < y ? -1 : x > y ? 1 : 0) * dir; };
    const rows = [...this.rows];
    if (this.group) rows.sort((a, b) => this.groupKey(a).localeCompare(this.groupKey(b)) || cmp(a, b));
    else rows.sort(cmp);
    const tbody = document.createElement('tbody');
    let last = null;
    for (const x of rows) {
      if (this.group && this.groupKey(x) !== last) {
        last = this.groupKey(x);
        const g = tbody.insertRow();
        g.className = 'group';
        const th = document.createElement('th');
        th.colSpan = visible.length;
        th.scope = 'colgroup';
        th.textContent = `${last} — ${rows.filter((y) => this.groupKey(y) === last).length}`;
        g.appendChild(th);
      }
      const tr = tbody.insertRow();
      tr.dataset.key = x.key;
      if (x.className) tr.className = x.className;
      if (this.fresh.has(x.key)) tr.classList.add('fresh');
      for (const c of visible) {
        const td = tr.insertCell();
        td.textContent = c.text(x);
        if (c.num) td.className = 'num';
        if (c.cls) { td.className = c.cls; td.title = td.textContent; }
      }
    }
    this.fresh.clear();
    this.table.replaceChildren(this.table.caption, thead, tbody);
    if (focused) this.table.querySelector(`thead button[data-key="${focused}"]`)?.focus();
    this.empty.hidden = rows.length > 0;
    this.count.textContent = `(${rows.length})`;
  }
}

const portKey = (r, pid = r.pid) => `${r.protocol}/${r.cookie}/${r.inode}/${pid}`;
const ports = new Table('ports-table', recordColumns((x) => x), { key: 'local', desc: false },
  (x) => `${x.process || '(no process)'} ${x.pid || ''}`.trim());
const historyColumns = [
  { key: 'sequence', title: '#', num: true, text: (e) => String(e.sequence), sort: (e) => e.sequence },
  { key: 'time', title: 'Time', text: (e) => e.timestamp.replace('T', ' ').slice(0, 23), sort: (e) => e.time_us },
  { key: 'action', title: 'Action', text: (e) => ({ added: 'opened', removed: 'closed' }[e.action] || e.action), sort: (e) => e.action },
  ...recordColumns((e) => e.record).filter((c) => !['cpu_percent', 'memory_rss'].includes(c.key)),
].map((c) => ({ ...c, of: (e) => e.record }));
const history = new Table('history-table', historyColumns, { key: 'sequence', desc: true },
  (e) => `${e.record.process || '(no process)'} ${e.record.pid || ''}`.trim());

const portsForm = document.getElementById('ports-filters');
const historyForm = document.getElementById('history-filters');
for (const s of STATES) {
  const o = document.createElement('option');
  o.value = s;
  o.textContent = s;
  document.getElementById('ports-state').appendChild(o);
}

function setNotice(text) {
  const n = document.getElementById('notice');
  n.textContent = text || '';
  n.hidden = !text;
}
function setLive(on, text) {
  const l = document.getElementById('live');
  l.className = 'live ' + (on ? 'on' : 'off');
  l.textContent = text;
}

// The token: the printed address carries it in the fragment (#token=…), which browsers never send.
// It is kept in sessionStorage (scoped to this scheme, host and port, unlike cookies, which every
// loopback port receives) and sent as a header; the address bar loses it at once.
const TOKEN = (() => {
  const m = /(?:^#|&)token=([0-9a-f]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('porteye-token', m[1]);
    window.history.replaceState(null, '', location.pathname + location.search);  // (`history` below is the table)
  }
  return sessionStorage.getItem('porteye-token') || '';
})();
// One id per tab: porteyectl web bounds the event streams each page may hold.
const PAGE = sessionStorage.getItem('porteye-page') || (() => {
  const id = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  sessionStorage.setItem('porteye-page', id);
  return id;
})();
const authHeaders = () => ({ Authorization: 'Bearer ' + TOKEN, 'X-PortEye-Page': PAGE });

async function getJson(url) {
  const res = await fetch(url, { headers: authHeaders(), credentials: 'omit', cache: 'no-store' });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined) q.set(k, v);
  return q.toString();
}

// Events that arrive while a table loads are kept and applied again on top of the loaded rows:
// the snapshot may be older or newer than each of them, and applying one twice changes nothing.
let portsGeneration = 0;
let portsPending = null;
async function loadPorts() {
  const f = formValues(portsForm);
  ports.group = f.group;
  const generation = ++portsGeneration;
  portsPending = [];
  try {
    const rows = await getJson('/api/ports?' + query({ port: f.port, process: f.process, protocol: f.protocol,
      state: f.state, listening: f.all ? 'false' : 'true' }));
    if (generation !== portsGeneration) return;  // a newer request is on its way
    ports.rows = rows.filter((r) => recordMatches(r, f, false)).map((r) => ({ ...r, key: portKey(r) }));
    const replay = portsPending;
    portsPending = null;
    for (const e of replay) applyPortEvent(e, false);
    ports.render();
    setNotice('');
  } catch (e) {
    if (generation === portsGeneration) portsPending = null;
    setNotice('Ports: ' + e.message);
  }
}
let historyGeneration = 0;
let historyPending = null;
let lastSequence = 0;
async function loadHistory() {
  const f = formValues(historyForm);
  history.group = f.group;
  const generation = ++historyGeneration;
  historyPending = [];
  try {
    const events = await getJson('/api/history?' + query({ limit: f.limit, port: f.port, process: f.process,
      protocol: f.protocol, action: f.action }));
    if (generation !== historyGeneration) return;
    lastSequence = 0;
    history.rows = events.filter((e) => recordMatches(e.record, f, false)).map(historyRow);
    const replay = historyPending;
    historyPending = null;
    for (const e of replay) applyHistoryEvent(e, false);
    history.render();
    setNotice('');
  } catch (e) {
    if (generation === historyGeneration) historyPending = null;
    setNotice('History: ' + e.message);
  }
}
function historyRow(e) {
  lastSequence = Math.max(lastSequence, e.sequence);
  return { ...e, key: 'e' + e.sequence, className: e.action };
}

// CPU and memory come with /api/ports only: reload it shortly after a burst of changes.
let refreshTimer = 0;
function refreshPortsSoon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(loadPorts, 800); }

function applyPortEvent(e, render = true) {
  const r = e.record;
  const pf = formValues(portsForm);
  if (e.action === 'removed' || e.action === 'owner-changed') {
    const gone = portKey(r, e.action === 'owner-changed' ? e.previous_pid : r.pid);
    // An accepted socket is first reported before accept() gave it a file (inode 0).
    const early = e.action === 'owner-changed' ? portKey({ ...r, inode: 0 }, e.previous_pid) : gone;
    ports.rows = ports.rows.filter((x) => x.key !== gone && x.key !== early);
  }
  if ((e.action === 'added' || e.action === 'owner-changed') && recordMatches(r, pf, !pf.all)) {
    const key = portKey(r);
    if (!ports.rows.some((x) => x.key === key)) {
      ports.fresh.add(key);
      ports.rows = [...ports.rows, { ...r, key }];
    }
    if (render) refreshPortsSoon();
  }
  if (render) ports.render();
}

function applyHistoryEvent(e, render = true) {
  const hf = formValues(historyForm);
  if (e.sequence > lastSequence && recordMatches(e.record, hf, false) && (!hf.action || hf.action === e.action)) {
    const row = historyRow(e);
    history.fresh.add(row.key);
    let rows = [...history.rows, row];
    const limit = parseInt(hf.limit, 10);
    if (limit > 0 && rows.length > limit) rows = rows.sort((a, b) => a.sequence - b.sequence).slice(-limit);
    history.rows = rows;
    if (render) history.render();
  }
}

function applyEvent(e) {
  if (portsPending) portsPending.push(e);
  else applyPortEvent(e);
  if (historyPending) historyPending.push(e);
  else applyHistoryEvent(e);
}

function reloadAll() { loadPorts(); loadHistory(); }

async function showStatus() {
  try {
    const s = await getJson('/api/status');
    if (s.view === 'own-user')
      setNotice('Partial view: porteyed itself sees only its own user\'s processes (it lacks CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE); other sockets show no owner.');
    else if (s.host_wide === false)
      setNotice('Your view: only the sockets of your own processes. Root and members of group porteye see every socket.');
  } catch (e) { /* the tables say what went wrong */ }
}

// Server-sent events read with fetch (EventSource cannot send the token header): one message per
// blank-line-separated block, "event:" naming it and "data:" lines joined; ":" lines are comments.
const streamHandlers = {
  ready(data) {
    const d = JSON.parse(data);
    setLive(d.daemon_connected, d.daemon_connected ? 'Live' : 'porteyed unreachable, retrying…');
    reloadAll();  // (re)connected: whatever happened meanwhile is in the reloaded tables
    showStatus();
  },
  resync() { setLive(true, 'Live'); reloadAll(); },
  daemon(data) {
    const d = JSON.parse(data);
    if (d.live === false) setLive(false, 'Not live (use Filter to refresh): ' + (d.error || ''));
    else setLive(false, 'porteyed unreachable: ' + (d.error || '') + ' — retrying…');
  },
  port(data) { applyEvent(JSON.parse(data)); },
};
function dispatchBlock(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') event = value;
    else if (name === 'data') data.push(value);
  }
  if (data.length && streamHandlers[event]) streamHandlers[event](data.join('\n'));
}
async function followStream() {
  const res = await fetch('/api/events', { headers: authHeaders(), credentials: 'omit', cache: 'no-store' });
  if (!res.ok) {
    const body = await res.json().catch(() => ({ error: res.statusText }));
    throw new Error(body.error || res.statusText);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      dispatchBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}
async function connect() {
  if (!TOKEN) {
    setLive(false, 'No token');
    setNotice('Open the address that porteyectl web printed: it carries this start\'s token.');
    return;
  }
  for (;;) {
    try {
      await followStream();
      setLive(false, 'Disconnected from porteyectl web, retrying…');
    } catch (e) {
      setLive(false, 'Disconnected from porteyectl web (' + e.message + '), retrying…');
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function debounce(fn, ms) { let t = 0; return () => { clearTimeout(t); t = setTimeout(fn, ms); }; }
portsForm.addEventListener('submit', (ev) => { ev.preventDefault(); loadPorts(); });
historyForm.addEventListener('submit', (ev) => { ev.preventDefault(); loadHistory(); });
portsForm.addEventListener('input', debounce(loadPorts, 250));
historyForm.addEventListener('input', debounce(loadHistory, 250));
if (TOKEN) reloadAll();  // at once; the stream's "ready" reloads again once live
connect();
