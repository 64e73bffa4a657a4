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
      attach: "파일 첨부", camera: "사진 찍기", files: "보낸 파일", remove: "빼기: {name}",
      cancel: "올리기 취소: {name}", retry: "다시 올리기", progress: "{name} {pct}% 올렸어요",
      uploaded: "{name} 파일을 다 올렸어요. 첨부하는 중…", attaching: "첨부하는 중…",
      paused: "연결이 끊겼어요. 연결되면 이어서 올려요.",
      tooBig: "'{name}' 파일은 {max}를 넘어 보낼 수 없어요. 더 작은 파일을 골라 주세요.",
      tooMany: "파일은 {max}개까지 보낼 수 있어요. 지금은 {room}개 더 고를 수 있어요.",
      badType: "'{name}' 파일은 보낼 수 없는 형식이에요. {types} 파일을 골라 주세요.",
      failed: "'{name}' 파일을 올리지 못했어요. 다시 골라 주세요.",
      unfinished: "'{name}' 파일을 끝까지 올리지 못했어요. 같은 파일을 다시 고르시면 멈춘 곳부터 이어서 올려요.",
      pickAgain: "파일 다시 고르기",
      noPicker: "이 화면에서는 파일을 고를 수 없어요. 휴대폰의 브라우저(Chrome, Safari 등)에서 이 페이지를 열어 보내 주세요. 지금 어려우시면 '나중에 낼게요'를 누르고 접수 뒤에 보내셔도 돼요.",
      inApp: "📎 버튼을 눌러도 파일 고르는 창이 열리지 않으면, 메뉴에서 '다른 브라우저로 열기'를 눌러 휴대폰의 브라우저(Chrome, Safari 등)에서 이 페이지를 열어 주세요.",
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
      attach: "Attach files", camera: "Take a photo", files: "Files sent", remove: "Remove {name}",
      cancel: "Stop uploading {name}", retry: "Try again", progress: "{name}: {pct}% uploaded",
      uploaded: "{name} is uploaded. Attaching…", attaching: "Attaching…",
      paused: "The connection dropped. The upload goes on once it is back.",
      tooBig: "'{name}' is larger than {max} and cannot be sent. Please choose a smaller file.",
      tooMany: "You can send up to {max} files. You can choose {room} more now.",
      badType: "'{name}' is not a type that can be sent. Please choose {types} files.",
      failed: "'{name}' could not be uploaded. Please choose it again.",
      unfinished: "'{name}' was not uploaded completely. Choose the same file again to continue where it stopped.",
      pickAgain: "Choose the file again",
      noPicker: "Files cannot be chosen on this screen. Please open this page in your phone's browser (Chrome, Safari…) to send them. If that is not possible now, press 'Later' and send them after filing.",
      inApp: "If 📎 opens no file picker, use the menu's 'Open in another browser' to open this page in your phone's browser (Chrome, Safari…).",
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
    if (q && q.then) q.then(f);
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
    filesReply(f);
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
      if (f.input === "files" && v.indexOf(REMOVE) === 0) return; // a × in the files list
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
  function eachChoice(fn) { Array.prototype.forEach.call(document.querySelectorAll("#choices button, #file-list button.remove"), fn); }
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
    files: ["input", "text", "text", "off", "phChoice"],
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
    attachBox.hidden = off || k !== "files" || !canPick || !endpoint();
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

  // ---------- evidence files (CONTRACT §2 "files", §7 tus) ----------
  // A files reply shows 📎 (and 📷 on phones), the files attached so far
  // with a × each (its remove_<id> choice), and a row with a progress bar
  // per upload. Uploads go over tus (tus-js-client) to the reply's same-
  // origin endpoint; a finished one is attached with a file frame. tus-js-
  // client keeps each unfinished upload's URL in localStorage under the
  // file's fingerprint, so choosing the same file again after a reload
  // continues from the server's offset. Finished but not yet attached
  // uploads are kept too (DONE_KEY), and attached on the next files reply.
  // A browser may be shared: every entry carries the page's owner (an
  // opaque tag of the session's user that the server puts in the page);
  // another owner's entries are never shown or sent, and are dropped.
  var REMOVE = "remove_";
  var DONE_KEY = "claimbot.uploaded", DONE_TTL = 24 * 3600 * 1000;
  var owner = body.getAttribute("data-owner") || "";
  if (!/^[0-9a-f]{16,}$/.test(owner)) owner = ""; // no tag: keep nothing
  var TUS_PREFIX = "tus::claimbot-", TUS_MINE = TUS_PREFIX + owner + "-";
  var fileBox = $("files"), fileList = $("file-list"), fileHint = $("file-hint"), fileLive = $("file-live");
  var attachBox = $("attach-box"), fileInput = $("file-input"), cameraInput = $("camera-input"), cameraLabel = $("camera");
  var tusOK = !!(window.tus && tus.isSupported);
  var canPick = tusOK && (function () {
    var i = document.createElement("input");
    try { i.type = "file"; } catch (e) { return false; }
    return i.type === "file" && !i.disabled;
  })();
  // In-app browsers (messengers, portals, social apps) and Android
  // WebViews whose app may not implement a file chooser.
  var inApp = /KAKAOTALK|NAVER\(inapp|DaumApps|everytimeApp|Instagram|FBAN|FBAV|\bLine\/|; wv\)/i.test(navigator.userAgent || "");
  var shown = null;    // the files question on screen: {state, upload, ids, removes}
  var uploads = [];    // this page's uploads: {name, size, st, up, row, bar, info, pct, id, phase}
  var flying = {};     // upload id -> true while its file frame awaits its answer
  cb.uploads = [];     // what the uploads did, for tests: {event, name, resumed | id | status}

  $("attach-text").textContent = t.attach;
  $("camera-text").textContent = t.camera;
  $("attach").title = t.attach;
  cameraLabel.title = t.camera;
  $("files-title").textContent = t.files;

  function fmt(s, v) { return s.replace(/\{(\w+)\}/g, function (m, k) { return v[k] != null ? String(v[k]) : m; }); }
  function size(n) {
    if (n >= 1048576) return (Math.round(n / 104857.6) / 10) + "MB";
    if (n >= 1024) return Math.round(n / 1024) + "KB";
    return n + "B";
  }
  var EXT = { pdf: "application/pdf", jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", heic: "image/heic", heif: "image/heif" };
  var SHORT = { "application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "image/heic": "HEIC", "image/heif": "HEIF" };
  function ext(name) { var m = /\.([a-z0-9]+)$/i.exec(name || ""); return m ? m[1].toLowerCase() : ""; }
  function accepted(file, accept) {
    if (!accept.length) return true;
    if (accept.indexOf(file.type) >= 0 || accept.indexOf(EXT[ext(file.name)]) >= 0) return true;
    // A type the browser cannot name is the server's to judge (by its bytes).
    return !file.type && !EXT[ext(file.name)];
  }
  function announce(text) { fileLive.textContent = text; }
  // The box shows while it has something to show.
  function tidy() {
    fileBox.hidden = !shown || (!fileList.children.length && fileHint.hidden);
    $("files-title").hidden = !fileList.children.length;
  }

  function endpoint() {
    if (!shown) return null;
    var u = new URL(shown.upload.url || "/uploads/", location.href);
    return u.origin === location.origin ? u.href : null; // same origin only
  }
  // Dev mode's ?user= authenticates /uploads/ as it does /ws; a banner
  // token in the address bar never goes along (see wsURL).
  var devUser = new URLSearchParams(location.search).get("user");
  var httpStack = tusOK ? (function () {
    var base = new tus.DefaultHttpStack({});
    return {
      createRequest: function (method, url) {
        var u = new URL(url, location.href);
        if (u.origin !== location.origin) throw new Error("upload: not this origin");
        if (devUser && !u.searchParams.has("user")) u.searchParams.set("user", devUser);
        return base.createRequest(method, u.href);
      },
      getName: function () { return "claimbot"; }
    };
  })() : null;

  function uploadID(url) {
    var p = new URL(url, location.href).pathname.replace(/\/+$/, "");
    return p.slice(p.lastIndexOf("/") + 1);
  }

  // stored is this owner's finished uploads; reading drops the others'
  // (another user's, expired, or of a page that had no owner).
  function stored() {
    try {
      var now = Date.now();
      var all = JSON.parse(localStorage.getItem(DONE_KEY) || "[]");
      if (!Array.isArray(all)) all = [];
      var mine = all.filter(function (d) { return d && d.id && owner && d.owner === owner && now - d.at < DONE_TTL; });
      if (mine.length !== all.length) store(mine);
      return mine;
    } catch (e) { return []; }
  }
  function store(list) {
    try {
      if (list.length) localStorage.setItem(DONE_KEY, JSON.stringify(list));
      else localStorage.removeItem(DONE_KEY);
    } catch (e) {}
  }
  function forget(id) { store(stored().filter(function (d) { return d.id !== id; })); }
  // The tus fingerprint names the owner, so a user never resumes, lists
  // or keeps another's unfinished uploads.
  function fingerprint(file, options) {
    return Promise.resolve(owner ? ["claimbot", owner, file.name, file.type, file.size, file.lastModified, options.endpoint].join("-") : null);
  }
  // dropOthers removes tus's entries that are not this owner's.
  function dropOthers() {
    try {
      for (var i = localStorage.length - 1; i >= 0; i--) {
        var k = localStorage.key(i);
        if (k && k.indexOf("tus::") === 0 && (!owner || k.indexOf(TUS_MINE) !== 0)) localStorage.removeItem(k);
      }
    } catch (e) {}
  }
  dropOthers();
  stored();

  // filesReply shows or hides the files question after every reply.
  function filesReply(f) {
    var on = f.type === "reply" && f.input === "files" && !f.done && f.upload && typeof f.upload === "object";
    if (!on) {
      // Not a files question: it moved on (done, later, back), the
      // conversation ended or started again, or went on in another tab.
      // Finished uploads kept for a files question were attached there
      // or can no longer be (a file frame names its question): none are
      // kept, so a question of the next conversation never gets them.
      if (f.type === "reply") store([]);
      if (shown) leaveFiles();
      return;
    }
    var ids = {}, removes = {};
    (Array.isArray(f.files) ? f.files : []).forEach(function (x) { if (x && x.id != null) ids[String(x.id)] = x; });
    (Array.isArray(f.choices) ? f.choices : []).forEach(function (c) {
      if (c && typeof c.value === "string" && c.value.indexOf(REMOVE) === 0) removes[c.value.slice(REMOVE.length)] = String(c.label || "");
    });
    var accept = Array.isArray(f.upload.accept) ? f.upload.accept.map(String) : [];
    shown = {
      state: f.state, ids: ids, removes: removes, files: Array.isArray(f.files) ? f.files : [],
      upload: { url: String(f.upload.url || "/uploads/"), max_files: +f.upload.max_files || 0, max_bytes: +f.upload.max_bytes || 0, accept: accept }
    };
    var exts = Object.keys(EXT).filter(function (k) { return accept.indexOf(EXT[k]) >= 0; }).map(function (k) { return "." + k; });
    fileInput.accept = accept.concat(exts).join(",");
    var images = accept.filter(function (a) { return /^image\//.test(a); });
    cameraInput.accept = images.join(",");
    cameraLabel.hidden = cameraInput.disabled = !(touch && images.length);
    // Uploads the reply lists are attached: their rows go.
    uploads = uploads.filter(function (u) {
      if (u.id && ids[u.id]) { u.row.remove(); forget(u.id); return false; }
      return true;
    });
    stored().forEach(function (d) { if (ids[d.id]) forget(d.id); });
    renderFiles();
    hint();
    tidy();
    attachStored();
    unfinishedRows();
  }

  function leaveFiles() {
    shown = null;
    fileBox.hidden = true;
    // Uploads still running stop; tus keeps them, so choosing the file
    // again at the next files question continues them.
    uploads.forEach(function (u) { if (u.up && u.phase !== "done") u.up.abort(false); });
    uploads = [];
    fileList.textContent = "";
  }

  function hint() {
    var text = !canPick ? t.noPicker : inApp ? t.inApp : "";
    fileHint.textContent = text;
    fileHint.hidden = !text;
  }

  // renderFiles lists the attached files (from the reply), then this
  // page's uploads.
  function renderFiles() {
    Array.prototype.forEach.call(fileList.querySelectorAll("li.attached, li.unfinished"), function (li) { li.remove(); });
    var first = fileList.firstChild;
    shown.files.forEach(function (x) {
      if (!x || x.id == null) return;
      var id = String(x.id), name = String(x.name || id);
      var li = el("li", "file attached");
      li.appendChild(el("span", "file-name", name));
      if (x.size != null) li.appendChild(el("span", "file-size", size(+x.size)));
      var b = el("button", "remove");
      b.type = "button";
      b.setAttribute("data-id", id);
      var label = shown.removes[id] || fmt(t.remove, { name: name });
      b.setAttribute("aria-label", label);
      b.title = label;
      b.appendChild(el("span", "", "×")).setAttribute("aria-hidden", "true");
      b.disabled = stopped;
      b.addEventListener("click", function () {
        if (b.disabled || !shown) return;
        disableChoices();
        send({ type: "choice", value: REMOVE + id }, shown.state, label, null);
      });
      li.appendChild(b);
      fileList.insertBefore(li, first);
    });
  }

  // unfinishedRows lists uploads that tus-js-client remembers as
  // unfinished (a reload, a closed tab) and that no row of this page
  // carries on: choosing the same file again continues them.
  function unfinishedRows() {
    if (!tusOK || !canPick) return;
    var ep = endpoint();
    tus.defaultOptions.urlStorage.findAllUploads().then(function (all) {
      if (!shown || endpoint() !== ep) return;
      Array.prototype.forEach.call(fileList.querySelectorAll("li.unfinished"), function (li) { li.remove(); });
      all.forEach(function (p) {
        if (!p || !p.uploadUrl || !p.urlStorageKey) return;
        if (!owner || p.urlStorageKey.indexOf(TUS_MINE) !== 0) { // another user's: not listed, not kept
          tus.defaultOptions.urlStorage.removeUpload(p.urlStorageKey).catch(function () {});
          return;
        }
        if (p.urlStorageKey.indexOf(ep) < 0) return;
        // The server deletes unattached uploads with their session
        // (72 h by default): older entries lead nowhere.
        var age = Date.now() - Date.parse(p.creationTime || "");
        if (!(age < 3 * DONE_TTL)) { tus.defaultOptions.urlStorage.removeUpload(p.urlStorageKey).catch(function () {}); return; }
        var busy = uploads.some(function (u) { return u.up && u.up.url === p.uploadUrl; });
        if (busy) return;
        var name = String((p.metadata && p.metadata.filename) || "");
        var li = el("li", "file unfinished");
        li.appendChild(el("span", "file-name", name));
        li.appendChild(el("span", "file-note", fmt(t.unfinished, { name: name })));
        var again = el("label", "again", t.pickAgain);
        again.htmlFor = "file-input";
        li.appendChild(again);
        fileList.appendChild(li);
      });
      tidy();
    }, function () {});
  }

  function picked(input) {
    var list = Array.prototype.slice.call(input.files || []);
    input.value = ""; // the same file may be chosen again
    if (!list.length || !shown || stopped) return;
    var up = shown.upload, st = shown.state;
    var busy = uploads.filter(function (u) { return u.phase !== "failed"; }).length;
    var room = up.max_files > 0 ? Math.max(0, up.max_files - shown.files.length - busy) : list.length;
    if (list.length > room) {
      notice(fmt(t.tooMany, { max: up.max_files, room: room }));
      return;
    }
    var types = up.accept.map(function (a) { return SHORT[a] || a; }).join(", ");
    list.forEach(function (file) {
      if (up.max_bytes > 0 && file.size > up.max_bytes) return notice(fmt(t.tooBig, { name: file.name, max: size(up.max_bytes) }));
      if (!accepted(file, up.accept)) return notice(fmt(t.badType, { name: file.name, types: types }));
      startUpload(file, st);
    });
  }
  fileInput.addEventListener("change", function () { picked(fileInput); });
  cameraInput.addEventListener("change", function () { picked(cameraInput); });

  function startUpload(file, st) {
    var ep = endpoint();
    if (!ep) return;
    var u = { name: file.name, size: file.size, st: st, pct: -1, id: "", phase: "uploading", announced: -1 };
    var li = el("li", "file uploading");
    li.appendChild(el("span", "file-name", file.name));
    li.appendChild(el("span", "file-size", size(file.size)));
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", fmt(t.progress, { name: file.name, pct: 0 }));
    li.appendChild(bar);
    var info = el("span", "file-note", "");
    li.appendChild(info);
    var x = el("button", "cancel");
    x.type = "button";
    x.setAttribute("aria-label", fmt(t.cancel, { name: file.name }));
    x.title = x.getAttribute("aria-label");
    x.appendChild(el("span", "", "×")).setAttribute("aria-hidden", "true");
    x.addEventListener("click", function () {
      u.phase = "failed";
      if (u.up) u.up.abort(true).catch(function () {}); // terminate: the server drops it
      li.remove();
      uploads = uploads.filter(function (v) { return v !== u; });
      tidy();
    });
    li.appendChild(x);
    u.row = li; u.bar = bar; u.info = info; u.cancel = x;
    fileList.appendChild(li);
    uploads.push(u);
    tidy();
    scroll();

    var retryTimer = 0;
    u.up = new tus.Upload(file, {
      endpoint: ep,
      httpStack: httpStack,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      fingerprint: fingerprint,
      storeFingerprintForResuming: !!owner,
      removeFingerprintOnSuccess: true,
      onShouldRetry: function (err) {
        var s = httpStatus(err);
        return s === 0 || s >= 500 || s === 409 || s === 423;
      },
      onUploadUrlAvailable: function () {
        if (new URL(u.up.url, location.href).origin !== location.origin) u.up.abort(false);
      },
      onProgress: function (sent, total) {
        var pct = total ? Math.floor(sent * 100 / total) : 0;
        if (pct === u.pct) return;
        u.pct = pct;
        bar.value = pct;
        bar.setAttribute("aria-label", fmt(t.progress, { name: file.name, pct: pct }));
        info.textContent = pct + "%";
        li.classList.remove("paused");
        // Screen readers hear every quarter, not every percent.
        var q = Math.floor(pct / 25) * 25;
        if (q > u.announced && q < 100) { u.announced = q; announce(fmt(t.progress, { name: file.name, pct: q })); }
      },
      onSuccess: function () {
        u.phase = "done";
        u.id = uploadID(u.up.url);
        bar.value = 100;
        info.textContent = t.attaching;
        x.hidden = true;
        li.classList.add("finished");
        announce(fmt(t.uploaded, { name: file.name }));
        cb.uploads.push({ event: "finished", name: file.name, id: u.id });
        var path = new URL(u.up.url, location.href).pathname;
        if (owner) store(stored().filter(function (d) { return d.id !== u.id; }).concat([{ id: u.id, upload: path, name: file.name, st: u.st, at: Date.now(), owner: owner }]));
        attach({ id: u.id, upload: path, name: file.name, st: u.st });
      },
      onError: function (err) {
        var s = httpStatus(err);
        if (u.phase === "failed") return;
        if (s === 0) {
          // The network is gone: go on when it is back (or in a while).
          li.classList.add("paused");
          info.textContent = t.paused;
          announce(t.paused);
          var again = function () {
            window.removeEventListener("online", again);
            clearTimeout(retryTimer);
            if (u.phase === "uploading" && shown) u.up.start();
          };
          window.addEventListener("online", again);
          retryTimer = setTimeout(again, 15000);
          return;
        }
        u.phase = "failed";
        li.remove();
        uploads = uploads.filter(function (v) { return v !== u; });
        tidy();
        cb.uploads.push({ event: "failed", name: file.name, status: s });
        var max = shown ? shown.upload.max_bytes : 0;
        var types = shown ? shown.upload.accept.map(function (a) { return SHORT[a] || a; }).join(", ") : "";
        notice(s === 413 ? fmt(t.tooBig, { name: file.name, max: size(max) })
          : s === 415 ? fmt(t.badType, { name: file.name, types: types })
          : s === 401 || s === 403 ? t.expired
          : fmt(t.failed, { name: file.name }));
      }
    });
    u.up.findPreviousUploads().then(function (prev) {
      prev = (prev || []).filter(function (p) { return p.uploadUrl && new URL(p.uploadUrl, location.href).origin === location.origin; });
      if (prev.length) u.up.resumeFromPreviousUpload(prev[0]);
      cb.uploads.push({ event: "start", name: file.name, resumed: prev.length > 0 });
      if (u.phase === "uploading") u.up.start();
      unfinishedRows();
    }, function () { u.up.start(); });
  }

  function httpStatus(err) {
    var r = err && err.originalResponse;
    return r && r.getStatus ? r.getStatus() : 0;
  }

  // attach sends the file frame of a finished upload, once at a time.
  function attach(d) {
    if (flying[d.id] || !shown || d.st !== shown.state) return;
    flying[d.id] = true;
    var q = send({ type: "file", upload: d.upload }, d.st, "📎 " + d.name, null);
    q.then = function (f) {
      delete flying[d.id];
      if (f.type !== "reply") return; // nothing applied: the next files reply sends it again
      // Attached (the reply lists it), refused (it says why), or the
      // question moved on: the server decided.
      forget(d.id);
      var listed = (Array.isArray(f.files) ? f.files : []).some(function (x) { return x && String(x.id) === d.id; });
      if (!listed) {
        uploads = uploads.filter(function (u) {
          if (u.id === d.id) { u.row.remove(); return false; }
          return true;
        });
        tidy();
      }
    };
  }

  // attachStored attaches uploads finished before a reload whose file
  // frame never got its answer.
  function attachStored() {
    stored().forEach(function (d) {
      if (shown.ids[d.id]) return;
      if (d.st !== shown.state) { forget(d.id); return; }
      attach(d);
    });
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
    return q;
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
