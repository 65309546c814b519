// SPDX-License-Identifier: MIT
// PortEye's Cockpit page: porteyed's D-Bus API (dbus/org.porteye.PortEye1.xml) through cockpit.dbus.
// The bridge runs as the logged-in user, or as root when Cockpit's administrative access is on
// (superuser "try"), so porteyed's own access rule decides what the page sees: no privilege of its own.
// Every string from the system is set with textContent, never parsed as markup.
'use strict';

const BUS_NAME = 'org.porteye.PortEye1';
const OBJECT = '/org/porteye/PortEye1';
const IFACE = 'org.porteye.PortEye1';
const SUB_IFACE = 'org.porteye.PortEye1.Subscription';
const SUB_PREFIX = '/org/porteye/PortEye1/subscription';
const _ = cockpit.gettext;

const $ = (id) => document.getElementById(id);
const LISTEN_STATES = ['LISTEN', 'UNCONN'];

// ---- the record and event of the D-Bus API, as cockpit's dbus-json3 hands them over ----------
// record = (ussysqsqstuta{sv}); details values are variants {t, v}.
function recordOf(r) {
  const details = {};
  for (const [key, variant] of Object.entries(r[12] || {})) details[key] = variant && variant.v;
  return {
    pid: r[0], process: r[1], protocol: r[2], family: r[3], localAddress: r[4], localPort: r[5],
    remoteAddress: r[6], remotePort: r[7], state: r[8], inode: r[9], uid: r[10], cookie: r[11], details,
  };
}
// event = (tst(record)su)
function eventOf(e) {
  return { sequence: e[0], action: e[1], timestamp: e[2], record: recordOf(e[3]), instanceId: e[4], previousPid: e[5] };
}
const keyOf = (r, pid = r.pid) => `${r.cookie}/${r.inode}/${pid}`;

// ---- formatting ------------------------------------------------------------------------------
const endpoint = (address, port) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);
const remoteOf = (r) => (LISTEN_STATES.includes(r.state) && !r.remotePort ? '' : endpoint(r.remoteAddress, r.remotePort));
const userOf = (r) => r.details.user || String(r.uid);
function containerOf(r) {
  const d = r.details;
  if (!d.container_runtime) return '';
  const name = d.container_name || (d.container_id ? String(d.container_id).slice(0, 12) : '');
  return name ? `${name} (${d.container_runtime})` : d.container_runtime;
}
const cpuOf = (v) => (v === undefined || v === null ? '' : `${Number(v).toFixed(1)} %`);
function memoryOf(v) {
  if (v === undefined || v === null) return '';
  return v >= 1 << 30 ? `${(v / (1 << 30)).toFixed(1)} GiB` : `${(v / (1 << 20)).toFixed(1)} MiB`;
}
const timeOf = (us) => new Date(us / 1000).toLocaleString();
const actionWord = { added: _('opened'), removed: _('closed'), 'owner-changed': _('changed owner') };

