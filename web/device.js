// device.js - DevicePage: the parts of a device's page below its cards and chart: its
// presence history (online/offline spans over the range, GET /api/presence) and its rejected
// payloads with their reasons, newest first (GET /api/rejects). Everything from the network
// goes into the DOM as text (textContent), never as HTML: a payload is untrusted bytes.

const REJECTS_SHOWN = 50;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}

async function getJson(url) {
  const res = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (res.status === 401) {
    location.assign('/login.html');
    throw new Error('logged out');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

const when = (ms) => new Date(ms).toLocaleString();

function spanText(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} d`;
}

// spans: presence changes -> [{online, from, to}] covering [from, to) of the window, oldest
// first; the time before the first known change is 'unknown'.
export function presenceSpans(before, changes, from, to) {
  const out = [];
  let state = before ? (before.online ? 'online' : 'offline') : 'unknown';
  let at = from;
  for (const c of changes) {
    const t = Date.parse(c.ts);
    if (!Number.isFinite(t) || t < at) continue;
    if (t > at) out.push({ state, from: at, to: t });
    state = c.online ? 'online' : 'offline';
    at = t;
  }
  if (to > at) out.push({ state, from: at, to });
  return out;
}

export class DevicePage {
  constructor(root) {
    this.root = root;
    this.device = '';
    this.win = null;
    this.seq = 0;
    this.timeline = root.querySelector('[data-role="presence-timeline"]');
    this.spanList = root.querySelector('[data-role="presence-spans"]');
    this.rejects = root.querySelector('[data-role="rejects"]');
    this.rejectsNote = root.querySelector('[data-role="rejects-note"]');
    root.querySelector('[data-role="rejects-refresh"]')?.addEventListener('click', () => this.loadRejects());
  }

  // show: load the device's presence over win ({from, to} epoch ms) and its rejects.
  show(device, win) {
    const changed = device !== this.device;
    this.device = device;
    this.win = win;
    this.root.hidden = false;
    this.loadPresence();
    if (changed) this.loadRejects();
  }

  hide() {
    this.device = '';
    this.root.hidden = true;
    this.seq++;
  }

  async loadPresence() {
    const seq = ++this.seq;
    const { device, win } = this;
    const q = new URLSearchParams({ device, from: new Date(win.from).toISOString(), to: new Date(win.to).toISOString() });
    try {
      const body = await getJson(`/api/presence?${q}`);
      if (seq !== this.seq) return;
      this.before = body.before;
      this.changes = Array.isArray(body.changes) ? body.changes : [];
      this.renderPresence();
    } catch (err) {
      if (seq === this.seq) this.spanList.replaceChildren(el('li', 'muted', `presence unavailable: ${err.message}`));
    }
  }

  // A presence frame of the WebSocket: extend the spans if it is this device's.
  presence(p) {
    if (!this.device || !p || p.device !== this.device || !this.changes || !this.win) return;
    const t = Date.parse(p.ts);
    if (!Number.isFinite(t) || t < this.win.from) return;
    this.changes.push({ online: p.online === true, ts: p.ts });
    this.renderPresence();
  }

  renderPresence() {
    const from = this.win.from;
    const to = Math.max(this.win.to, Date.now() < this.win.to + 60000 ? Date.now() : this.win.to);
    const spans = presenceSpans(this.before, this.changes, from, to);
    const total = to - from;
    this.timeline.replaceChildren(
      ...spans.map((s) => {
        const seg = el('span', 'presence-seg');
        seg.setAttribute('data-state', s.state);
        seg.style.left = `${((s.from - from) / total) * 100}%`;
        seg.style.width = `${((s.to - s.from) / total) * 100}%`;
        seg.title = `${s.state} ${when(s.from)} → ${when(s.to)}`;
        return seg;
      }),
    );
    const items = spans.slice().reverse().map((s) => {
      const li = el('li', 'presence-span');
      li.setAttribute('data-state', s.state);
      li.append(el('span', 'badge', s.state), el('span', 'span-when', `${when(s.from)} → ${when(s.to)}`),
        el('span', 'span-len', spanText(s.to - s.from)));
      li.querySelector('.badge').setAttribute('data-state', s.state);
      return li;
    });
    this.spanList.replaceChildren(...(items.length ? items : [el('li', 'muted', 'no presence known')]));
  }

  async loadRejects() {
    const device = this.device;
    const q = new URLSearchParams({ device, limit: String(REJECTS_SHOWN) });
    try {
      const body = await getJson(`/api/rejects?${q}`);
      if (device !== this.device) return;
      const rows = Array.isArray(body.rows) ? body.rows : [];
      this.rejectsNote.textContent = rows.length
        ? `${rows.length === REJECTS_SHOWN ? `newest ${REJECTS_SHOWN}` : rows.length} rejected, newest first`
        : 'nothing rejected';
      this.rejects.replaceChildren(
        ...rows.map((r) => {
          const tr = el('tr', 'reject');
          tr.setAttribute('data-id', String(r.id));
          const payload = el('code', 'payload', String(r.payload ?? ''));
          const td = el('td', 'reject-payload');
          td.append(payload);
          if (r.bytes > String(r.payload ?? '').length) td.append(el('span', 'muted', ` (${r.bytes} bytes)`));
          tr.append(el('td', 'reject-when', when(Date.parse(r.ts))), el('td', 'reject-topic', String(r.topic)),
            el('td', 'reject-reason', String(r.reason)), td);
          return tr;
        }),
      );
    } catch (err) {
      this.rejectsNote.textContent = `rejects unavailable: ${err.message}`;
    }
  }
}
