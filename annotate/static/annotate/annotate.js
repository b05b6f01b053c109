// Keyboard-first annotation. Every action is also a plain form or link, so the page works
// without this script; it adds shortcuts, rating by keyboard, drag (mouse and touch) ranking,
// drafts that survive a reload, dialogs, and showing the next item before the server answers
// (panels are prefetched a few items ahead; a failed save brings its item back, see below).
//
// Panel actions (vote, skip, undo, back) go through one ordered queue of requests instead of
// hx-post. htmx reads a form when its request starts and drops a request whose element has left
// the page, while a rater working ahead of the server (the prefetched next item is shown at
// once) replaces the panel before the previous vote is answered. The queue keeps each action's
// data as it was when the rater acted, sends actions one at a time in order, and decides for
// each answer whether it still belongs on screen. Answers go in with htmx.swap, so the hx-
// attributes inside a panel (the edit's diff, the progress bar) work as usual.
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const panel = () => document.getElementById("panel");
  const voteForm = () => $("#panel #vote-form");
  const typing = (el) => !!el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
    el.isContentEditable ||
    (el.tagName === "INPUT" && !["radio", "checkbox", "submit", "button"].includes(el.type)));
  const PANEL_ID = /id="panel"[^>]*data-comparison="(\d*)"/;

  function say(message) {
    const status = document.getElementById("workbench-status");
    if (status) status.textContent = message;
  }

  // ---------------------------------------------------------------- drafts (localStorage)
  // What the rater entered on an item, kept until the vote on it is stored: a reload, an error
  // answer, an undo or going back never throws it away.
  const store = {
    get(key) { try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; } },
    set(key, value) { try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* full or off */ } },
    drop(key) { try { localStorage.removeItem(key); } catch (e) { /* off */ } },
  };

  function collect(form) {
    const data = {};
    for (const el of form.elements) {
      if (!el.name || ["csrfmiddlewaretoken", "time_spent_ms", "ranking"].includes(el.name)) continue;
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked) data[el.name] = el.value;
        else if (!(el.name in data)) data[el.name] = "";
      } else if (el.tagName !== "BUTTON") {
        data[el.name] = el.value;
      }
    }
    const list = $("#ranking", form);
    if (list) data.__ranking = $$(".rank-item", list).map((li) => [li.dataset.rid, li.dataset.tied]);
    return data;
  }

  function saveDraft() {
    const p = panel();
    const form = voteForm();
    if (!p || !form || !p.dataset.draftKey) return;
    store.set(p.dataset.draftKey, collect(form));
  }

  function restoreDraft(p) {
    const form = $("#vote-form", p);
    const draft = form && store.get(p.dataset.draftKey);
    if (!draft) return;
    for (const [name, value] of Object.entries(draft)) {
      if (name === "__ranking") continue;
      $$(`[name="${CSS.escape(name)}"]`, form).forEach((el) => {
        if (el.type === "radio" || el.type === "checkbox") el.checked = el.value === value;
        else el.value = value;
      });
    }
    const list = $("#ranking", form);
    if (list && draft.__ranking) {
      draft.__ranking.forEach(([rid, tied]) => {
        const li = $(`.rank-item[data-rid="${rid}"]`, list);
        if (li) { li.dataset.tied = tied; list.appendChild(li); }
      });
      normaliseTies(list);
    }
    const area = $('textarea[name="edited_text"]', form);
    if (area && area.value) {
      $("#edit-box", form).open = true;
      showEditSource(form);
      htmx.trigger(area, "ps:editopen");
    }
    if (draft.flag || draft.flag_note) $("#flag-box", form).open = true;
    say("Your unsaved input on this item is back.");
  }

  document.addEventListener("input", (e) => { if (e.target.closest && e.target.closest("#vote-form")) saveDraft(); });
  document.addEventListener("change", (e) => { if (e.target.closest && e.target.closest("#vote-form")) saveDraft(); });

  // ---------------------------------------------------------------- choices and edits
  function check(name, value) {
    const input = $(`#panel #vote-form input[name="${name}"][value="${value}"]`);
    if (input) { input.checked = true; input.dispatchEvent(new Event("change", { bubbles: true })); }
  }

  // The response the rater prefers, in what they see: A/B choice, or the top of the ranking.
  function preferred() {
    const p = panel();
    if (!p) return null;
    if (p.dataset.mode === "ranking") return $("#ranking .rank-item", p);
    const choice = $('#vote-form input[name="choice"]:checked', p);
    const label = choice && { a: "A", b: "B" }[choice.value];
    return label ? $(`#vote-form .response[data-label="${label}"]`, p) : null;
  }

  function showEditSource(form) {
    const rid = $('input[name="edit_source"]', form).value;
    const source = rid && $(`.response[data-rid="${rid}"]`, form);
    const label = $("[data-edit-label]", form);
    if (label) label.textContent = source ? source.dataset.label : "…";
  }

  // The edit keeps the response it was started from, whatever the choice says later.
  function openEdit() {
    const form = voteForm();
    const box = form && $("#edit-box", form);
    if (!box) return;
    box.open = true;
    const area = $('textarea[name="edited_text"]', box);
    const source = $('input[name="edit_source"]', box);
    const from = preferred();
    if (!area.value && from) {
      source.value = from.dataset.rid;
      area.value = $("template.raw", from).content.textContent;
    } else if (!source.value && from) {
      source.value = from.dataset.rid;
    }
    showEditSource(form);
    if (area.value) htmx.trigger(area, "ps:editopen");
    area.focus();
    saveDraft();
  }

  // ---------------------------------------------------------------- ranking
  // Tiers of response ids, best first; data-tied="1" joins the tier above.
  function rankingValue(form) {
    const tiers = [];
    $$("#ranking .rank-item", form).forEach((li, i) => {
      const rid = Number(li.dataset.rid);
      if (i > 0 && li.dataset.tied === "1") tiers[tiers.length - 1].push(rid);
      else tiers.push([rid]);
    });
    return JSON.stringify(tiers);
  }

  function normaliseTies(list) {
    const first = list && $(".rank-item", list);
    if (first) first.dataset.tied = "0";
  }

  function moveItem(li, delta) {
    const list = li.parentElement;
    const items = $$(".rank-item", list);
    const idx = items.indexOf(li) + delta;
    if (idx < 0 || idx >= items.length) return;
    list.insertBefore(li, delta < 0 ? items[idx] : items[idx].nextSibling);
    normaliseTies(list);
    li.focus();
    saveDraft();
  }

  function prefillRanking(p) {
    const data = $("#ranking-prefill", p);
    const list = $("#ranking", p);
    if (!data || !list) return;
    JSON.parse(data.textContent).forEach((tier) => tier.forEach((label, j) => {
      const li = $(`.rank-item[data-label="${label}"]`, list);
      if (li) { li.dataset.tied = j > 0 ? "1" : "0"; list.appendChild(li); }
    }));
  }

  // Mouse: native drag and drop. Touch and pen: pointer events on the handle (touch-action: none
  // in the CSS keeps the browser from scrolling instead).
  let dragged = null;
  document.addEventListener("dragstart", (e) => {
    const li = e.target.closest && e.target.closest("#ranking .rank-item");
    if (li) { dragged = li; li.classList.add("dragging"); }
  });
  document.addEventListener("dragend", () => {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    normaliseTies(dragged.parentElement);
    dragged = null;
    saveDraft();
  });
  document.addEventListener("dragover", (e) => {
    const li = e.target.closest && e.target.closest("#ranking .rank-item");
    if (!li || !dragged) return;
    e.preventDefault();
    if (dragged === li || li.parentElement !== dragged.parentElement) return;
    const rect = li.getBoundingClientRect();
    const after = e.clientY > rect.top + rect.height / 2;
    li.parentElement.insertBefore(dragged, after ? li.nextSibling : li);
  });

  document.addEventListener("pointerdown", (e) => {
    if (rating && !(e.target.closest && e.target.closest(".rating.current"))) exitRating();
    const handle = e.target.closest && e.target.closest("#ranking .drag-handle");
    if (!handle || e.pointerType === "mouse") return;
    e.preventDefault();
    const li = handle.closest(".rank-item");
    const list = li.parentElement;
    handle.setPointerCapture(e.pointerId);
    li.classList.add("dragging");
    // Listen on the document: moving the item in the DOM releases the pointer capture.
    const move = (ev) => {
      if (ev.pointerId !== e.pointerId) return;
      const others = $$(".rank-item", list).filter((x) => x !== li);
      const over = others.find((x) => {
        const r = x.getBoundingClientRect();
        return ev.clientY < r.top + r.height / 2;
      }) || null;
      if (li.nextElementSibling !== over) list.insertBefore(li, over);
    };
    const done = (ev) => {
      if (ev.pointerId !== e.pointerId) return;
      document.removeEventListener("pointermove", move);
      document.removeEventListener("pointerup", done);
      document.removeEventListener("pointercancel", done);
      li.classList.remove("dragging");
      normaliseTies(list);
      saveDraft();
    };
    document.addEventListener("pointermove", move);
    document.addEventListener("pointerup", done);
    document.addEventListener("pointercancel", done);
  });

  // ---------------------------------------------------------------- ratings by keyboard
  // f goes to the ratings of a response; each digit rates the criterion in focus and moves to
  // the next one, through every response; after the last one digits choose again.
  let rating = null; // {index} of the rating group in focus

  const ratingGroups = () => $$("#panel #vote-form fieldset.rating");

  function focusGroup(index) {
    $$(".rating.current").forEach((g) => g.classList.remove("current"));
    const groups = ratingGroups();
    if (index >= groups.length) { exitRating(); say("Ratings done."); return; }
    rating = { index };
    const group = groups[index];
    group.classList.add("current");
    ($("input:checked", group) || $("input", group)).focus();
  }

  function startRating() {
    const groups = ratingGroups();
    if (!groups.length) return;
    let index = 0;
    if (rating) {
      const here = groups[rating.index].closest(".response");
      index = groups.findIndex((g, i) => i > rating.index && g.closest(".response") !== here);
      if (index < 0) index = 0;
    } else {
      const el = document.activeElement;
      const response = el && el.closest && el.closest(".response");
      if (response) index = Math.max(0, groups.findIndex((g) => response.contains(g)));
    }
    focusGroup(index);
  }

  function rate(score) {
    const group = ratingGroups()[rating.index];
    if (!group) { exitRating(); return; }
    $$("input", group).forEach((input) => { input.checked = Number(input.value) === score; });
    saveDraft();
    focusGroup(rating.index + 1);
  }

  // Focus anywhere else (a text box, a button, a click) ends rating by keyboard.
  document.addEventListener("focusin", (e) => {
    if (rating && !(e.target.closest && e.target.closest(".rating"))) exitRating();
  });

  function exitRating() {
    rating = null;
    $$(".rating.current").forEach((g) => g.classList.remove("current"));
    const el = document.activeElement;
    if (el && el.closest && el.closest(".rating")) el.blur();
  }

  // ---------------------------------------------------------------- dialogs
  const focusables = (root) => $$("a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])", root)
    .filter((el) => !el.disabled && el.getClientRects().length);

  function openDialog(id) {
    const dialog = document.getElementById(id);
    if (!dialog) return;
    $$("dialog[open]").forEach((d) => { if (d !== dialog) d.close(); });
    if (dialog.open) { dialog.close(); return; }
    exitRating();
    dialog.returnFocus = document.activeElement;
    dialog.showModal();
  }

  $$("dialog.overlay").forEach((dialog) => dialog.addEventListener("close", () => {
    const back = dialog.returnFocus;
    dialog.returnFocus = null;
    if (back && back.isConnected && back !== document.body) back.focus();
  }));

  function trapTab(e, dialog) {
    const items = focusables(dialog);
    if (!items.length) { e.preventDefault(); return; }
    const i = items.indexOf(document.activeElement);
    const next = e.shiftKey ? (i <= 0 ? items.length - 1 : i - 1) : (i + 1) % items.length;
    e.preventDefault();
    items[next].focus();
  }

  // ---------------------------------------------------------------- the action queue
  // A vote or skip shows the next item at once from the panels prefetched ahead (the server is
  // told, X-PS-Shown, and answers 204) while the action is sent in the background, in order.
  // A failed send is never silent: the item comes back with what the rater entered (it is in
  // the draft until stored) and a notice with "Send again" stays until the vote is stored.
  const AHEAD = 3; // panels kept ready: the next item, and the ones after it
  let queue = [];
  let running = null; // the job in flight
  let ahead = []; // [{id, html}]: panels to show next, in order
  let fetching = false;
  let acting = false; // inside act(): the page is between two states
  let generation = 0; // bumped when `ahead` is thrown away: late answers are dropped
  let exhausted = false; // the last prefetch found nothing more
  let lastAction = null; // the last vote or skip sent: what an undo would take back
  const problems = new Map(); // comparison id -> {job, message}
  let shownAt = performance.now();
  const startedAt = Date.now();
  let finished = 0;

  function csrfToken() {
    const input = $('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function setBusy() {
    document.body.dataset.pendingActions = String(queue.length + (running ? 1 : 0));
    document.body.dataset.ahead = ahead.map((x) => x.id).join(",");
  }

  const inFlight = () => (running ? [running] : []).concat(queue);

  function enqueue(job) {
    queue.push(job);
    setBusy();
    if (!running) runNext();
  }

  async function runNext() {
    const job = queue.shift();
    running = job || null;
    setBusy();
    fill();
    if (!job) return;
    if (job.kind === "undo" && job.after && job.after.failed) {
      // The vote it would take back was not stored; that item is back on screen already.
      say("Undo not sent: the last vote was not saved, so there is nothing of it to undo.");
      runNext();
      return;
    }
    let status = 0;
    let html = "";
    let trigger = null;
    const headers = { "HX-Request": "true", "X-CSRFToken": csrfToken() };
    if (job.shown) headers["X-PS-Shown"] = job.shown;
    try {
      const r = await fetch(job.url, { method: job.method, body: job.body, credentials: "same-origin", headers });
      status = r.status;
      trigger = r.headers.get("HX-Trigger");
      html = await r.text();
    } catch (err) {
      status = 0;
    }
    try { settle(job, status, html, trigger); } finally { runNext(); }
  }

  function fireTriggers(header) {
    if (!header) return;
    let names = [header];
    try { names = Object.keys(JSON.parse(header)); } catch (e) { names = header.split(","); }
    names.forEach((name) => htmx.trigger(document.body, name.trim()));
  }

  function settle(job, status, html, trigger) {
    const ok = status >= 200 && status < 300;
    const m = html.match(PANEL_ID);
    const saving = job.kind === "vote" || job.kind === "skip";
    job.settled = true;
    if (job.expectFrom) {
      delete job.expectFrom.dataset.pending;
      job.expectFrom.removeAttribute("aria-busy");
    }
    fireTriggers(trigger);
    if (ok) {
      if (job.draftKey) store.drop(job.draftKey);
      if (saving) { finished += 1; solved(job.from); }
      if (job.shown) return; // the next item is on screen already
      const navigation = job.kind === "back" || job.kind === "undo";
      if (m && (navigation || panel() === job.expect)) {
        putPanel(html);
        if (!problems.size) say("");
      }
      return;
    }
    if (!saving) {
      if (m) putPanel(html);
      else say(`Could not load the item (${status ? "HTTP " + status : "offline"}). Try again.`);
      return;
    }
    job.failed = true;
    if (m) {
      // Refused (422): the item comes back with the reason on it, and what was entered.
      if (job.shown) say(`Your ${job.kind} on item ${job.from} was refused; the item is back.`);
      putPanel(html);
      return;
    }
    failed(job, status);
    const current = panel();
    if (current && current.dataset.comparison !== job.from && job.itemUrl) {
      enqueue({ kind: "back", method: "GET", url: job.itemUrl, expect: null });
    }
  }

  // ---------------------------------------------------------------- failed saves
  function failed(job, status) {
    const what = job.kind === "vote" ? "vote" : "skip";
    const why = status ? `the server answered HTTP ${status}` : "the connection failed";
    problems.set(job.from, { job, message: `Your ${what} on item ${job.from} was not saved: ${why}.` });
    dropAhead();
    showProblems();
  }

  function solved(comparisonId) {
    if (problems.delete(comparisonId)) showProblems();
  }

  function showProblems() {
    const box = document.getElementById("save-problems");
    if (!box) return;
    box.replaceChildren();
    problems.forEach(({ job, message }, cid) => {
      const line = document.createElement("p");
      line.append(message + " What you entered is kept. ");
      if (job.kind === "vote") {
        const again = document.createElement("button");
        again.type = "button";
        again.dataset.action = "resend";
        again.dataset.comparison = cid;
        again.textContent = "Send again";
        line.append(again);
      }
      box.append(line);
    });
    box.hidden = !problems.size;
    if (problems.size) say("");
  }

  // The item on screen: send its form (what the rater sees and may have corrected). Otherwise
  // the vote exactly as it was sent.
  function resend(cid) {
    const problem = problems.get(cid);
    if (!problem) return;
    const p = panel();
    if (p && p.dataset.comparison === cid && voteForm()) { submit(voteForm()); return; }
    const job = Object.assign({}, problem.job, { shown: null, expect: null, expectFrom: null, failed: false });
    lastAction = job;
    enqueue(job);
  }

  // ---------------------------------------------------------------- panels ahead
  function dropAhead() {
    ahead = [];
    generation += 1;
    fetching = false;
    exhausted = false;
    setBusy();
  }

  // Keep AHEAD panels ready. The server is told every item the page holds (on screen, on its
  // way, prefetched), so it answers with the ones after them even while votes are in flight.
  function fill() {
    const p = panel();
    if (acting || fetching || exhausted || ahead.length >= AHEAD || !p || !p.dataset.prefetchUrl) return;
    // After going back or undoing, what comes next is only known once the server has done it.
    if (inFlight().some((job) => job.kind === "back" || job.kind === "undo")) return;
    const chain = [p.dataset.comparison].concat(ahead.map((x) => x.id));
    const held = inFlight().filter((job) => job.from).map((job) => job.from);
    const url = new URL(p.dataset.prefetchUrl, location.href);
    url.searchParams.set("after", chain[chain.length - 1]);
    url.searchParams.set("exclude", chain.slice(0, -1).concat(held).join(","));
    // With nothing ready, one panel first (the quickest answer), then the rest.
    const want = ahead.length ? AHEAD - ahead.length : 1;
    url.searchParams.set("count", String(want));
    const token = generation;
    fetching = true;
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((r) => (r.status === 200 ? r.text() : r.status === 204 ? "" : null))
      .then((text) => {
        if (token !== generation) return;
        fetching = false;
        if (text === null) return;
        const onPage = new Set(chain.concat(held));
        const panels = text ? text.split("<!--ps:next-panel-->") : [];
        panels.forEach((html) => {
          const m = html.match(PANEL_ID);
          if (m && m[1] && !onPage.has(m[1])) { ahead.push({ id: m[1], html }); onPage.add(m[1]); }
        });
        if (panels.length < want) exhausted = true;
        setBusy();
        promote();
        fill();
      })
      .catch(() => { if (token === generation) fetching = false; });
  }

  // A vote sent while nothing was ready ahead: once the next panel lands, show it rather than
  // wait for the server's answer (which is then only checked for success, as for any vote).
  function promote() {
    const p = panel();
    const job = p && p.dataset.pending && inFlight().find((j) => j.expectFrom === p && j.canShow);
    if (!job || !ahead.length || acting) return;
    const show = ahead.shift();
    job.shown = show.id;
    job.expectFrom = null;
    delete p.dataset.pending;
    p.removeAttribute("aria-busy");
    say("");
    putPanel(show.html, true);
    job.expect = panel();
  }

  function putPanel(html, keepAhead) {
    const old = panel();
    if (!old) return;
    if (!keepAhead) dropAhead();
    htmx.swap(old, html, { swapStyle: "outerHTML", swapDelay: 0, settleDelay: 0 });
    onPanelReady(panel());
  }

  function readyToVote(form, p) {
    if ($("#ranking", form)) return true;
    const choice = $('input[name="choice"]:checked', form);
    if (!choice) return false;
    if (p.dataset.strengthRequired === "1" && ["a", "b"].includes(choice.value)) {
      return !!$('input[name="strength"]:checked', form);
    }
    return true;
  }

  function act(kind, el) {
    const p = panel();
    if (!p || !p.contains(el)) return;
    if ((kind === "vote" || kind === "skip") && p.dataset.pending) { say("Still saving this item…"); return; }
    const job = { kind, from: null, expect: p, expectFrom: null, method: "POST" };
    if (kind === "back") {
      job.method = "GET";
      job.url = el.href;
    } else {
      job.url = el.action;
      if (kind === "vote") {
        $('input[name="time_spent_ms"]', el).value = Math.round(performance.now() - shownAt);
        const ranking = $('input[name="ranking"]', el);
        if (ranking) ranking.value = rankingValue(el);
        saveDraft();
      }
      job.body = new FormData(el);
    }
    if (kind === "undo" && lastAction && !lastAction.settled) job.after = lastAction;
    let show = null;
    if (kind === "vote" || kind === "skip") {
      job.from = p.dataset.comparison;
      job.draftKey = kind === "vote" ? p.dataset.draftKey : null;
      job.itemUrl = el.action.replace(/(vote|skip)\/$/, "");
      lastAction = job;
      job.canShow = kind === "skip" || readyToVote(el, p);
      if (ahead.length && job.canShow) {
        show = ahead.shift();
        job.shown = show.id;
      } else {
        p.dataset.pending = "1";
        p.setAttribute("aria-busy", "true");
        job.expectFrom = p;
        say("Saving…");
      }
    }
    if (kind === "back" || kind === "undo") dropAhead();
    // The action is queued and the next panel shown before any prefetch goes out: it must
    // know of both.
    acting = true;
    try {
      enqueue(job);
      if (show) {
        putPanel(show.html, true);
        job.expect = panel();
      }
    } finally {
      acting = false;
    }
    fill();
  }

  function onPanelReady(p) {
    shownAt = performance.now();
    rating = null;
    exhausted = false;
    if (!p) return;
    prefillRanking(p);
    restoreDraft(p);
    if (viewOn("diff")) renderDiff(p);
    const first = $("#ranking .rank-item", p);
    if (first) first.focus({ preventScroll: true });
    else if (!p.contains(document.activeElement) && document.activeElement !== document.body) {
      document.activeElement.blur && document.activeElement.blur();
    }
    setBusy();
    fill();
  }

  document.addEventListener("submit", (e) => {
    const form = e.target;
    const kind = form.dataset && form.dataset.panelAction;
    if (!kind) return;
    e.preventDefault();
    e.stopPropagation();
    act(kind, form);
  }, true);

  document.addEventListener("click", (e) => {
    const back = e.target.closest('a[data-panel-action="back"]');
    if (back && e.button === 0 && !(e.ctrlKey || e.metaKey || e.shiftKey || e.altKey)) {
      e.preventDefault();
      act("back", back);
      return;
    }
    const action = e.target.closest("[data-action]");
    if (!action) return;
    const what = action.dataset.action;
    if (what === "guidelines" || what === "help") openDialog(what);
    if (what === "skip") toggleSkip();
    if (what === "resend") resend(action.dataset.comparison);
    if (what === "expand") {
      const response = action.closest(".response");
      const open = response.classList.toggle("expanded");
      action.setAttribute("aria-expanded", String(open));
      action.textContent = open ? "Show less" : "Show all";
    }
  });

  function toggleSkip() {
    const form = $("#panel #skip-form");
    if (!form) return;
    form.hidden = false;
    $('input[name="reason"]', form).focus();
  }

  function openFlag() {
    const box = $("#panel #flag-box");
    if (!box) return;
    box.open = true;
    $("select", box).focus();
  }

  function submit(form) {
    if (form) form.requestSubmit();
  }

  // Enter submits the vote from the vote form's own controls (and from nowhere in particular,
  // as after pressing 1); on a link, button or menu it does what that control does.
  function enterSubmits(el) {
    if (!el || el === document.body || el === document.documentElement || el.id === "main") return true;
    if (el.closest("a[href], button, summary, select, textarea, input[type=submit], dialog")) return false;
    const form = voteForm();
    return !!form && form.contains(el);
  }

  document.addEventListener("keydown", (e) => {
    const dialog = $("dialog[open]");
    if (dialog) {
      if (e.key === "Tab") trapTab(e, dialog);
      else if ((e.key === "?" || e.key === "g") && !typing(e.target)) { e.preventDefault(); dialog.close(); }
      return; // Esc closes the dialog natively; every other key stays inside it
    }
    const el = document.activeElement;
    const p = panel();
    // A panel whose vote or skip is on its way will be replaced by the answer: what the rater
    // did on it meanwhile would be lost, so only going back, undo and the dialogs work on it.
    if (p && p.dataset.pending && !["u", "b", "g", "?", "Escape", "Tab", "Shift"].includes(e.key)) {
      e.preventDefault();
      say("Saving this item…");
      return;
    }
    if (e.key === "Escape") {
      if (rating) { exitRating(); return; }
      if (typing(el)) el.blur();
      return;
    }
    if (typing(el)) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submit(el.form);
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Enter") {
      if (enterSubmits(el)) { e.preventDefault(); submit(voteForm()); }
      return;
    }
    if (rating && /^[0-5]$/.test(e.key)) { e.preventDefault(); rate(Number(e.key)); return; }
    const item = el && el.classList && el.classList.contains("rank-item") ? el : null;
    if (item && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      const delta = e.key === "ArrowUp" ? -1 : 1;
      if (e.shiftKey) { moveItem(item, delta); return; }
      const items = $$(".rank-item", item.parentElement);
      const next = items[items.indexOf(item) + delta];
      if (next) next.focus();
      return;
    }
    const pairwise = p && p.dataset.mode === "pairwise";
    const keys = {
      "1": () => pairwise && check("choice", "a"),
      "2": () => pairwise && check("choice", "b"),
      "3": () => pairwise && check("choice", "tie"),
      "4": () => pairwise && check("choice", "both_bad"),
      "z": () => check("strength", "1"),
      "x": () => check("strength", "2"),
      "c": () => check("strength", "3"),
      "f": startRating,
      "t": () => {
        if (!item || !item.previousElementSibling) return;
        item.dataset.tied = item.dataset.tied === "1" ? "0" : "1";
        saveDraft();
      },
      "e": openEdit,
      "r": () => { const r = $('#panel textarea[name="rationale"]'); if (r) r.focus(); },
      "l": openFlag,
      "s": toggleSkip,
      "u": () => submit($("#panel #undo-form")),
      "b": () => { const back = $("#panel #back-link"); if (back) back.click(); },
      "d": () => setView("diff", !viewOn("diff")),
      "y": () => setView("sync", !viewOn("sync")),
      "g": () => openDialog("guidelines"),
      "?": () => openDialog("help"),
    };
    const action = keys[e.key];
    if (action) { e.preventDefault(); action(); }
  });

  // ---------------------------------------------------------------- reading long answers
  // Two views a rater switches on for themselves (kept per user in localStorage): a word diff
  // of A against B, and A and B scrolling together in boxes of their own. Both work on the
  // pairwise panel in view and follow it to the next item.
  const views = document.getElementById("view-tools");
  const viewKey = (name) => `ps-view:${views ? views.dataset.user : ""}:${name}`;
  const viewOn = (name) => store.get(viewKey(name)) === true;

  function setView(name, on) {
    store.set(viewKey(name), on);
    showViews();
    say(`${name === "diff" ? "Word diff" : "Scrolling together"} ${on ? "on" : "off"}.`);
  }

  function showViews() {
    const diff = viewOn("diff");
    const sync = viewOn("sync");
    document.body.classList.toggle("word-diff", diff);
    document.body.classList.toggle("sync-scroll", sync);
    $$("[data-view]").forEach((b) => b.setAttribute("aria-pressed", String(viewOn(b.dataset.view))));
    if (diff) renderDiff(panel());
  }

  const words = (text) => text.match(/\S+|\s+/g) || [];

  // Which word tokens of `a` and `b` are common (longest common subsequence of the words, after
  // trimming the shared start and end); null when the differing middle is too long to compare.
  function commonWords(a, b) {
    const keepA = new Uint8Array(a.length);
    const keepB = new Uint8Array(b.length);
    const wa = a.map((t, i) => i).filter((i) => /\S/.test(a[i]));
    const wb = b.map((t, i) => i).filter((i) => /\S/.test(b[i]));
    let lo = 0;
    while (lo < wa.length && lo < wb.length && a[wa[lo]] === b[wb[lo]]) { keepA[wa[lo]] = keepB[wb[lo]] = 1; lo++; }
    let ha = wa.length - 1;
    let hb = wb.length - 1;
    while (ha >= lo && hb >= lo && a[wa[ha]] === b[wb[hb]]) { keepA[wa[ha]] = keepB[wb[hb]] = 1; ha--; hb--; }
    const n = ha - lo + 1;
    const m = hb - lo + 1;
    if (n <= 0 || m <= 0) return { keepA, keepB };
    if (n * m > 4000000) return null;
    const w = m + 1;
    const table = new Uint16Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i * w + j] = a[wa[lo + i]] === b[wb[lo + j]]
          ? table[(i + 1) * w + j + 1] + 1
          : Math.max(table[(i + 1) * w + j], table[i * w + j + 1]);
      }
    }
    for (let i = 0, j = 0; i < n && j < m;) {
      if (a[wa[lo + i]] === b[wb[lo + j]]) { keepA[wa[lo + i]] = keepB[wb[lo + j]] = 1; i++; j++; }
      else if (table[(i + 1) * w + j] >= table[i * w + j + 1]) i++;
      else j++;
    }
    return { keepA, keepB };
  }

  function diffView(tokens, keep, tag, note) {
    const box = document.createElement("div");
    box.className = "diffview";
    const caption = document.createElement("p");
    caption.className = "hint diff-note";
    caption.textContent = note;
    const body = document.createElement("div");
    body.className = "diff-body";
    tokens.forEach((t, i) => {
      if (keep[i] || !/\S/.test(t)) { body.append(t); return; }
      const mark = document.createElement(tag);
      mark.textContent = t;
      body.append(mark);
    });
    box.append(caption, body);
    return box;
  }

  function renderDiff(p) {
    if (!p || p.dataset.mode !== "pairwise" || p.dataset.diffed) return;
    const [a, b] = ["A", "B"].map((label) => $(`.response[data-label="${label}"]`, p));
    if (!a || !b) return;
    p.dataset.diffed = "1";
    const ta = words($("template.raw", a).content.textContent);
    const tb = words($("template.raw", b).content.textContent);
    const common = commonWords(ta, tb);
    [[a, ta, "del", "keepA", "Struck through: words that are not in B."],
      [b, tb, "ins", "keepB", "Underlined: words that are not in A."]].forEach(([el, tokens, tag, key, note]) => {
      const view = common
        ? diffView(tokens, common[key], tag, note)
        : Object.assign(document.createElement("p"), { className: "diffview hint", textContent: "Too long to compare word by word." });
      $(".markdown", el).after(view);
    });
  }

  // Scrolling one response scrolls the other to the same place (as a fraction of its length).
  let syncing = null;
  document.addEventListener("scroll", (e) => {
    const box = e.target;
    if (!viewOn("sync") || !(box instanceof Element) || !box.matches("#panel .responses .response > .markdown, #panel .responses .response > .diffview")) return;
    if (syncing === box) { syncing = null; return; }
    const response = box.closest(".response");
    const other = $$("#panel .responses .response").find((r) => r !== response);
    const twin = other && $(box.classList.contains("diffview") ? ".diffview" : ".markdown", other);
    if (!twin) return;
    const span = box.scrollHeight - box.clientHeight;
    const fraction = span > 0 ? box.scrollTop / span : 0;
    const target = Math.round(fraction * (twin.scrollHeight - twin.clientHeight));
    if (twin.scrollTop !== target) { syncing = twin; twin.scrollTop = target; }
  }, true);

  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("[data-view]");
    if (button) setView(button.dataset.view, !viewOn(button.dataset.view));
  });

  // ---------------------------------------------------------------- pace
  function pace() {
    const item = $('[data-pace="item"]');
    const rate = $('[data-pace="rate"]');
    if (!item || !rate) return;
    const s = Math.round((performance.now() - shownAt) / 1000);
    item.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    const hours = (Date.now() - startedAt) / 3600000;
    rate.textContent = finished && hours > 0 ? String(Math.round(finished / hours)) : "–";
  }
  setInterval(pace, 1000);

  function ready() {
    setBusy();
    showViews();
    onPanelReady(panel());
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