// The columns of `porteyectl list`, each with its text and its sort key.
const recordColumns = (pick) => [
  { title: _('Protocol'), text: (x) => pick(x).protocol, sort: (x) => pick(x).protocol },
  { title: _('Local'), text: (x) => endpoint(pick(x).localAddress, pick(x).localPort), sort: (x) => pick(x).localPort },
  { title: _('Remote'), text: (x) => remoteOf(pick(x)), sort: (x) => remoteOf(pick(x)) },
  { title: _('State'), text: (x) => pick(x).state, sort: (x) => pick(x).state },
  { title: _('Process'), cls: 'proc', text: (x) => pick(x).process, sort: (x) => pick(x).process },
  { title: _('PID'), num: true, text: (x) => (pick(x).pid ? String(pick(x).pid) : ''), sort: (x) => pick(x).pid },
  { title: _('User'), text: (x) => userOf(pick(x)), sort: (x) => userOf(pick(x)) },
  { title: _('Unit'), text: (x) => pick(x).details.unit || '', sort: (x) => pick(x).details.unit || '' },
  { title: _('Container'), text: (x) => containerOf(pick(x)), sort: (x) => containerOf(pick(x)) },
];
const socketColumns = [
  ...recordColumns((r) => r),
  { title: _('CPU'), num: true, text: (r) => cpuOf(r.details.cpu_percent), sort: (r) => r.details.cpu_percent ?? -1 },
  { title: _('Memory'), num: true, text: (r) => memoryOf(r.details.memory_rss), sort: (r) => r.details.memory_rss ?? -1 },
  { title: _('Command line'), cls: 'cmd', text: (r) => r.details.cmdline || '', sort: (r) => r.details.cmdline || '' },
];
const historyColumns = [
  { title: _('Time'), text: (e) => timeOf(e.timestamp), sort: (e) => e.sequence },
  { title: _('Event'), text: (e) => actionWord[e.action] || e.action, sort: (e) => e.action },
  ...recordColumns((e) => e.record),
  { title: _('Command line'), cls: 'cmd', text: (e) => e.record.details.cmdline || '', sort: (e) => e.record.details.cmdline || '' },
];

// ---- a sortable table ------------------------------------------------------------------------
class Table {
  constructor(table, columns, sortColumn, descending) {
    this.table = table;
    this.columns = columns;
    this.sortColumn = sortColumn;
    this.descending = descending;
    this.rowClass = () => '';
    const tr = document.createElement('tr');
    columns.forEach((column, index) => {
      const th = document.createElement('th');
      th.scope = 'col';
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = column.title;
      button.addEventListener('click', () => {
        this.descending = this.sortColumn === index ? !this.descending : false;
        this.sortColumn = index;
        this.render(this.items);
      });
      th.appendChild(button);
      tr.appendChild(th);
    });
    table.tHead.appendChild(tr);
    this.items = [];
  }

