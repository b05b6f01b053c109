// The reviewer console. Every action is a plain link or form without this script: the ranking
// verdict is a rank <select> per response. The script adds drag-to-adjudicate (pointer events, so
// mouse, pen and touch alike), keyboard moves, autosave of each move, and the n / ? shortcuts.
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const typing = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
    (el.tagName === "INPUT" && !["radio", "checkbox", "submit", "button"].includes(el.type)));

  const list = () => $("#verdict-ranking");
  const items = () => $$("#verdict-ranking .verdict-item");
  const name = (li) => `Response ${li.dataset.label}`;

  // data-tied="1": in the same tier as the item above. The rank fields are what the form sends.
  function sync() {
    let rank = 0;
    items().forEach((li, i) => {
      if (i === 0) li.dataset.tied = "0";
      if (li.dataset.tied !== "1") rank += 1;
      $("select", li).value = String(rank);
      const tie = $('[data-move="tie"]', li);
      if (tie) { tie.setAttribute("aria-pressed", li.dataset.tied === "1" ? "true" : "false"); tie.disabled = i === 0; }
    });
  }

  function announce(text) {
    const live = $("#ranking-announce");
    if (live) live.textContent = text;
  }

  function save() {
    const form = $("#verdict-form");
    if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
  }

  // An item leaving its place leaves its tier; if it headed a tier, the next member heads it now.
  function detach(li, oldNext) {
    if (li.dataset.tied !== "1" && oldNext && oldNext.dataset.tied === "1") oldNext.dataset.tied = "0";
    li.dataset.tied = "0";
  }

  function placed(li) {
    const all = items();
    announce(`${name(li)} moved to place ${all.indexOf(li) + 1} of ${all.length}.`);
    sync();
    save();
  }

  function move(li, delta) {
    const all = items();
    const idx = all.indexOf(li) + delta;
    if (idx < 0 || idx >= all.length) return;
    detach(li, li.nextElementSibling);
    list().insertBefore(li, delta < 0 ? all[idx] : all[idx].nextElementSibling);
    li.focus();
    placed(li);
  }

  function toggleTie(li) {
    if (!li.previousElementSibling) return;
    li.dataset.tied = li.dataset.tied === "1" ? "0" : "1";
    announce(li.dataset.tied === "1"
      ? `${name(li)} tied with ${name(li.previousElementSibling)}.`
      : `${name(li)} no longer tied.`);
    sync();
    save();
  }

  function startDrag(handle, e) {
    if (e.button !== 0) return;
    e.preventDefault();
    const li = handle.closest(".verdict-item");
    const before = items().map((x) => x.dataset.rid).join();
    const oldNext = li.nextElementSibling;
    // Capture on the list, which stays put: the item itself moves in the DOM while dragged, and
    // an element leaving the document loses its capture.
    const area = list();
    area.setPointerCapture(e.pointerId);
    li.classList.add("dragging");
    const onMove = (ev) => {
      const target = items().find((other) => {
        if (other === li) return false;
        const r = other.getBoundingClientRect();
        return ev.clientY < r.top + r.height / 2;
      });
      if (target !== li.nextElementSibling) list().insertBefore(li, target || null);
    };
    const onEnd = () => {
      area.removeEventListener("pointermove", onMove);
      area.removeEventListener("pointerup", onEnd);
      area.removeEventListener("pointercancel", onEnd);
      li.classList.remove("dragging");
      li.focus();
      if (items().map((x) => x.dataset.rid).join() === before) return;
      detach(li, oldNext);
      placed(li);
    };
    area.addEventListener("pointermove", onMove);
    area.addEventListener("pointerup", onEnd);
    area.addEventListener("pointercancel", onEnd);
  }

  function setup() {
    if (!list() || list().dataset.ready) return;
    list().dataset.ready = "1";
    $$(".rank-field", list()).forEach((label) => { label.hidden = true; });
    $$(".moves", list()).forEach((span) => { span.hidden = false; });
    $$(".handle", list()).forEach((h) => h.addEventListener("pointerdown", (e) => startDrag(h, e)));
    list().addEventListener("click", (e) => {
      const button = e.target.closest("[data-move]");
      if (!button) return;
      const li = button.closest(".verdict-item");
      if (button.dataset.move === "tie") toggleTie(li);
      else move(li, button.dataset.move === "up" ? -1 : 1);
    });
    sync();
  }

  function toggleHelp(force) {
    const help = $("#review-help");
    if (help) help.open = force === undefined ? !help.open : force;
  }

  document.addEventListener("click", (e) => {
    const link = e.target.closest('[data-action="review-help"]');
    if (!link) return;
    e.preventDefault();
    toggleHelp(true);
    $("summary", $("#review-help")).focus();
  });

  document.addEventListener("keydown", (e) => {
    const el = document.activeElement;
    if (e.key === "Escape") {
      toggleHelp(false);
      if (typing(el)) el.blur();
      return;
    }
    if (typing(el) || e.ctrlKey || e.metaKey || e.altKey) return;
    const li = el && el.classList && el.classList.contains("verdict-item") ? el : null;
    if (li && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      const delta = e.key === "ArrowUp" ? -1 : 1;
      if (e.shiftKey) { move(li, delta); return; }
      const next = items()[items().indexOf(li) + delta];
      if (next) next.focus();
      return;
    }
    if (li && e.key === "t") { e.preventDefault(); toggleTie(li); return; }
    if (e.key === "?") { e.preventDefault(); toggleHelp(); return; }
    if (e.key === "n") {
      const next = $("#next-disagreement");
      if (next) { e.preventDefault(); next.click(); }
    }
  });

  document.addEventListener("htmx:afterSettle", (e) => {
    if (!e.detail.target || e.detail.target.id !== "review") return;
    setup();
    const heading = $("#review h1");
    if (heading) { heading.tabIndex = -1; heading.focus(); }
  });
  document.addEventListener("DOMContentLoaded", setup);
})();
