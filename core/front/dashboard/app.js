/* meterd dashboard: polls the daemon's JSON API and draws it.
 *
 * Rules this script keeps:
 *   - Every string from the API (family and member names, provider error
 *     messages) is untrusted: the DOM is built with createElement and
 *     textContent only, never innerHTML.
 *   - An unknown value (JSON null) is written "unknown" with the API's
 *     reason, never drawn as 0.
 *   - Errors of this script land in #js-errors, so a test (or a person)
 *     sees them on the page itself. */
(function () {
  'use strict';

  var SVG_NS = 'http://www.w3.org/2000/svg';
  var DAYS = 30;
  var errorsBox = document.getElementById('js-errors');

  function reportError(text) {
    var p = document.createElement('p');
    p.className = 'js-error';
    p.textContent = text;
    errorsBox.appendChild(p);
    errorsBox.hidden = false;
  }
  window.addEventListener('error', function (e) {
    reportError('script error: ' + e.message + ' (' + e.filename + ':' + e.lineno + ')');
  });
  window.addEventListener('unhandledrejection', function (e) {
    reportError('unhandled rejection: ' + String(e.reason));
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    reportError('blocked by the content security policy: ' + e.violatedDirective +
                ' ' + e.blockedURI);
  });

  function pollSeconds() {
    var q = /[?&]poll=(\d+)/.exec(location.search);
    var n = q ? Number(q[1]) : Number(document.body.dataset.pollSeconds);
    return n >= 2 ? n : 15;
  }

  /* ---- small helpers ---- */

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  var numFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  var compactFmt = new Intl.NumberFormat(undefined, { notation: 'compact',
                                                      maximumFractionDigits: 1 });
  function fmtNum(n) { return numFmt.format(n); }

  /* A value with its unit, for people: 5 %, $12.34, 580 requests. */
  function fmtAmount(n, unit) {
    if (unit === 'percent') return fmtNum(n) + ' %';
    if (unit === 'usd') return '$' + n.toFixed(2);
    return fmtNum(n) + (unit ? ' ' + unit : '');
  }

  /* 2 h 14 m, 3 d 4 h, 45 s. */
  function fmtDuration(sec) {
    sec = Math.max(0, Math.round(sec));
    var d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600),
        m = Math.floor(sec % 3600 / 60), s = sec % 60;
    if (d) return d + ' d ' + h + ' h';
    if (h) return h + ' h ' + m + ' m';
    if (m) return m + ' m';
    return s + ' s';
  }
  function fmtWhen(ms) {
    var d = new Date(ms), now = new Date();
    var sameDay = d.toDateString() === now.toDateString();
    return sameDay ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
                   : d.toLocaleString(undefined, { weekday: 'short', month: 'short',
                                                   day: 'numeric', hour: '2-digit',
                                                   minute: '2-digit' });
  }

  var REASONS = {
    not_reported: 'the provider did not report it',
    no_quota_metric: 'no quota meter in the data',
    not_applicable: 'not applicable to this provider',
    collection_failed: 'collection failed',
    pending: 'not collected yet'
  };
  function reasonText(code) {
    if (!code) return 'no reason given';
    return REASONS[code] ? REASONS[code] + ' (' + code + ')' : code;
  }

  var STATUS_TONE = { ok: 'ok', degraded: 'warn', unavailable: 'bad' };

  /* Alert classes of GET /api/quotas, most urgent first. */
  var ALERTS = {
    exhausted: { label: 'exhausted', tone: 'bad' },
    topup: { label: 'top up', tone: 'bad' },
    use_or_lose: { label: 'use or lose', tone: 'warn' },
    watch: { label: 'watch', tone: 'warn' },
    ok: { label: 'quota ok', tone: 'ok' },
    unknown: { label: 'alert unknown', tone: 'unknown' }
  };
  function alertBadge(cls, why) {
    var a = ALERTS[cls] || ALERTS.unknown;
    var b = el('span', 'pill alert tone-' + a.tone, a.label);
    b.dataset.alert = ALERTS[cls] ? cls : 'unknown';
    b.title = 'alert class ' + (ALERTS[cls] ? cls : 'unknown') + (why ? ': ' + why : '');
    return b;
  }

  /* Why a forecast number is null (forecast_reason of GET /api/quotas). */
  var FORECAST_REASONS = {
    no_data: 'no value to forecast from',
    too_few_samples: 'too few samples yet',
    span_too_short: 'samples span too short a time',
    no_consumption: 'no consumption',
    not_before_reset: 'lasts past its reset',
    no_remaining: 'remaining not known',
    no_reset: 'no reset time',
    no_limit: 'no limit',
    no_expiry: 'no expiry'
  };
  function forecastReasonText(code) {
    if (!code) return 'no reason given';
    return FORECAST_REASONS[code] ? FORECAST_REASONS[code] + ' (' + code + ')' : code;
  }

  /* Utilization of the governing meter in percent, or null when unknown. */
  function utilization(g) {
    if (!g) return null;
    if (isNum(g.utilization)) return g.utilization;
    if (isNum(g.limit) && g.limit > 0 && isNum(g.remaining))
      return 100 * (g.limit - g.remaining) / g.limit;
    return null;
  }
  function isExhausted(row) {
    return !!(row.governing_metric && row.governing_metric.reason === 'exhausted');
  }
  function utilTone(u, exhausted) {
    if (exhausted || u >= 90) return 'bad';
    return u >= 70 ? 'warn' : 'ok';
  }

  /* Most urgent first: exhausted, then highest utilization (unknown
   * last), then by name. */
  function byUrgency(a, b) {
    var ea = isExhausted(a), eb = isExhausted(b);
    if (ea !== eb) return ea ? -1 : 1;
    var ua = utilization(a.governing_metric), ub = utilization(b.governing_metric);
    if ((ua === null) !== (ub === null)) return ua === null ? 1 : -1;
    if (ua !== null && ua !== ub) return ub - ua;
    return String(a.provider).localeCompare(String(b.provider));
  }

  /* An element whose text counts down to an instant, kept current by
   * tick(). */
  function countdown(prefix, iso, pastText, suffix) {
    var ms = Date.parse(iso);
    var span = el('span', 'countdown');
    span.dataset.at = String(ms);
    span.dataset.prefix = prefix;
    span.dataset.suffix = suffix || '';
    span.dataset.past = pastText;
    span.title = new Date(ms).toString();
    updateCountdown(span, Date.now());
    return span;
  }
  function updateCountdown(span, now) {
    var left = (Number(span.dataset.at) - now) / 1000;
    span.textContent = left > 0 ? span.dataset.prefix + ' ' + fmtDuration(left) +
                                  span.dataset.suffix
                                : span.dataset.past;
  }
  function tick() {
    var now = Date.now();
    var all = document.querySelectorAll('.countdown');
    for (var i = 0; i < all.length; i++) updateCountdown(all[i], now);
  }

  /* ---- one family card ---- */

  function fact(list, label, value) {
    var li = el('li');
    li.appendChild(el('span', 'label', label + ': '));
    if (typeof value === 'string') li.appendChild(document.createTextNode(value));
    else li.appendChild(value);
    list.appendChild(li);
    return li;
  }

  /* The bar with its numbers written above it (never over the fill,
   * where no colour reads well on both halves). */
  function meterBar(g, exhausted) {
    var u = utilization(g);
    var wrap = el('div', 'meter');
    var label = el('div', 'bar-label');
    var bar = el('div', 'bar');
    if (u === null) {
      bar.classList.add('bar-unknown');
      label.textContent = 'utilization unknown';
    } else {
      var tone = utilTone(u, exhausted);
      bar.classList.add('tone-' + tone);
      bar.setAttribute('role', 'progressbar');
      bar.setAttribute('aria-valuemin', '0');
      bar.setAttribute('aria-valuemax', '100');
      bar.setAttribute('aria-valuenow', String(Math.round(u)));
      var fill = el('div', 'fill');
      fill.style.width = Math.min(100, Math.max(0, u)) + '%';
      bar.appendChild(fill);
      var text = fmtNum(u) + ' % used';
      if (isNum(g.limit) && isNum(g.remaining) && g.unit !== 'percent')
        text += ' · ' + fmtAmount(g.limit - g.remaining, null) + ' of ' +
                fmtAmount(g.limit, g.unit);
      label.textContent = text;
    }
    wrap.appendChild(label);
    wrap.appendChild(bar);
    return wrap;
  }

  function memberItem(m) {
    var li = el('li', 'member');
    li.dataset.member = m.name;
    var dot = el('span', 'dot tone-' + (m.status === 'ok' ? 'ok' :
                                         m.status === 'disabled' ? 'unknown' : 'bad'));
    li.appendChild(dot);
    li.appendChild(el('span', 'member-name', m.name));
    if (m.plugin) li.appendChild(el('span', 'member-plugin', ' (' + m.plugin + ')'));
    li.appendChild(document.createTextNode(' ' + m.status));
    if (m.stale) {
      li.appendChild(el('span', 'badge badge-warn', 'stale' +
                        (isNum(m.age_seconds) ? ', ' + fmtDuration(m.age_seconds) + ' old' : '')));
    } else if (m.served_from === 'snapshot') {
      li.appendChild(el('span', 'badge', 'snapshot' +
                        (isNum(m.age_seconds) ? ', ' + fmtDuration(m.age_seconds) + ' old' : '')));
    }
    if (m.error) {
      var err = el('span', 'member-error');
      err.appendChild(el('span', 'error-class', m.error.class + ': '));
      err.appendChild(el('span', 'error-message',
                         m.error.message === null ? '(no message)' : m.error.message));
      li.appendChild(err);
    }
    return li;
  }

  /* One meter of the family with its alert class and runway. */
  function quotaMeterItem(e) {
    var li = el('li', 'quota-meter');
    li.dataset.provider = e.provider;
    li.dataset.meter = e.meter;
    li.appendChild(el('span', 'quota-meter-id', e.provider + ' · ' + e.meter));
    li.appendChild(document.createTextNode(' '));
    li.appendChild(alertBadge(e.alert, e.alert_reason));
    var run = el('span', 'runway');
    if (isNum(e.runway_seconds)) {
      run.textContent = 'runway ' + fmtDuration(e.runway_seconds) +
        (e.exhausts_at ? ', runs out ' + fmtWhen(Date.parse(e.exhausts_at))
                       : ', lasts past its reset');
    } else {
      run.classList.add('unknown');
      run.textContent = 'runway unknown: ' + forecastReasonText(e.forecast_reason);
    }
    li.appendChild(run);
    if (isNum(e.burn_per_hour) && e.burn_per_hour > 0)
      li.appendChild(el('span', 'burn', 'burns ' + fmtAmount(e.burn_per_hour, e.unit) + '/h'));
    return li;
  }

  /* When the family runs out: its earliest exhausts_at, else why not
   * (the governing meter's forecast_reason). */
  function runsOut(row, entries) {
    if (row.exhausts_at) {
      var span = el('span', 'runs-out');
      span.appendChild(document.createTextNode(fmtWhen(Date.parse(row.exhausts_at)) + ' '));
      span.appendChild(countdown('(in', row.exhausts_at, '(now)', ')'));
      return span;
    }
    var g = row.governing_metric, gov = null;
    entries.forEach(function (e) {
      if (g && e.provider === g.provider && e.meter === g.id && !gov) gov = e;
    });
    if (gov && gov.forecast_reason === 'not_before_reset')
      return el('span', 'runs-out', 'not before its reset');
    return el('span', 'runs-out unknown', 'unknown' +
              (gov ? ': ' + forecastReasonText(gov.forecast_reason) : ''));
  }

  /* The family's cost today and over the last 7 days, from the per-day
   * document (its member providers' cost_usd), or null when none of its
   * members has usage in it. */
  function familyCost(row, daily) {
    if (!daily) return null;
    var members = {};
    (row.members || []).forEach(function (m) { members[m.name] = true; });
    var dates = lastDays(), today = dates[dates.length - 1], week = dates.slice(-7);
    var sums = { today: { usd: 0, known: false, unknown: false },
                 week: { usd: 0, known: false, unknown: false } };
    var any = false;
    (daily.days || []).forEach(function (day) {
      (day.providers || []).forEach(function (p) {
        if (!members[p.provider]) return;
        any = true;
        var into = [];
        if (day.date === today) into.push(sums.today);
        if (week.indexOf(day.date) >= 0) into.push(sums.week);
        into.forEach(function (s) {
          if (isNum(p.cost_usd)) { s.usd += p.cost_usd; s.known = true; }
          else s.unknown = true;
        });
      });
    });
    return any ? sums : null;
  }
  function costText(s) {
    if (s.unknown && !s.known) return 'unknown (no price for its models)';
    return (s.unknown ? 'at least ' : '') + '$' + s.usd.toFixed(2);
  }

  function familyCard(row, entries, daily) {
    var g = row.governing_metric, exhausted = isExhausted(row);
    var u = utilization(g);
    var card = el('article', 'family');
    card.dataset.family = row.provider;
    var tone = exhausted ? 'bad' : STATUS_TONE[row.status] || 'unknown';
    /* Green says "known and fine": an unknown value stays neutral. */
    if (tone === 'ok') tone = u === null ? 'unknown' : utilTone(u, false);
    /* A family that runs out before its reset is as urgent as its alert
     * says, however little of the window is used yet. */
    var at = ALERTS[row.alert];
    if (at && at.tone === 'bad') tone = 'bad';
    else if (at && at.tone === 'warn' && tone !== 'bad') tone = 'warn';
    card.classList.add('tone-' + tone);

    var head = el('div', 'family-head');
    head.appendChild(el('h3', 'family-name', row.provider));
    if (exhausted) head.appendChild(el('span', 'pill tone-bad', 'exhausted'));
    /* The alert class; "exhausted" is already said just before. */
    if (!(exhausted && row.alert === 'exhausted'))
      head.appendChild(alertBadge(row.alert));
    /* The collection status; "exhausted ok" would read as a contradiction,
     * and the members below still say each one is ok. */
    if (!(exhausted && row.status === 'ok')) {
      var pill = el('span', 'pill tone-' + (STATUS_TONE[row.status] || 'unknown'), row.status);
      pill.title = 'collection status';
      head.appendChild(pill);
    }
    var staleMembers = (row.members || []).filter(function (m) { return m.stale; });
    if (staleMembers.length)
      head.appendChild(el('span', 'badge badge-warn', 'stale data'));
    if (row.served_from === 'snapshot')
      head.appendChild(el('span', 'badge badge-warn', 'from snapshot' +
                          (isNum(row.age_seconds) ? ', ' + fmtDuration(row.age_seconds) + ' old' : '')));
    card.appendChild(head);

    /* The headline: what is left of the governing meter. */
    var headline = el('div', 'headline');
    if (isNum(row.usage_remaining)) {
      headline.appendChild(el('span', 'big remaining',
                              fmtAmount(row.usage_remaining, row.usage_remaining_unit)));
      headline.appendChild(el('span', 'sub', 'remaining'));
    } else {
      headline.classList.add('unknown');
      headline.appendChild(el('span', 'big remaining', 'unknown'));
      headline.appendChild(el('span', 'sub reason',
                              'remaining unknown: ' + reasonText(row.usage_remaining_reason)));
    }
    card.appendChild(headline);

    if (g) {
      card.appendChild(el('div', 'meter-name', 'governing meter: ' + g.provider + ' · ' + g.id +
                          (g.reason ? ' (' + g.reason.replace(/_/g, ' ') + ')' : '')));
      card.appendChild(meterBar(g, exhausted));
    }

    var facts = el('ul', 'facts');
    if (g && g.resets_at)
      fact(facts, 'reset', countdown('resets in', g.resets_at, 'reset due now'));
    else if (g)
      fact(facts, 'reset', 'unknown (not reported)');
    if (exhausted) {
      var again = row.available_again_at;
      var li = fact(facts, 'available again',
                    again ? fmtWhen(Date.parse(again)) + ' ' : 'unknown (no reset time reported)');
      li.classList.add('exhausted-note');
      if (again) li.appendChild(countdown('(in', again, '(now)', ')'));
    }
    if (g && !exhausted)
      fact(facts, 'runs out', runsOut(row, entries)).classList.add('runs-out-fact');
    if (isNum(row.actual_current_usage))
      fact(facts, 'current usage', fmtAmount(row.actual_current_usage,
                                             row.actual_current_usage_unit));
    var cost = familyCost(row, daily);
    if (cost)
      fact(facts, 'cost', costText(cost.today) + ' today · ' + costText(cost.week) +
           ' last 7 days').classList.add('cost');
    if (facts.childNodes.length) card.appendChild(facts);

    if (entries.length) {
      var meters = el('ul', 'quota-meters');
      entries.forEach(function (e) { meters.appendChild(quotaMeterItem(e)); });
      card.appendChild(meters);
    }

    var members = el('ul', 'members');
    (row.members || []).forEach(function (m) { members.appendChild(memberItem(m)); });
    card.appendChild(members);
    return card;
  }

  /* quotas (GET /api/quotas) and daily (GET /api/usage/daily) may be
   * null when they could not be read: the cards then lack their meters
   * or their cost. */
  function renderFamilies(doc, quotas, daily) {
    var box = document.getElementById('families');
    var rows = (doc.providers || []).slice().sort(byUrgency);
    var byFamily = {};
    ((quotas && quotas.quotas) || []).forEach(function (e) {
      (byFamily[e.family] = byFamily[e.family] || []).push(e);
    });
    box.replaceChildren();
    if (!rows.length) box.appendChild(el('p', 'empty', 'No provider is configured.'));
    rows.forEach(function (row) {
      box.appendChild(familyCard(row, byFamily[row.provider] || [], daily));
    });
  }

  /* ---- per-day tokens chart ---- */

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function localDate(d) {
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }
  /* The last DAYS local dates, oldest first. */
  function lastDays() {
    var out = [], d = new Date();
    d.setHours(12, 0, 0, 0); /* midday: a DST change never skips a date */
    d.setDate(d.getDate() - (DAYS - 1));
    for (var i = 0; i < DAYS; i++) {
      out.push(localDate(d));
      d.setDate(d.getDate() + 1);
    }
    return out;
  }

  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(e);
    return e;
  }

  /* The smallest of 1, 2, 3, 4, 5, 6, 8 x 10^k at or above v, so the
   * axis reads 0, half and top in round numbers. */
  function niceCeiling(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i++)
      if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  var lastDaily = null;

  function renderDaily(doc) {
    lastDaily = doc;
    var box = document.getElementById('daily');
    box.replaceChildren();
    var dates = lastDays();
    var byDate = {};
    (doc.days || []).forEach(function (day) { byDate[day.date] = day; });
    var recorded = dates.filter(function (d) { return byDate[d]; });
    if (!recorded.length) {
      box.appendChild(el('p', 'empty', 'No token usage recorded in the last ' + DAYS + ' days.'));
      return;
    }
    /* A day with no entry had no usage (0); a day whose total is null had
     * usage of unknown size. */
    var values = dates.map(function (d) {
      var day = byDate[d];
      return day ? (isNum(day.tokens_total) ? day.tokens_total : null) : 0;
    });
    var anyCost = recorded.some(function (d) { return isNum(byDate[d].cost_usd); });
    var max = niceCeiling(Math.max.apply(null, values.filter(isNum).concat([1])));

    var W = Math.max(280, Math.floor(box.clientWidth - 2) || 600), H = 190;
    var left = 46, right = 8, top = 10, bottom = 24;
    var plotW = W - left - right, plotH = H - top - bottom;
    var band = plotW / DAYS, barW = Math.max(2, band * 0.72);
    var chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H,
                             role: 'img', class: 'chart',
                             'aria-label': 'tokens per day, last ' + DAYS + ' days' });
    [0, 0.5, 1].forEach(function (f) {
      var y = top + plotH * (1 - f);
      svg('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'chart-grid' }, chart);
      var t = svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-axis' }, chart);
      t.textContent = compactFmt.format(max * f);
    });
    values.forEach(function (v, i) {
      var day = byDate[dates[i]];
      var x = left + band * i + (band - barW) / 2;
      var rect, tip = dates[i] + ': ';
      if (v === null) {
        rect = svg('rect', { x: x, y: top + plotH - 6, width: barW, height: 6,
                             class: 'chart-bar-unknown' }, chart);
        tip += 'unknown tokens (not every source reported a total)';
      } else {
        var h = v > 0 ? Math.max(1, plotH * v / max) : 0;
        rect = svg('rect', { x: x, y: top + plotH - h, width: barW, height: h,
                             class: 'chart-bar' }, chart);
        tip += fmtNum(v) + ' tokens';
      }
      if (day && anyCost)
        tip += isNum(day.cost_usd) ? ', $' + day.cost_usd.toFixed(2) : ', cost unknown';
      rect.setAttribute('data-date', dates[i]);
      rect.setAttribute('data-tokens', v === null ? 'unknown' : String(v));
      svg('title', {}, rect).textContent = tip;
    });
    [0, Math.floor(DAYS / 2), DAYS - 1].forEach(function (i) {
      var t = svg('text', { x: left + band * (i + 0.5), y: H - 6, 'text-anchor': 'middle',
                            class: 'chart-axis' }, chart);
      t.textContent = dates[i].slice(5);
    });
    box.appendChild(chart);

    var totals = el('p', 'totals');
    var known = values.filter(isNum).reduce(function (a, b) { return a + b; }, 0);
    var someUnknown = values.some(function (v) { return v === null; });
    totals.appendChild(el('span', 'label', DAYS + ' days: '));
    totals.appendChild(el('span', 'total-tokens',
                          (someUnknown ? 'at least ' : '') + fmtNum(known) + ' tokens'));
    if (anyCost) {
      var cost = 0, costUnknown = false;
      recorded.forEach(function (d) {
        if (isNum(byDate[d].cost_usd)) cost += byDate[d].cost_usd; else costUnknown = true;
      });
      totals.appendChild(document.createTextNode(' · '));
      totals.appendChild(el('span', 'total-cost',
                            (costUnknown ? 'at least ' : '') + '$' + cost.toFixed(2)));
    }
    if (someUnknown)
      totals.appendChild(el('span', 'label', ' (grey: days of unknown size)'));
    box.appendChild(totals);
  }

  /* ---- polling ---- */

  var lastOk = 0;
  var tz = (Intl.DateTimeFormat().resolvedOptions().timeZone) || '';

  function getJSON(url) {
    return fetch(url, { cache: 'no-store', credentials: 'same-origin' }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (body) {
        if (!r.ok || !body) {
          var msg = body && body.error && body.error.message ? body.error.message : 'HTTP ' + r.status;
          var e = new Error(url.split('?')[0] + ': ' + msg);
          e.status = r.status;
          throw e;
        }
        return body;
      });
    });
  }

  function dailyURL(withTz) {
    var q = '?since=' + lastDays()[0];
    return '/api/usage/daily' + q + (withTz && tz ? '&tz=' + encodeURIComponent(tz) : '');
  }
  function fetchDaily() {
    /* The browser's zone, so days match the operator's calendar; a zone
     * the daemon cannot read falls back to its default (UTC). */
    return getJSON(dailyURL(true)).catch(function (e) {
      if (e.status === 400 && tz) { tz = ''; return getJSON(dailyURL(false)); }
      throw e;
    });
  }

  function showFetchError(e) {
    var box = document.getElementById('fetch-error');
    box.replaceChildren(el('p', null, 'Cannot read the daemon: ' + e.message +
                           (lastOk ? '. Showing data from ' + fmtWhen(lastOk) + '.' : '.')));
    box.hidden = false;
  }

  /* A promise of {doc} or {failed: error}: the page shows what it has. */
  function settle(p) {
    return p.then(function (doc) { return { doc: doc }; },
                  function (e) { return { failed: e }; });
  }

  function refresh() {
    var status = document.getElementById('status-line');
    var quotas = settle(getJSON('/api/quotas'));
    var daily = settle(fetchDaily());
    var usage = getJSON('/api/automation/usage');
    return Promise.all([usage, quotas, daily]).then(function (r) {
      var doc = r[0], q = r[1], dd = r[2];
      renderFamilies(doc, q.doc || null, dd.doc || null);
      var src = doc.meta && doc.meta.data_source;
      var text = 'Updated ' + new Date().toLocaleTimeString() + ' · every ' + pollSeconds() + ' s';
      if (src && src !== 'live_or_cache') text += ' · ' + src.replace(/_/g, ' ');
      if (q.failed) text += ' · alerts unavailable: ' + q.failed.message;
      status.textContent = text;
      lastOk = Date.now();
      if (dd.failed) {
        var box = document.getElementById('daily');
        box.replaceChildren(el('p', 'empty', 'Per-day usage unavailable: ' + dd.failed.message));
      } else {
        renderDaily(dd.doc);
      }
    }).then(function () {
      document.getElementById('fetch-error').hidden = true;
      document.body.dataset.state = 'ready';
    }, function (e) {
      showFetchError(e);
      document.body.dataset.state = 'error';
    });
  }

  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (lastDaily) renderDaily(lastDaily); }, 150);
  });

  refresh();
  setInterval(refresh, pollSeconds() * 1000);
  setInterval(tick, 1000);
})();