  render(items) {
    this.items = items;
    const column = this.columns[this.sortColumn];
    const sign = this.descending ? -1 : 1;
    const sorted = [...items].sort((a, b) => {
      const x = column.sort(a);
      const y = column.sort(b);
      return sign * (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y)));
    });
    [...this.table.tHead.rows[0].cells].forEach((th, index) => {
      if (index === this.sortColumn) th.setAttribute('aria-sort', this.descending ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    });
    const body = document.createElement('tbody');
    for (const item of sorted) {
      const tr = document.createElement('tr');
      const extra = this.rowClass(item);
      if (extra) tr.className = extra;
      for (const c of this.columns) {
        const td = document.createElement('td');
        td.textContent = c.text(item); // never innerHTML: names are whatever a process chose
        if (c.num) td.classList.add('num');
        if (c.cls) td.classList.add(c.cls);
        if (c.cls === 'cmd') td.title = td.textContent;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    this.table.replaceChild(body, this.table.tBodies[0]);
  }
}

// ---- state -----------------------------------------------------------------------------------
const client = cockpit.dbus(BUS_NAME, { bus: 'system', superuser: 'try' });
const sockets = new Map(); // keyOf(record) -> record
const unexpected = new Map(); // keyOf(record) -> { event, reason }
let liveMatch = null;
let subscription = null; // the Subscription object's path
let pending = null; // events that arrive while the snapshot is loading
let renderQueued = false;
let hostWide = false;
let historyPage = { first: 0, last: 0, newest: true };
const socketsTable = new Table($('sockets-table'), socketColumns, 1, false);
const historyTable = new Table($('history-table'), historyColumns, 0, true);
socketsTable.rowClass = (r) => (unexpected.has(keyOf(r)) ? 'unexpected' : '');

function showState(title, text) {
  $('state-title').textContent = title;
  $('state-text').textContent = text;
  $('state').hidden = false;
  $('main').hidden = true;
}
function hideState() {
  $('state').hidden = true;
  $('main').hidden = false;
}
function setLive(on, text) {
  $('live').className = on ? 'live on' : 'live off';
  $('live').textContent = text;
}

// What a failed call means to a person.
function describeError(error) {
  const name = (error && (error.name || error.problem)) || '';
  const message = (error && error.message) || String(error);
  if (/ServiceUnknown|NameHasNoOwner|Spawn\.|systemd1\.|not-found/.test(name))
    return [_('porteyed is not running'),
      _('This page shows what the PortEye daemon reports, and it is not running on this host. ' +
        'Start it with "systemctl enable --now porteyed" (administrative access needed), then reload this page.')];
  if (/LimitExceeded/.test(name))
    return [_('Too many live views'),
      _('porteyed limits how many live views one user may hold, and yours are in use (other PortEye pages ' +
        'or porteyectl sessions). Close some, then reload this page.')];
  if (/AccessDenied/.test(name))
    return [_('Not permitted'), _('porteyed refused the request: ') + message];
  if (/disconnected|terminated|no-session/.test(name))
    return [_('Disconnected'), _('The connection to this host was lost. Reload the page to reconnect.')];
  return [_('porteyed did not answer'), message];
}

function call(method, args) {
  return client.call(OBJECT, IFACE, method, args);
}

// Filters in the a{sv} that ListPorts, GetHistory and Subscribe take.
const variant = (t, v) => ({ t, v });
function portOf(text) {
  const port = Number(text);
  return /^\d+$/.test(text.trim()) && port > 0 && port < 65536 ? port : null;
}

// ---- sockets ---------------------------------------------------------------------------------
function socketMatches(r) {
  const text = $('sockets-text').value.trim().toLowerCase();
  const port = portOf($('sockets-port').value);
  const protocol = $('sockets-protocol').value;
  const state = $('sockets-state').value;
  if ($('sockets-listening').checked && !LISTEN_STATES.includes(r.state)) return false;
  if (port !== null && r.localPort !== port && r.remotePort !== port) return false;
  if (protocol && r.protocol !== protocol) return false;
  if (state && r.state !== state) return false;
  if (!text) return true;
  return [r.process, endpoint(r.localAddress, r.localPort), remoteOf(r), userOf(r), r.details.unit || '',
    containerOf(r), r.details.cmdline || '', String(r.pid)].some((s) => s.toLowerCase().includes(text));
}

function renderSockets() {
  renderQueued = false;
  const shown = [...sockets.values()].filter(socketMatches);
  socketsTable.render(shown);
  $('sockets-count').textContent = `(${shown.length} / ${sockets.size})`;
  const empty = $('sockets-empty');
  empty.hidden = shown.length > 0;
  empty.textContent = sockets.size === 0
    ? (hostWide ? _('porteyed reports no sockets on this host.')
      : _('None of your processes has a socket open. Sockets of other users are shown with administrative access.'))
    : _('No socket matches these filters.');
  const states = new Set([...sockets.values()].map((r) => r.state));
  const select = $('sockets-state');
  for (const state of [...states].sort()) {
    if (![...select.options].some((o) => o.value === state)) select.add(new Option(state, state));
  }
}
function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  window.requestAnimationFrame(renderSockets);
}

// Applies one event to the table (see the XML: keep records keyed by cookie, inode and pid).
function applyEvent(event) {
  const r = event.record;
  if (event.action === 'added') sockets.set(keyOf(r), r);
  else if (event.action === 'removed') {
    sockets.delete(keyOf(r));
    unexpected.delete(keyOf(r));
    renderAlerts();
  } else if (event.action === 'owner-changed') {
    sockets.delete(keyOf(r, event.previousPid));
    sockets.set(keyOf(r), r);
  }
  if (historyPage.newest && !$('panel-history').hidden && historyMatches(event)) {
    historyTable.render([...historyTable.items, event]);
    $('history-empty').hidden = true;
  }
  queueRender();
}

