"use strict";
(function () {
  var cb = { sent: [], received: [] };
  window.claimbot = cb;

  var T = {
    ko: {
      send: "보내기", label: "메시지", ph: "메시지를 입력하세요", phChoice: "버튼을 누르거나 입력하세요",
      phEmail: "예) name@example.com", phPhone: "예) 010-1234-5678", phBiz: "예) 123-45-67890",
      phAmount: "예) 25만원", phDone: "대화가 끝났어요", connecting: "연결하는 중…",
      reconnecting: "연결이 끊어졌어요. 다시 연결하는 중…",
      policy: "연결이 잠시 제한되었어요. 잠시 후 다시 연결할게요.",
      expired: "링크가 만료되었어요. 배너를 다시 눌러 주세요.",
      receipt: "접수번호", copy: "복사", copied: "복사했어요", choices: "빠른 답장",
      err: {
        bad_frame: "메시지를 처리하지 못했어요.", too_large: "메시지가 너무 길어요.",
        rate_limited: "너무 빨리 보내고 있어요. 잠시 후 다시 보내 주세요.",
        unavailable: "지금은 저장할 수 없어요. 잠시 후 다시 보내 주세요."
      }
    },
    en: {
      send: "Send", label: "Message", ph: "Type a message", phChoice: "Tap a button or type",
      phEmail: "e.g. name@example.com", phPhone: "e.g. 010-1234-5678", phBiz: "e.g. 123-45-67890",
      phAmount: "e.g. 250,000", phDone: "The conversation has ended", connecting: "Connecting…",
      reconnecting: "Connection lost. Reconnecting…",
      policy: "The connection was limited. Reconnecting shortly…",
      expired: "This link has expired. Please tap the banner again.",
      receipt: "Receipt number", copy: "Copy", copied: "Copied", choices: "Quick replies",
      err: {
        bad_frame: "The message could not be processed.", too_large: "The message is too long.",
        rate_limited: "You are sending too fast. Please wait a moment.",
        unavailable: "Saving is not possible right now. Please send again shortly."
      }
    }
  };

  var body = document.body;
  var t = T[/^en/i.test(body.getAttribute("data-lang") || "") ? "en" : "ko"];
  var $ = function (id) { return document.getElementById(id); };
  var log = $("log"), choicesEl = $("choices"), statusEl = $("status"), scroller = $("scroller");
  var form = $("composer"), input = $("input"), sendBtn = $("send");
  var touch = !!(window.matchMedia && matchMedia("(pointer: coarse)").matches);

  var prefix = (function () {
    try { var a = new Uint32Array(2); crypto.getRandomValues(a); return a[0].toString(36) + a[1].toString(36).slice(0, 3); }
    catch (e) { return Math.random().toString(36).slice(2, 9); }
  })();
  var counter = 0;

  var ws = null, greeted = false, everGreeted = false, stopped = false;
  var timer = 0, attempt = 0, authFails = 0;
  var queue = [];      // frames not yet answered: {fr, bubble, text, st, late, live, resent}
  var last = null;     // last rendered reply: {state, invalid, done, msgs}
  var firstFocus = true;
  var kind = "";

  // The other account's link stays out of the address bar and history;
  // its token lives only in the switch form.
  if (window.history && history.replaceState && /[?&]t=/.test(location.search)) {
    var clean = new URL(location.href);
    clean.searchParams.delete("t");
    history.replaceState(null, "", clean.pathname + clean.search + clean.hash);
  }

  sendBtn.textContent = t.send;
  $("input-label").textContent = t.label;
  choicesEl.setAttribute("aria-label", t.choices);

  function el(tag, cls, text) {
    var d = document.createElement(tag);
    if (cls) d.className = cls;
    if (text != null) d.textContent = text;
    return d;
  }
  function add(node) { log.appendChild(node); return node; }
  function bubble(cls, text) { return add(el("div", "msg " + cls, text)); }
  function notice(text) { add(el("div", "notice", text)); scroll(); }
  function scroll() {
    var go = function () { scroller.scrollTop = scroller.scrollHeight; };
    go();
    if (window.requestAnimationFrame) requestAnimationFrame(go);
  }
  function status(text, bad) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("show", !!text);
    statusEl.classList.toggle("bad", !!bad);
  }

  // ---------- connection ----------
  function wsURL(http) {
    var raw = body.getAttribute("data-ws") || "";
    if (!raw || raw.indexOf("{{") >= 0) raw = "/ws";
    var u = new URL(raw, location.href);
    var s = location.protocol === "https:";
    u.protocol = http ? location.protocol : (s ? "wss:" : "ws:");
    // Dev mode's ?user=, ?lang=, ?flow= go along; a banner token never
    // does: a page still showing one holds it for another account than
    // its cookie's, and the socket must stay on this browser's own.
    new URLSearchParams(location.search).forEach(function (v, k) {
      if (k !== "t" && !u.searchParams.has(k)) u.searchParams.append(k, v);
    });
    return u.href;
  }

  function connect() {
    clearTimeout(timer); timer = 0;
    if (ws || stopped) return;
    var s, opened = false;
    try { s = new WebSocket(wsURL(false)); } catch (e) { closed({ code: 1006 }, false); return; }
    ws = s; greeted = false;
    s.onopen = function () { opened = true; };
    s.onmessage = function (e) { if (s === ws) onFrame(e.data); };
    s.onerror = function () {};
    s.onclose = function (e) { if (s === ws) { ws = null; greeted = false; closed(e, opened); } };
  }

  function later(ms) { clearTimeout(timer); timer = setTimeout(connect, ms); }
  function backoff() {
    // full jitter: uniform in [0, min(cap, base * 2^attempt)]
    later(Math.random() * Math.min(10000, 500 * Math.pow(2, Math.min(attempt, 10))));
    attempt++;
  }

  function closed(e, wasOpen) {
    queue.forEach(function (q) { if (q.live) { q.live = false; q.resent = true; q.late = true; } });
    if (stopped) return;
    var code = e && e.code;
    if (code === 4401) return authFailed();
    if (code === 1008) { status(t.policy); attempt++; return later(5000 + Math.random() * 10000); }
    status(t.reconnecting);
    if (!wasOpen && navigator.onLine !== false && window.fetch) {
      // The upgrade failed before opening: ask over plain HTTP whether we are refused (401/403)
      // or the server is just unreachable / restarting.
      fetch(wsURL(true), { credentials: "same-origin", cache: "no-store", redirect: "manual" })
        .then(function (r) { return r.status === 401 || r.status === 403; }, function () { return false; })
        .then(function (bad) { if (!stopped && !ws) { if (bad) authFailed(); else backoff(); } });
      return;
    }
    backoff();
  }

  function authFailed() {
    authFails++;
    status(t.expired, true);
    if (authFails >= 5) {
      stopped = true;
      clearTimeout(timer);
      setKind("none");
      disableChoices();
    } else backoff();
  }

  function wake() { if (!ws && !stopped && timer) connect(); }
  window.addEventListener("online", wake);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) wake(); });

  function transmit(q) {
    try { ws.send(JSON.stringify(q.fr)); } catch (e) { return; }
    q.live = true;
    cb.sent.push(q.fr);
  }

  function onFrame(data) {
    var f;
    try { f = JSON.parse(data); } catch (e) { return; }
    if (!f || typeof f !== "object") return;
    cb.received.push(f);
    if (!greeted) {
      greeted = true; attempt = 0; authFails = 0;
      status("");
      if (f.type === "reply") reply(f, everGreeted ? "reconnect" : "");
      else if (f.type === "error") notice(errText(f));
      everGreeted = true;
      queue.forEach(function (q) { if (ws && !q.live) transmit(q); });
      return;
    }
    var q = queue.length && queue[0].live ? queue.shift() : null;
    if (q) q.bubble.classList.remove("pending");
    if (f.type === "reply") reply(f, q && q.late ? "late" : "");
    else if (f.type === "error") onError(f, q);
  }

  function errText(f) { return String(f.text || t.err[f.code] || f.code || ""); }

  function onError(f, q) {
    notice(errText(f));
    if (!q) return;
    // Nothing was applied: give the user back what they typed.
    if (q.text != null && !input.disabled && !input.value) {
      input.value = q.text;
      grow();
      q.bubble.remove();
    } else q.bubble.classList.add("failed");
    if (last && q.st === last.state) enableChoices();
    if (!stopped && !(touch && kind === "choice")) input.focus({ preventScroll: true });
  }

  // ---------- rendering ----------
  function reply(f, mode) {
    var msgs = Array.isArray(f.messages) ? f.messages.map(String) : [];
    var skip = false;
    if (last && mode) {
      var same = f.state === last.state && !!f.done === last.done;
      skip = mode === "reconnect" ? same
        : same && !!f.invalid === last.invalid && msgs.join("\n\u0000") === last.msgs.join("\n\u0000");
    }
    if (!skip) {
      msgs.forEach(function (m) { bubble("bot" + (f.invalid ? " invalid" : ""), m); });
      if (f.done && f.claim_id != null && f.claim_id !== "") receipt(String(f.claim_id));
    }
    last = { state: f.state, invalid: !!f.invalid, done: !!f.done, msgs: msgs };
    renderChoices(f);
    setKind(f.done ? "done" : (f.input || "text"));
    focusInput();
    scroll();
  }

  function receipt(id) {
    var old = $("receipt");
    if (old) old.removeAttribute("id");
    var card = el("div", "receipt");
    card.id = "receipt";
    card.appendChild(el("div", "receipt-label", t.receipt));
    card.appendChild(el("div", "receipt-id", id));
    if (navigator.clipboard && window.isSecureContext) {
      var b = el("button", "copy", t.copy);
      b.type = "button";
      b.addEventListener("click", function () {
        navigator.clipboard.writeText(id).then(function () { b.textContent = t.copied; }, function () {});
      });
      card.appendChild(b);
    }
    add(card);
  }

  function renderChoices(f) {
    choicesEl.textContent = "";
    var st = f.state;
    (Array.isArray(f.choices) ? f.choices : []).forEach(function (c) {
      if (!c || c.value == null) return;
      var v = String(c.value);
      var label = String(c.label != null && c.label !== "" ? c.label : v);
      var b = el("button", "choice" + (v === "back" || v === "restart" ? " secondary" : v === "submit" ? " primary" : ""), label);
      b.type = "button";
      b.setAttribute("data-value", v);
      b.disabled = stopped;
      b.addEventListener("click", function () {
        if (b.disabled) return;
        disableChoices();
        b.classList.add("picked");
        send({ type: "choice", value: v }, st, label, null);
      });
      choicesEl.appendChild(b);
    });
  }
  function eachChoice(fn) { Array.prototype.forEach.call(choicesEl.querySelectorAll("button"), fn); }
  function disableChoices() { eachChoice(function (b) { b.disabled = true; }); }
  function enableChoices() { eachChoice(function (b) { b.disabled = stopped; b.classList.remove("picked"); }); }

  // kind -> [element, type, inputmode, autocomplete, placeholder key]
  var KINDS = {
    email: ["input", "email", "email", "email", "phEmail"],
    phone: ["input", "tel", "tel", "tel", "phPhone"],
    business_number: ["input", "text", "numeric", "off", "phBiz"],
    amount: ["input", "text", "text", "off", "phAmount"],
    text: ["textarea", "", "text", "off", "ph"],
    choice: ["input", "text", "text", "off", "phChoice"],
    confirm: ["input", "text", "text", "off", "phChoice"],
    none: ["input", "text", "text", "off", ""],
    done: ["input", "text", "text", "off", "phDone"]
  };

  function setKind(k) {
    var spec = KINDS[k] || KINDS.choice.slice(0, 4).concat("ph");
    kind = k === "confirm" ? "choice" : k;
    var off = stopped || k === "none" || k === "done";
    var cur = input, n = cur;
    var wantArea = spec[0] === "textarea";
    if ((cur.tagName === "TEXTAREA") !== wantArea) {
      n = document.createElement(spec[0]);
      n.id = "input";
      n.value = cur.value;
      var had = document.activeElement === cur;
      cur.replaceWith(n);
      input = n;
      if (had) n.focus({ preventScroll: true });
    }
    if (wantArea) n.rows = 1; else n.type = spec[1];
    n.setAttribute("inputmode", spec[2]);
    n.setAttribute("autocomplete", spec[3]);
    n.setAttribute("enterkeyhint", "send");
    n.setAttribute("spellcheck", k === "text" ? "true" : "false");
    n.setAttribute("autocapitalize", k === "text" ? "sentences" : "off");
    n.maxLength = 5000;
    n.placeholder = spec[4] ? t[spec[4]] : "";
    n.disabled = off;
    sendBtn.disabled = off;
    grow();
  }

  function grow() {
    if (input.tagName !== "TEXTAREA") { input.style.height = ""; return; }
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, Math.round(window.innerHeight * 0.4)) + "px";
  }

  function focusInput() {
    var first = firstFocus;
    firstFocus = false;
    if (input.disabled) return;
    if (touch && (first || kind === "choice")) return;
    input.focus({ preventScroll: true });
  }

  // ---------- sending ----------
  function send(fr, st, shown, text) {
    fr.id = prefix + "-" + (++counter);
    if (st != null && st !== "") fr.state = st;
    var q = { fr: fr, bubble: bubble("user pending", shown), text: text, st: st, late: false, live: false, resent: false };
    queue.push(q);
    if (ws && greeted && ws.readyState === 1) transmit(q);
    else q.late = true;
    scroll();
  }

  function sendText() {
    if (input.disabled) return;
    var v = input.value;
    if (v.normalize) v = v.normalize("NFC");
    v = v.trim();
    if (!v) return;
    input.value = "";
    grow();
    disableChoices();
    send({ type: "text", text: v }, last && last.state, v, v);
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); sendText(); });
  form.addEventListener("keydown", function (e) {
    if (e.target !== input || e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    sendText();
  });
  form.addEventListener("input", function (e) { if (e.target === input) grow(); });
  // keep the keyboard open on phones when tapping send
  sendBtn.addEventListener("mousedown", function (e) { e.preventDefault(); });
  window.addEventListener("resize", scroll);

  input.placeholder = t.connecting;
  connect();
})();
