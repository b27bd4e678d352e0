/*! LeadBridge tracker. Paste on every page (see docs/capture.md):
 *  <script>window.lb=window.lb||function(){(lb.q=lb.q||[]).push(arguments)};</script>
 *  <script async src="https://CRM-HOST/t/lb.js" data-site-key="SITE_KEY"></script>
 * Commands: lb('identify', {email, phone, name}), lb('event', 'cart_add', {sku: 1}), lb('pageview').
 * Plain ES2017, no build step, no dependencies.
 */
(() => {
  'use strict';
  const w = window;
  const d = document;
  if (w.lb && w.lb.loaded) return;

  const script = d.currentScript || d.querySelector('script[data-site-key]');
  const opts = (script && script.dataset) || {};
  const base = (opts.endpoint || (script && script.src ? new URL(script.src, location.href).origin : location.origin)).replace(/\/$/, '');
  let siteKey = opts.siteKey || '';
  let autoPageview = opts.autoPageview !== 'false';

  const VID = '_lb_vid';
  const SRC = '_lb_src';
  const TWO_YEARS = 63072000;
  const UTM = ['source', 'medium', 'campaign', 'term', 'content'];
  const CLICK_IDS = ['gclid', 'yclid', 'fbclid', 'msclkid'];
  const BATCH_HITS = 50;
  const BATCH_BYTES = 48000; // the server takes 64 KB; sendBeacon/keepalive refuse more
  const cut = (v, n) => String(v == null ? '' : v).slice(0, n);

  // --- first-party cookies ---------------------------------------------------------------------
  const cookieTail = '; path=/; SameSite=Lax' + (opts.cookieDomain ? '; domain=' + opts.cookieDomain : '') +
    (location.protocol === 'https:' ? '; Secure' : '');
  const getCookie = (name) => {
    const m = d.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    try { return m ? decodeURIComponent(m[1]) : ''; } catch (e) { return ''; }
  };
  const setCookie = (name, value) => {
    d.cookie = name + '=' + encodeURIComponent(value) + '; max-age=' + TWO_YEARS + cookieTail;
  };
  const randomId = () => {
    const bytes = new Uint8Array(16);
    w.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  };

  let vid = getCookie(VID);
  if (!/^[A-Za-z0-9._-]{8,64}$/.test(vid)) vid = randomId();
  setCookie(VID, vid); // two years from the latest visit

  // --- attribution: utm_* and click ids of the landing URL, first and last touch ---------------
  const touchOf = (href) => {
    let params;
    try { params = new URL(href).searchParams; } catch (e) { return null; }
    const touch = {};
    UTM.forEach((k) => { const v = params.get('utm_' + k); if (v) (touch.utm = touch.utm || {})[k] = cut(v, 120); });
    // Click ids keep their exact case (names and values): ad platforms match them byte for byte.
    CLICK_IDS.forEach((k) => { const v = params.get(k); if (v) (touch.click_ids = touch.click_ids || {})[k] = cut(v, 120); });
    if (!touch.utm && !touch.click_ids) return null;
    touch.at = Date.now();
    return touch;
  };
  let touches = {};
  try { touches = JSON.parse(getCookie(SRC) || '{}') || {}; } catch (e) { touches = {}; }
  const landing = touchOf(location.href);
  if (landing) {
    touches.l = landing;
    if (!touches.f) touches.f = landing;
    setCookie(SRC, JSON.stringify(touches));
  }

  // --- batching --------------------------------------------------------------------------------
  const queue = [];
  let timer = 0;
  const send = (hits, unloading) => {
    const body = JSON.stringify({ site_key: siteKey, visitor_id: vid, hits: hits });
    const url = base + '/t/events';
    // text/plain is a "simple" CORS type: no preflight, and sendBeacon can send it.
    if (unloading && navigator.sendBeacon) {
      try { if (navigator.sendBeacon(url, new Blob([body], { type: 'text/plain' }))) return; } catch (e) { /* fall back */ }
    }
    try {
      fetch(url, { method: 'POST', body: body, keepalive: true, credentials: 'omit', mode: 'cors',
        headers: { 'Content-Type': 'text/plain' } }).catch(() => {});
    } catch (e) { /* never break the page */ }
  };
  const flush = (unloading) => {
    clearTimeout(timer);
    timer = 0;
    if (!siteKey) {
      if (queue.length && w.console) w.console.warn('LeadBridge: no site key (data-site-key on the script tag)');
      queue.length = 0;
      return;
    }
    let batch = [];
    let size = 0;
    while (queue.length) {
      const hit = queue.shift();
      const len = JSON.stringify(hit).length;
      if (batch.length && (batch.length >= BATCH_HITS || size + len > BATCH_BYTES)) {
        send(batch, unloading);
        batch = [];
        size = 0;
      }
      batch.push(hit);
      size += len;
    }
    if (batch.length) send(batch, unloading);
  };
  const push = (hit) => {
    hit.ts = Date.now();
    hit.url = hit.url || cut(location.href, 2000);
    queue.push(hit);
    if (queue.length >= BATCH_HITS) flush(false);
    else if (!timer) timer = setTimeout(() => flush(false), 1000);
  };

  const pageview = () => {
    const hit = { type: 'pageview', url: cut(location.href, 2000), title: cut(d.title, 300), referrer: cut(d.referrer, 2000) };
    // The source travels once, with the page view that brought it; later hits are the same visit.
    if (landing && !pageview.sent) Object.assign(hit, { utm: landing.utm || {}, click_ids: landing.click_ids || {} });
    pageview.sent = true;
    push(hit);
  };
  const traitsOf = (obj) => {
    const out = {};
    Object.keys(obj || {}).forEach((k) => { const v = obj[k]; if (v != null && typeof v !== 'object') out[cut(k, 60)] = cut(v, 300); });
    return out;
  };

  // --- commands --------------------------------------------------------------------------------
  const run = (args) => {
    const [cmd, a, b] = args;
    if (cmd === 'init' || cmd === 'config') {
      if (typeof a === 'string') siteKey = a;
      else if (a && typeof a === 'object') {
        if (a.site_key) siteKey = a.site_key;
        if (a.auto_pageview === false) autoPageview = false;
      }
    } else if (cmd === 'identify') {
      const traits = traitsOf(a);
      if (Object.keys(traits).length) { push({ type: 'identify', traits: traits }); flush(false); }
    } else if (cmd === 'event') {
      if (a) push({ type: 'event', name: cut(a, 100), props: b && typeof b === 'object' ? b : undefined });
    } else if (cmd === 'pageview') {
      pageview();
    } else if (typeof cmd === 'function') {
      cmd(api);
    }
  };
  const stub = w.lb;
  const api = function () { run(Array.prototype.slice.call(arguments)); };
  const pending = (stub && stub.q) || [];
  api.loaded = true;
  api.visitorId = vid;
  // What a site's own form code sends along with a JSON post to /capture/form.
  api.context = () => ({
    site_key: siteKey, visitor_id: vid, page_url: location.href, referrer: d.referrer,
    utm: (touches.l && touches.l.utm) || {}, click_ids: (touches.l && touches.l.click_ids) || {},
  });
  api.flush = () => flush(false);
  w.lb = api;
  Array.from(pending).filter((a) => a[0] === 'init' || a[0] === 'config').forEach(run);
  if (autoPageview) pageview();
  Array.from(pending).filter((a) => a[0] !== 'init' && a[0] !== 'config').forEach(run);

  // --- forms: identify whoever submits one; feed /capture/form posts the visit's context ---------
  const kindOf = (el) => {
    const name = (el.name || el.id || '').toLowerCase();
    const type = (el.type || '').toLowerCase();
    if (type === 'password' || type === 'hidden' || type === 'checkbox' || type === 'radio') return '';
    if (type === 'email' || /e-?mail/.test(name)) return 'email';
    if (type === 'tel' || /phone|(^|[^a-z])tel([^a-z]|$)/.test(name)) return 'phone';
    if (/(^|[-_[\s])(full_?|first_?|your-?)?name\]?$/.test(name) && !/user|company|last/.test(name)) return 'name';
    return '';
  };
  const addHidden = (form, name, value) => {
    if (value == null || value === '' || form.elements.namedItem(name)) return;
    const input = d.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  };
  d.addEventListener('submit', (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    const traits = {};
    Array.from(form.elements).forEach((el) => {
      const kind = kindOf(el);
      const value = (el.value || '').trim();
      if (kind && value && !traits[kind]) traits[kind] = cut(value, 300);
    });
    let action = '';
    try { action = new URL(form.getAttribute('action') || '', location.href).href; } catch (e) { action = ''; }
    const ours = action.indexOf(base + '/capture/form') === 0;
    if (ours) {
      const last = touches.l || {};
      addHidden(form, 'site_key', siteKey);
      addHidden(form, 'visitor_id', vid);
      addHidden(form, 'page_url', cut(location.href, 2000));
      addHidden(form, 'referrer', cut(d.referrer, 2000));
      // One key per rendered form: a double click or a resubmit is the same inquiry.
      form.dataset.lbIdem = form.dataset.lbIdem || randomId();
      addHidden(form, 'idempotency_key', form.dataset.lbIdem);
      UTM.forEach((k) => addHidden(form, 'utm_' + k, last.utm && last.utm[k]));
      CLICK_IDS.forEach((k) => addHidden(form, k, last.click_ids && last.click_ids[k]));
    }
    // A form posted to LeadBridge identifies the visitor itself (it carries visitor_id); a second
    // identify racing it could only add work.
    if (!ours && Object.keys(traits).length) push({ type: 'identify', traits: traits });
    flush(true); // the page is probably about to unload
  }, true);

  const onHide = () => flush(true);
  w.addEventListener('pagehide', onHide);
  d.addEventListener('visibilitychange', () => { if (d.visibilityState === 'hidden') onHide(); });
})();