function onSignal(path, iface, member, args) {
  if (member === 'UnexpectedListener') {
    const event = eventOf(args[0]);
    unexpected.set(keyOf(event.record), { event, reason: args[1] });
    renderAlerts();
    queueRender();
    return;
  }
  if (!['PortAdded', 'PortRemoved', 'PortOwnerChanged'].includes(member)) return;
  if (iface === SUB_IFACE && subscription !== null && path !== subscription) return; // another tab's
  const event = eventOf(args[0]);
  if (pending) pending.push(event);
  else applyEvent(event);
}

function renderAlerts() {
  const list = $('alerts-list');
  list.replaceChildren();
  for (const { event, reason } of unexpected.values()) {
    const r = event.record;
    const li = document.createElement('li');
    const strong = document.createElement('strong');
    strong.textContent = `${r.protocol} ${endpoint(r.localAddress, r.localPort)}`;
    li.append(strong, ` — ${r.process || _('no process')}${r.pid ? ` (PID ${r.pid})` : ''}: ${reason}`);
    list.appendChild(li);
  }
  $('alerts').hidden = unexpected.size === 0;
}

// Live updates without a polling loop: the signal match goes in first, then Subscribe, then the
// snapshot; events that arrive meanwhile are applied after it, in order (adds and removes are
// idempotent on the keyed table, so an event the snapshot already holds does no harm).
async function startLive() {
  pending = [];
  liveMatch = client.subscribe({ interface: SUB_IFACE, path_namespace: SUB_PREFIX }, onSignal);
  try {
    const [path] = await call('Subscribe', [{}]);
    subscription = path;
    setLive(true, _('Live'));
  } catch (error) {
    liveMatch.remove();
    liveMatch = null;
    if (!/UnknownMethod/.test(error.name || '')) throw error;
    // An older porteyed: its broadcast signals reach root and group porteye only (bus policy).
    liveMatch = client.subscribe({ interface: IFACE, path: OBJECT }, onSignal);
    setLive(hostWide, hostWide ? _('Live')
      : _('Not live: this porteyed sends live updates to administrators only. Use Refresh.'));
  }
}

async function loadSockets() {
  const [records] = await call('ListPorts', [{}]);
  sockets.clear();
  for (const r of records.map(recordOf)) sockets.set(keyOf(r), r);
  const queued = pending || [];
  pending = null;
  queued.forEach(applyEvent);
  renderSockets();
}

// ---- status and view ---------------------------------------------------------------------------
async function loadStatus() {
  const [status] = await call('GetStatus', []);
  const get = (key) => status[key] && status[key].v;
  hostWide = !!get('host_wide');
  const user = await cockpit.user();
  const view = $('view');
  view.hidden = false;
  view.className = hostWide ? 'view host' : 'view own';
  view.textContent = hostWide
    ? _('Showing every socket on the host') +
      (superuserActive ? _(' (administrative access is on).') : _(' (your account is in group porteye).'))
    : _('Showing only sockets of your own processes (user ') + user.name +
      _('). Turn on administrative access at the top of Cockpit to see every socket on the host.');
  const rows = [
    [_('Event source'), get('event_source')],
    [_('Network namespaces'), get('network_namespaces')],
    [_('Poll interval'), get('poll_interval') !== undefined ? `${get('poll_interval')} s` : undefined],
    [_('History'), get('store') === 'ok' ? _('kept on disk') : get('store')],
    [_('Expected listeners'), get('expected_active') ? `${get('expected_rules')} ${_('rules')}, ` +
      `${get('unexpected_listeners')} ${_('unexpected now')}` : _('no allowlist loaded')],
    [_('porteyed'), get('version')],
  ];
  const dl = $('status');
  dl.replaceChildren();
  for (const [term, value] of rows) {
    if (value === undefined || value === null || value === '') continue;
    const pair = document.createElement('div'); // a dl may group each dt with its dd
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = String(value);
    pair.append(dt, dd);
    dl.appendChild(pair);
  }
  dl.hidden = false;
}

