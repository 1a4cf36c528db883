/** Small DOM helpers: the sidebar is plain DOM (no framework), text always escaped. */

type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | ((ev: Event) => void) | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) {
      continue;
    }
    if (typeof value === 'function') {
      el.addEventListener(key.replace(/^on/, '').toLowerCase(), value);
    } else if (key === 'class') {
      el.className = String(value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, value);
    }
  }
  append(el, children);
  return el;
}

export function append(el: HTMLElement, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `el`. */
export function setChildren(el: HTMLElement, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

export function fmtNumber(value: unknown): string {
  if (typeof value !== 'number') {
    return value === null || value === undefined ? '' : String(value);
  }
  if (Number.isInteger(value)) {
    return String(value);
  }
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6)
    ? value.toExponential(3)
    : String(Number(value.toPrecision(4)));
}

/** "3 min ago"-style age of an ISO time or epoch seconds. */
export function ago(when: string | number | null | undefined): string {
  if (when === null || when === undefined || when === '') {
    return '';
  }
  const t = typeof when === 'number' ? when * 1000 : Date.parse(when);
  if (Number.isNaN(t)) {
    return String(when);
  }
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) {
    return `${Math.round(s)} s ago`;
  }
  if (s < 3600) {
    return `${Math.round(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.round(s / 3600)} h ago`;
  }
  return `${Math.round(s / 86400)} d ago`;
}

export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 120) {
    return `${seconds.toFixed(1)} s`;
  }
  return `${Math.round(seconds / 60)} min`;
}

/** A status pill: RUNNING / FINISHED / FAILED / ran / cached / running ... */
export function statusBadge(status: string): HTMLElement {
  const key = status.toLowerCase();
  return h('span', { class: `nbmlops-status nbmlops-status-${key}`, title: status }, status);
}

export function table(rows: [string, Child | Child[]][], cls = ''): HTMLTableElement {
  return h(
    'table',
    { class: `nbmlops-kv ${cls}` },
    h(
      'tbody',
      {},
      rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v as Child)))
    )
  );
}

/** A check threshold as words: {"min": 0.9} -> "min 0.9", [0, 1] -> "0 to 1". */
export function fmtThreshold(threshold: unknown): string {
  if (Array.isArray(threshold) && threshold.length === 2) {
    return `${fmtNumber(threshold[0])} to ${fmtNumber(threshold[1])}`;
  }
  if (threshold && typeof threshold === 'object') {
    return Object.entries(threshold as Record<string, unknown>)
      .map(([k, v]) => `${k} ${fmtNumber(v)}`)
      .join(', ');
  }
  return fmtNumber(threshold);
}
