// Keyboard-first annotation. Every action is also a plain form or link, so the page works
// without this script; it adds shortcuts, rating by keyboard, drag (mouse and touch) ranking,
// drafts that survive a reload, dialogs, and showing the next item before the server answers.
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
  let queue = [];
  let running = false;
  let prefetched = null; // {after, id, html}: the panel that follows the one on screen
  let prefetchWanted = false;
  let prefetchToken = 0;
  let shownAt = performance.now();
  const startedAt = Date.now();
  let finished = 0;

  function csrfToken() {
    const input = $('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function setBusy() {
    document.body.dataset.pendingActions = String(queue.length + (running ? 1 : 0));
  }

  function enqueue(job) {
    queue.push(job);
    setBusy();
    if (!running) runNext();
  }

  async function runNext() {
    const job = queue.shift();
    if (!job) {
      running = false;
      setBusy();
      if (prefetchWanted) prefetchNext();
      return;
    }
    running = true;
    setBusy();
    let status = 0;
    let html = "";
    let trigger = null;
    try {
      const r = await fetch(job.url, {
        method: job.method,
        body: job.body,
        credentials: "same-origin",
        headers: { "HX-Request": "true", "X-CSRFToken": csrfToken() },
      });
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
    if (job.expectFrom) {
      delete job.expectFrom.dataset.pending;
      job.expectFrom.removeAttribute("aria-busy");
    }
    if (ok && job.draftKey) store.drop(job.draftKey);
    if (ok && (job.kind === "vote" || job.kind === "skip")) finished += 1;
    fireTriggers(trigger);
    if (!m) {
      // No panel in the answer (network, 403, 500): what was entered is still in the draft.
      say(`Could not save (${status ? "HTTP " + status : "offline"}). Your input is kept; try again.`);
      if (job.shown && job.itemUrl) enqueue({ kind: "back", method: "GET", url: job.itemUrl, from: null });
      return;
    }
    if (ok && job.shown && m[1] === job.shown) { say(""); return; } // the guess was right
    const current = panel();
    const navigation = job.kind === "back" || job.kind === "undo";
    if (!ok || navigation || current === job.expect) {
      putPanel(html);
      if (ok) say("");
    }
  }

  function putPanel(html) {
    const old = panel();
    if (!old) return;
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
    const job = { kind, from: p.dataset.comparison, expect: p, expectFrom: null, method: "POST" };
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
    let show = null;
    if (kind === "vote" || kind === "skip") {
      job.draftKey = kind === "vote" ? p.dataset.draftKey : null;
      job.itemUrl = el.action.replace(/(vote|skip)\/$/, "");
      if (prefetched && prefetched.after === job.from && (kind === "skip" || readyToVote(el, p))) {
        show = prefetched;
        job.shown = prefetched.id;
      } else {
        p.dataset.pending = "1";
        p.setAttribute("aria-busy", "true");
        job.expectFrom = p;
        say("Saving…");
      }
    }
    enqueue(job); // before showing the next panel: its prefetch must wait for this action
    if (show) {
      prefetched = null;
      putPanel(show.html);
      job.expect = panel();
    }
  }

  function prefetchNext() {
    prefetched = null;
    const p = panel();
    if (!p || !p.dataset.prefetchUrl) return;
    // Only with nothing in flight: the server must know every action before it says what's next.
    if (running || queue.length) { prefetchWanted = true; return; }
    prefetchWanted = false;
    const after = p.dataset.comparison;
    const token = ++prefetchToken;
    fetch(p.dataset.prefetchUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((r) => (r.status === 200 ? r.text() : null))
      .then((html) => {
        if (!html || token !== prefetchToken || running || queue.length) return;
        if (!panel() || panel().dataset.comparison !== after) return;
        const m = html.match(PANEL_ID);
        if (m && m[1] !== after) prefetched = { after, id: m[1], html };
      })
      .catch(() => {});
  }

  function onPanelReady(p) {
    shownAt = performance.now();
    rating = null;
    if (!p) return;
    prefillRanking(p);
    restoreDraft(p);
    const first = $("#ranking .rank-item", p);
    if (first) first.focus({ preventScroll: true });
    else if (!p.contains(document.activeElement) && document.activeElement !== document.body) {
      document.activeElement.blur && document.activeElement.blur();
    }
    prefetchNext();
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
      "g": () => openDialog("guidelines"),
      "?": () => openDialog("help"),
    };
    const action = keys[e.key];
    if (action) { e.preventDefault(); action(); }
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
    onPanelReady(panel());
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