// ---- who PORT ----------------------------------------------------------------------------------
async function who(event) {
  event.preventDefault();
  const out = $('who-result');
  const port = portOf($('who-port').value);
  out.replaceChildren();
  if (port === null) {
    out.textContent = _('Type a port number from 1 to 65535.');
    return;
  }
  try {
    const [records] = await call('ListPorts', [{ port: variant('q', port) }]);
    const holders = records.map(recordOf);
    if (holders.length === 0) {
      out.textContent = hostWide ? `${_('No socket uses port')} ${port}.`
        : `${_('None of your processes uses port')} ${port}${_('; other users\' sockets are shown with administrative access.')}`;
      return;
    }
    const ul = document.createElement('ul');
    for (const r of holders) {
      const li = document.createElement('li');
      const name = document.createElement('strong');
      name.textContent = r.process || _('no process');
      const where = `${r.protocol} ${endpoint(r.localAddress, r.localPort)}${remoteOf(r) ? ' → ' + remoteOf(r) : ''} ${r.state}`;
      const who = [r.pid ? `PID ${r.pid}` : '', userOf(r), r.details.unit || '', containerOf(r)].filter(Boolean).join(', ');
      li.append(name, ` (${who}) — ${where}`);
      ul.appendChild(li);
    }
    out.appendChild(ul);
  } catch (error) {
    out.textContent = describeError(error).join(': ');
  }
}

// ---- history, paged through GetHistory ---------------------------------------------------------
function historyFilter() {
  const filter = {};
  const port = portOf($('history-port').value);
  if (port !== null) filter.port = variant('q', port);
  const process = $('history-process').value.trim();
  if (process) filter.process = variant('s', process);
  if ($('history-protocol').value) filter.protocol = variant('s', $('history-protocol').value);
  if ($('history-action').value) filter.action = variant('s', $('history-action').value);
  return filter;
}
function historyMatches(e) {
  const port = portOf($('history-port').value);
  const process = $('history-process').value.trim().toLowerCase();
  return (port === null || e.record.localPort === port || e.record.remotePort === port) &&
    (!process || e.record.process.toLowerCase().includes(process)) &&
    (!$('history-protocol').value || e.record.protocol === $('history-protocol').value) &&
    (!$('history-action').value || e.action === $('history-action').value);
}
const pageSize = () => Number($('history-limit').value);

async function getHistory(extra) {
  const [events] = await call('GetHistory', [{ ...historyFilter(), ...extra }]);
  return events.map(eventOf);
}

// where: 'newest', 'newer' (after the page shown) or 'older' (before it).
async function loadHistory(where) {
  const limit = pageSize();
  let events;
  if (where === 'newer') {
    events = await getHistory({ after_sequence: variant('t', historyPage.last), limit: variant('u', limit) });
    if (events.length === 0) return;
  } else if (where === 'older') {
    // GetHistory pages forward only: read forward from further back until a page's worth of
    // matching events before the first one shown is found, or the start of the history.
    const before = historyPage.first;
    let span = limit;
    for (;;) {
      const start = Math.max(0, before - 1 - span);
      const read = await getHistory({ after_sequence: variant('t', start), limit: variant('u', Math.min(50000, span)) });
      events = read.filter((e) => e.sequence < before);
      if (events.length >= limit || start === 0 || span >= 50000) break;
      span *= 4;
    }
    events = events.slice(-limit);
    if (events.length === 0) return;
  } else {
    events = await getHistory({ limit: variant('u', limit) });
  }
  historyPage = {
    first: events.length ? events[0].sequence : 0,
    last: events.length ? events[events.length - 1].sequence : 0,
    newest: where === 'newest' || events.length < limit,
  };
  historyTable.render(events);
  $('history-range').textContent = events.length
    ? `${_('events')} ${historyPage.first}–${historyPage.last}` : '';
  const empty = $('history-empty');
  empty.hidden = events.length > 0;
  empty.textContent = _('No opened or closed socket matches these filters in the history.');
}
historyTable.rowClass = (e) => (e.action === 'added' ? 'added' : e.action === 'removed' ? 'removed' : '');

