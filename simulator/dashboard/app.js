// kraken-sim dashboard: one WebSocket (/dashboard/ws) sends a snapshot of the
// chosen instrument a few times a second; this file only draws it.
// Numbers arrive as exact strings; floats are used for drawing only.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const params = new URLSearchParams(location.search);
  let symbol = params.get("symbol") || "";
  let ws = null;
  let backoff = 250;
  let lastState = null;
  let lastJournalSeq = 0;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
    return e;
  }

  function timeOnly(rfc) {
    const t = rfc.indexOf("T");
    return t >= 0 ? rfc.slice(t + 1, t + 13) : rfc;
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams();
    if (symbol) q.set("symbol", symbol);
    if (params.get("token")) q.set("token", params.get("token"));  // with --admin-token: open /?token=T
    const url = `${proto}//${location.host}/dashboard/ws` + (q.toString() ? `?${q}` : "");
    ws = new WebSocket(url);
    ws.onopen = () => { backoff = 250; setConn(true); };
    ws.onmessage = (ev) => {
      try { render(JSON.parse(ev.data)); } catch (err) { console.error(err); }
    };
    ws.onclose = () => {
      setConn(false);
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
  }

  function setConn(on) {
    const c = $("conn");
    c.textContent = on ? "live" : "offline";
    c.className = "conn " + (on ? "on" : "off");
    document.body.dataset.live = on ? "1" : "0";
  }

  $("symbol").addEventListener("change", (ev) => {
    symbol = ev.target.value;
    const u = new URL(location.href);
    u.searchParams.set("symbol", symbol);
    history.replaceState(null, "", u);
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ symbol }));
  });
  $("hide-bots").addEventListener("change", () => lastState && renderJournal(lastState));

  function render(s) {
    lastState = s;
    symbol = s.symbol;
    renderHeader(s);
    renderBook(s);
    renderDepth(s);
    renderTrades(s);
    renderOrders(s);
    renderLimits(s);
    renderConnections(s);
    renderMargin(s);
    renderJournal(s);
    document.body.dataset.updated = String(Date.now());
  }

  function renderHeader(s) {
    const sel = $("symbol");
    const names = s.pairs.map((p) => p.symbol);
    if (sel.options.length !== names.length || [...sel.options].some((o, i) => o.value !== names[i])) {
      sel.replaceChildren(...s.pairs.map((p) => el("option", { value: p.symbol }, p.symbol + (p.bots ? " ●" : "") + (p.replay ? " ▶" : ""))));
    }
    sel.value = s.symbol;
    const bids = s.book.bids, asks = s.book.asks;
    const bid = bids.length ? bids[0][0] : "-", ask = asks.length ? asks[0][0] : "-";
    $("quote").replaceChildren(el("span", { class: "bid" }, bid), " / ", el("span", { class: "ask" }, ask), el("span", { class: "muted" }, "  last " + (s.last || "-")));
    $("clock").textContent = `${s.clock.mode} clock ${s.clock.now}`;
    $("status").textContent = `system ${s.status} · ${s.viewers} viewer(s)`;
    const m = s.market || {};
    const parts = [];
    if (m.bots && m.bots.enabled) parts.push(`bots: ${m.bots.makers} makers, ${m.bots.takers} takers, ref ${m.bots.reference}, ${m.bots.steps} steps`);
    if (m.replay) parts.push(`replay ${m.replay.played}/${m.replay.records} @ ${m.replay.speed}${m.replay.done ? " (done)" : ""}`);
    $("market-info").textContent = parts.join(" · ");
  }

  function renderBook(s) {
    const dp = s.decimals[1];
    const row = (side, lvl, total) => el("tr", { class: side, "data-price": lvl[0], "data-side": side }, el("td", {}, lvl[0]), el("td", {}, lvl[1]), el("td", {}, total.toFixed(Math.min(dp, 8))));
    let cum = 0;
    const asks = s.book.asks.slice(0, 15).map((l) => { cum += parseFloat(l[1]); return row("ask", l, cum); }).reverse();
    cum = 0;
    const bids = s.book.bids.slice(0, 15).map((l) => { cum += parseFloat(l[1]); return row("bid", l, cum); });
    $("asks").replaceChildren(...asks);
    $("bids").replaceChildren(...bids);
    let spread = "";
    if (s.book.bids.length && s.book.asks.length) {
      const sp = parseFloat(s.book.asks[0][0]) - parseFloat(s.book.bids[0][0]);
      spread = `spread ${sp.toFixed(s.decimals[0])}`;
    }
    $("spread").replaceChildren(el("tr", {}, el("td", { colSpan: 3 }, spread || "no two-sided market")));
  }

  function renderDepth(s) {
    const svg = $("depth");
    const W = 800, H = 220, pad = 6;
    const bids = s.book.bids.map((l) => [parseFloat(l[0]), parseFloat(l[1])]);
    const asks = s.book.asks.map((l) => [parseFloat(l[0]), parseFloat(l[1])]);
    svg.replaceChildren();
    if (!bids.length && !asks.length) {
      $("depth-axis").replaceChildren(el("span", {}, "empty book"));
      return;
    }
    const cumul = (lv) => { let c = 0; return lv.map(([p, q]) => [p, (c += q)]); };
    const cb = cumul(bids), ca = cumul(asks);
    const prices = bids.map((l) => l[0]).concat(asks.map((l) => l[0]));
    let lo = Math.min(...prices), hi = Math.max(...prices);
    if (hi === lo) { lo -= 1; hi += 1; }
    const maxQ = Math.max(cb.length ? cb[cb.length - 1][1] : 0, ca.length ? ca[ca.length - 1][1] : 0) || 1;
    const x = (p) => pad + ((p - lo) / (hi - lo)) * (W - 2 * pad);
    const y = (q) => H - pad - (q / maxQ) * (H - 2 * pad);
    const area = (pts, cls, dir) => {
      if (!pts.length) return;
      let d = `M${x(pts[0][0])},${H - pad}`;
      let prevQ = 0;
      for (const [p, q] of pts) { d += ` L${x(p)},${y(prevQ)} L${x(p)},${y(q)}`; prevQ = q; }
      const edge = dir < 0 ? pad : W - pad;
      d += ` L${edge},${y(prevQ)} L${edge},${H - pad} Z`;
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      path.setAttribute("class", cls);
      path.setAttribute("fill", cls === "bid" ? "rgba(38,162,105,.35)" : "rgba(224,70,78,.35)");
      path.setAttribute("stroke", cls === "bid" ? "#26a269" : "#e0464e");
      path.setAttribute("stroke-width", "1.5");
      svg.append(path);
    };
    area(cb, "bid", -1);
    area(ca, "ask", 1);
    if (s.last) {
      const lx = x(parseFloat(s.last));
      if (lx >= 0 && lx <= W) {
        const line = document.createElementNS(SVG, "line");
        for (const [k, v] of Object.entries({ x1: lx, x2: lx, y1: 0, y2: H, stroke: "#f5d76e", "stroke-dasharray": "4 3" })) line.setAttribute(k, v);
        svg.append(line);
      }
    }
    const dp = s.decimals[0];
    $("depth-axis").replaceChildren(el("span", {}, lo.toFixed(dp)), el("span", {}, `max depth ${maxQ.toFixed(4)}`), el("span", {}, hi.toFixed(dp)));
  }

  function renderTrades(s) {
    const rows = s.trades.map((t) => el("tr", { class: t.side, "data-trade": String(t.id) }, el("td", {}, timeOnly(t.time)), el("td", {}, t.price), el("td", {}, t.qty), el("td", {}, t.side)));
    $("trades").tBodies[0].replaceChildren(...rows);
  }

  function renderOrders(s) {
    if (!s.orders.length) { $("orders").replaceChildren(el("p", { class: "muted" }, "no open orders on " + s.symbol)); return; }
    $("orders").replaceChildren(...s.orders.map((g) => {
      const more = g.count > g.orders.length ? ` (+${g.count - g.orders.length} more)` : "";
      const t = el("table", {}, el("tbody", {}, ...g.orders.map((o) => el("tr", { class: o.side, "data-order": o.id }, el("td", {}, o.id), el("td", {}, o.side), el("td", {}, o.price), el("td", {}, o.remaining)))));
      return el("div", { class: "acct", "data-account": g.account }, el("h3", {}, `${g.label} · ${g.count} open${more}`), t);
    }));
  }

  function renderLimits(s) {
    const rows = s.ratelimits.map((r) => {
      const pct = r.trade_max ? Math.min(100, (100 * r.counter) / r.trade_max) : 0;
      const calls = r.call_max ? `${r.calls} / ${r.call_max}` : String(r.calls);
      return el("tr", { "data-account": r.account }, el("td", {}, r.label), el("td", {}, r.tier),
        el("td", {}, el("span", { class: "bar", style: `width:${Math.max(1, pct * 0.8)}px` }), `${r.counter} / ${r.trade_max}`), el("td", {}, calls));
    });
    $("ratelimits").tBodies[0].replaceChildren(...rows);
  }

  function renderConnections(s) {
    const protos = Object.keys(s.connections).sort();
    if (!protos.length) { $("connections").replaceChildren(el("p", { class: "muted" }, "no trading sessions connected")); return; }
    $("connections").replaceChildren(...protos.map((p) => el("div", { "data-protocol": p },
      el("span", { class: "proto" }, `${p} (${s.connections[p].length})`), " ",
      s.connections[p].map((c) => `${c.id}${c.label ? " · " + c.label : ""}`).join(", "))));
  }

  function renderMargin(s) {
    const m = s.margin || { accounts: [], total: 0, called: 0, liquidations: 0 };
    $("margin-info").textContent = `${m.total} account(s) with positions · ${m.called} margin-called · ${m.liquidations} liquidation(s)`;
    if (!m.accounts.length) { $("margin").replaceChildren(el("p", { class: "muted" }, "no open margin positions")); return; }
    $("margin").replaceChildren(...m.accounts.map((a) => {
      const level = a.margin_level === null ? "-" : a.margin_level + " %";
      const flag = a.called ? el("span", { class: "flag", title: `margin level at or under ${a.margin_call} %` }, "MARGIN CALL") : "";
      const head = el("h3", {}, `${a.label} · margin level `, el("span", { class: a.called ? "ask" : "" }, level), ` (call ${a.margin_call} %, stop ${a.margin_stop} %) · equity ${a.equity} · used ${a.margin} · free ${a.free} ${a.asset} `, flag);
      const more = a.count > a.positions.length ? [el("tr", {}, el("td", { class: "muted" }, `+${a.count - a.positions.length} more`))] : [];
      const rows = a.positions.map((p) => el("tr", { class: p.side, "data-position": p.id },
        el("td", {}, p.id), el("td", {}, p.symbol), el("td", {}, p.side), el("td", {}, p.leverage), el("td", {}, p.vol),
        el("td", {}, `cost ${p.cost}`), el("td", {}, `margin ${p.margin}`), el("td", {}, `mark ${p.mark}`), el("td", {}, `net ${p.net} ${p.quote}`)));
      return el("div", { class: "acct", "data-account": a.account, "data-called": String(a.called) }, head, el("table", {}, el("tbody", {}, ...rows, ...more)));
    }));
  }

  function renderJournal(s) {
    const hide = $("hide-bots").checked;
    const rows = s.journal.filter((e) => !hide || (e.protocol !== "bot" && e.protocol !== "timer")).map((e) => {
      const cls = (e.error ? "err" : e.trades ? "trade" : "") + (e.seq > lastJournalSeq && lastJournalSeq ? " flash" : "");
      const result = e.error ? e.error : e.trades ? `${e.trades} trade(s)` : `${e.events} event(s)`;
      return el("tr", { class: cls, "data-seq": String(e.seq) }, el("td", {}, e.seq), el("td", {}, timeOnly(e.time)), el("td", {}, e.protocol),
        el("td", {}, e.label || ""), el("td", { title: e.text }, e.text), el("td", {}, result));
    });
    $("journal").tBodies[0].replaceChildren(...rows);
    if (s.journal.length) lastJournalSeq = s.journal[0].seq;
  }

  connect();
})();
