// Device groups and their cards. Everything that came over the network is put
// into the DOM with textContent / setAttribute only, never as HTML.
//
//   <section class="device" data-device="pico">
//     <header> name · <span data-role="presence">online</span> </header>
//     <div class="cards">
//       <article class="card" data-topic="pico/temperature/dht22">
//         label · <span data-role="value">23.4</span> <span class="unit">°C</span> · age
//
// Value changes are coalesced to one DOM write per card per animation frame;
// ages are re-rendered by tickAges() from a local one-second timer.

import { topicInfo, knownTopicsFor, formatValue, formatAge, formatClock, parseTs } from './format.js';

const STALE_MS = 60 * 1000;
const FG = '#e8edf5'; // --fg in style.css: where a value's flash fades back to
const FLASH_MS = 3000;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}

export class Board {
  // root: container of the device groups; colorFor(topic): series colour.
  constructor(root, { colorFor, onEmptyChange, deviceHref } = {}) {
    this.root = root;
    this.deviceHref = deviceHref || null; // (device) -> the link of its page
    this.colorFor = colorFor || (() => '#888');
    this.onEmptyChange = onEmptyChange || (() => {});
    this.devices = new Map(); // device -> {el, badge, since, cards: Element, presence}
    this.cards = new Map(); // topic -> {el, value, age, info, id, tsMs, v, dirty}
    this.dirty = new Set();
    this.framePending = false;
  }

  device(name) {
    let d = this.devices.get(name);
    if (d) return d;
    const sec = el('section', 'device');
    sec.setAttribute('data-device', name);
    sec.setAttribute('data-presence', 'unknown');
    const head = el('header', 'device-head');
    const title = el('h2', 'device-name');
    if (this.deviceHref) {
      const link = el('a', 'device-link', name);
      link.href = this.deviceHref(name);
      link.title = `${name}: history, presence, rejected payloads`;
      title.append(link);
    } else title.textContent = name;
    const badge = el('span', 'badge', 'no status');
    badge.setAttribute('data-role', 'presence');
    badge.setAttribute('data-state', 'unknown');
    const since = el('span', 'device-since');
    head.append(title, badge, since);
    const cards = el('div', 'cards');
    sec.append(head, cards);
    // Keep groups sorted by device name.
    const after = [...this.devices.keys()].sort().find((k) => k > name);
    this.root.insertBefore(sec, after ? this.devices.get(after).el : null);
    d = { name, el: sec, badge, since, cards, presence: { online: null, tsMs: NaN } };
    this.devices.set(name, d);
    if (this.devices.size === 1) this.onEmptyChange(false);
    return d;
  }

  // ensure_device creates a group; a device that has only presence so far, or
  // any of the firmware's topics, gets the three standard cards.
  ensureDevice(name, { standard = true } = {}) {
    const d = this.device(name);
    if (standard && !d.standard) {
      d.standard = true;
      for (const t of knownTopicsFor(name)) this.card(t);
    }
    return d;
  }

  card(topic) {
    let c = this.cards.get(topic);
    if (c) return c;
    const info = topicInfo(topic);
    const d = this.ensureDevice(info.device, { standard: info.known });
    c = this.cards.get(topic); // ensureDevice may just have made it
    if (c) return c;
    const art = el('article', 'card');
    art.setAttribute('data-topic', topic);
    art.setAttribute('data-kind', info.known ? 'known' : 'generic');
    art.setAttribute('data-fresh', 'empty');
    const color = this.colorFor(topic);
    art.style.setProperty('--series', color);

    const head = el('div', 'card-head');
    const swatch = el('span', 'swatch');
    swatch.setAttribute('aria-hidden', 'true');
    const label = el('span', 'card-label', info.label);
    label.title = info.label;
    head.append(swatch, label);

    const reading = el('div', 'reading');
    const value = el('span', 'value', '—');
    value.setAttribute('data-role', 'value');
    const unit = el('span', 'unit', info.unit);
    reading.append(value, unit);

    const foot = el('div', 'card-foot');
    const age = el('span', 'age', 'no data yet');
    age.setAttribute('data-role', 'age');
    // The group names the device and the label the metric: a firmware card
    // shows its sensor, any other card the rest of its topic.
    const rest = info.known ? info.sensor : topic.startsWith(`${info.device}/`) ? topic.slice(info.device.length + 1) : topic;
    const name = el('span', 'card-topic', rest);
    name.title = topic;
    foot.append(age, name);

    art.append(head, reading, foot);

    // Order inside a group: the firmware's three first, then the rest by name.
    const key = (i) => `${i.order}\u0000${i.topic}`;
    let before = null;
    for (const other of d.cards.children) {
      const ot = this.cards.get(other.getAttribute('data-topic'));
      if (ot && key(ot.info) > key(info)) {
        before = other;
        break;
      }
    }
    d.cards.insertBefore(art, before);

    c = { el: art, value, age, info, color, id: -Infinity, tsMs: -Infinity, v: NaN, shown: false, flashAt: -Infinity };
    this.cards.set(topic, c);
    return c;
  }