// ---- wiring --------------------------------------------------------------------------------------
let superuserActive = false;

function selectTab(name) {
  for (const tab of ['sockets', 'history']) {
    $(`tab-${tab}`).setAttribute('aria-selected', String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name === 'history') loadHistory('newest').catch(failed);
}

function failed(error) {
  console.warn('porteye:', error);
  const [title, text] = describeError(error);
  showState(title, text);
  setLive(false, _('Not connected'));
}

async function start() {
  showState(_('Loading'), _('Asking porteyed for the sockets it sees…'));
  $('state').classList.add('loading');
  try {
    await loadStatus();
    await startLive();
    await loadSockets();
    $('state').classList.remove('loading');
    hideState();
  } catch (error) {
    $('state').classList.remove('loading');
    failed(error);
  }
}

async function refresh() {
  try {
    await loadStatus();
    if (!subscription) await loadSockets();
    else { pending = []; await loadSockets(); }
    if (!$('panel-history').hidden) await loadHistory('newest');
    hideState();
  } catch (error) {
    failed(error);
  }
}

function init() {
  for (const id of ['sockets-text', 'sockets-port']) $(id).addEventListener('input', queueRender);
  for (const id of ['sockets-protocol', 'sockets-state', 'sockets-listening']) $(id).addEventListener('change', queueRender);
  $('sockets-filters').addEventListener('submit', (e) => e.preventDefault());
  $('history-filters').addEventListener('submit', (e) => { e.preventDefault(); loadHistory('newest').catch(failed); });
  $('history-older').addEventListener('click', () => loadHistory('older').catch(failed));
  $('history-newer').addEventListener('click', () => loadHistory('newer').catch(failed));
  $('history-newest').addEventListener('click', () => loadHistory('newest').catch(failed));
  $('tab-sockets').addEventListener('click', () => selectTab('sockets'));
  $('tab-history').addEventListener('click', () => selectTab('history'));
  $('who').addEventListener('submit', who);
  $('refresh').addEventListener('click', refresh);
  // The bridge's bus connection outlives this page (it serves the whole login session), and so
  // would the subscription: end it when the page goes (porteyed limits them per user).
  window.addEventListener('pagehide', () => {
    if (subscription) client.call(subscription, SUB_IFACE, 'Stop', []).catch(() => {});
  });

  // porteyed stopping or starting: the bridge reports the bus name's owner.
  let hadOwner = null;
  client.addEventListener('owner', (event, owner) => {
    if (owner === null && hadOwner) {
      subscription = null;
      showState(_('porteyed stopped'),
        _('porteyed left the system bus (stopped or restarting). This page reconnects when it is back.'));
      setLive(false, _('Not connected'));
    } else if (owner && hadOwner === false) {
      if (liveMatch) liveMatch.remove();
      liveMatch = null;
      start();
    }
    hadOwner = owner !== null;
  });
  client.addEventListener('close', (event, options) => failed(options));

  // Administrative access switched on or off: the bridge that asks porteyed changes, so reload.
  const superuser = cockpit.dbus(null, { bus: 'internal' }).proxy('cockpit.Superuser', '/superuser');
  // ("init" while the shell is still deciding: not a switch.)
  const active = () => superuser.Current !== undefined && superuser.Current !== 'none' && superuser.Current !== 'init';
  superuser.wait().then(() => {
    let known = superuser.Current !== 'init';
    superuserActive = active();
    superuser.addEventListener('changed', () => {
      if (superuser.Current === 'init') return;
      if (known && active() !== superuserActive) window.location.reload();
      superuserActive = active();
      if (!known) start(); // the channel opened now goes to the bridge the shell settled on
      known = true;
    });
    if (known) start();
  }, () => start());
}

document.addEventListener('DOMContentLoaded', init);