  // update keeps the newest reading per topic (by timestamp, then by id), so
  // /api/topics and the WebSocket backfill can arrive in either order.
  update(topic, id, tsMs, value) {
    const c = this.card(topic);
    const ts = Number.isFinite(tsMs) ? tsMs : -Infinity;
    if (ts < c.tsMs || (ts === c.tsMs && id <= c.id)) return false;
    c.id = id;
    c.tsMs = ts;
    c.v = value;
    this.dirty.add(c);
    this.scheduleFrame();
    return true;
  }

  scheduleFrame() {
    if (this.framePending) return;
    this.framePending = true;
    requestAnimationFrame(() => {
      this.framePending = false;
      const now = Date.now();
      for (const c of this.dirty) {
        const text = formatValue(c.v);
        const changed = c.value.textContent !== text;
        c.value.textContent = text;
        // Long numbers ("1013.2", "-12345.0") get a smaller font to stay in the card.
        const len = text.length >= 8 ? 'xl' : text.length >= 6 ? 'l' : '';
        if ((c.value.getAttribute('data-len') || '') !== len) c.value.setAttribute('data-len', len);
        c.el.title = Number.isFinite(c.tsMs) ? `${c.info.topic} · ${formatClock(c.tsMs)} · id ${c.id}` : c.info.topic;
        this.renderAge(c, now);
        // A short flash in the series colour on change; at most one per
        // FLASH_MS so a fast topic does not stay coloured.
        if (c.shown && changed && c.value.animate && !(now - c.flashAt < FLASH_MS)) {
          c.flashAt = now;
          c.value.animate([{ color: c.color }, { color: FG }], { duration: 900, easing: 'ease-out' });
        }
        c.shown = true;
      }
      this.dirty.clear();
    });
  }

  renderAge(c, now) {
    if (!Number.isFinite(c.tsMs)) return;
    const age = now - c.tsMs;
    const text = formatAge(age);
    if (c.age.textContent !== text) c.age.textContent = text;
    const fresh = age > STALE_MS ? 'stale' : 'fresh';
    if (c.el.getAttribute('data-fresh') !== fresh) c.el.setAttribute('data-fresh', fresh);
  }

  // tick_ages: called every second by a local timer; touches ages only.
  tickAges() {
    const now = Date.now();
    for (const c of this.cards.values()) this.renderAge(c, now);
    for (const d of this.devices.values()) this.renderSince(d);
  }

  // presence: {device, online, ts}; an older change never overwrites a newer one.
  presence(p) {
    if (!p || typeof p.device !== 'string' || p.device === '') return;
    const d = this.ensureDevice(p.device, { standard: !this.devices.has(p.device) });
    const tsMs = parseTs(p.ts);
    if (Number.isFinite(tsMs) && Number.isFinite(d.presence.tsMs) && tsMs < d.presence.tsMs) return;
    const online = p.online === true || p.online === 'online' || p.online === 'true';
    d.presence = { online, tsMs };
    const state = online ? 'online' : 'offline';
    d.badge.textContent = state;
    d.badge.setAttribute('data-state', state);
    d.el.setAttribute('data-presence', state);
    this.renderSince(d);
  }

  renderSince(d) {
    if (d.presence.online == null || !Number.isFinite(d.presence.tsMs)) {
      if (d.since.textContent) d.since.textContent = '';
      return;
    }
    const text = `for ${formatAge(Date.now() - d.presence.tsMs).replace(/ ago$/, '')}`;
    if (d.since.textContent !== text) d.since.textContent = text;
    d.since.title = `${d.presence.online ? 'online' : 'offline'} since ${formatClock(d.presence.tsMs)}`;
  }
}
