// Keyboard-first annotation. Every action is also a plain form or link, so the page works
// without this script; it only adds shortcuts, drag-and-drop ranking and time tracking.
(function () {
  "use strict";

  let shownAt = performance.now();
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const panel = () => $("#panel");
  const typing = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
    (el.tagName === "INPUT" && !["radio", "checkbox", "submit", "button"].includes(el.type)));

  function toggle(id, force) {
    const el = document.getElementById(id);
    if (!el) return;
    el.hidden = force === undefined ? !el.hidden : !force;
  }

  function check(name, value) {
    const input = $(`#vote-form input[name="${name}"][value="${value}"]`);
    if (input) { input.checked = true; input.dispatchEvent(new Event("change", { bubbles: true })); }
  }

  // The response the rater prefers, in what they see: A/B choice, or the top of the ranking.
  function preferred() {
    const mode = panel() && panel().dataset.mode;
    if (mode === "ranking") return $("#ranking .rank-item");
    const choice = $('#vote-form input[name="choice"]:checked');
    const label = choice && { a: "A", b: "B" }[choice.value];
    return label ? $(`#vote-form .response[data-label="${label}"]`) : null;
  }

  function openEdit() {
    const box = $("#edit-box");
    const source = preferred();
    if (!box) return;
    box.open = true;
    const area = $('textarea[name="edited_text"]', box);
    if (source) {
      $('input[name="edit_source"]', box).value = source.dataset.rid;
      if (!area.value) area.value = $("template.raw", source).content.textContent;
      htmx.trigger(area, "ps:editopen");
    }
    area.focus();
  }

  // Ranking: tiers of response ids, best first; data-tied="1" joins the tier above.
  function rankingValue() {
    const tiers = [];
    $$("#ranking .rank-item").forEach((li, i) => {
      const rid = Number(li.dataset.rid);
      if (i > 0 && li.dataset.tied === "1") tiers[tiers.length - 1].push(rid);
      else tiers.push([rid]);
    });
    return JSON.stringify(tiers);
  }

  function moveItem(li, delta) {
    const list = li.parentElement;
    const items = $$(".rank-item", list);
    const idx = items.indexOf(li) + delta;
    if (idx < 0 || idx >= items.length) return;
    if (delta < 0) list.insertBefore(li, items[idx]);
    else list.insertBefore(li, items[idx].nextSibling);
    normaliseTies();
    li.focus();
  }

  function normaliseTies() {
    const items = $$("#ranking .rank-item");
    if (items.length) items[0].dataset.tied = "0";
  }

  function prefillRanking() {
    const data = document.getElementById("ranking-prefill");
    const list = $("#ranking");
    if (!data || !list) return;
    const tiers = JSON.parse(data.textContent);
    tiers.forEach((tier) => tier.forEach((label, j) => {
      const li = $(`.rank-item[data-label="${label}"]`, list);
      if (li) { li.dataset.tied = j > 0 ? "1" : "0"; list.appendChild(li); }
    }));
  }

  function setupDrag() {
    let dragged = null;
    $$("#ranking .rank-item").forEach((li) => {
      li.addEventListener("dragstart", () => { dragged = li; li.classList.add("dragging"); });
      li.addEventListener("dragend", () => { li.classList.remove("dragging"); dragged = null; normaliseTies(); });
      li.addEventListener("dragover", (e) => {
        e.preventDefault();
        if (!dragged || dragged === li) return;
        const rect = li.getBoundingClientRect();
        const after = e.clientY > rect.top + rect.height / 2;
        li.parentElement.insertBefore(dragged, after ? li.nextSibling : li);
      });
    });
  }

  function onPanelReady() {
    shownAt = performance.now();
    prefillRanking();
    setupDrag();
    const first = $("#ranking .rank-item");
    if (first) first.focus();
    prefetchNext();
  }

  // Prefetch: while the rater judges one item the server claims the next and we keep its panel
  // ready, so a vote shows it at once; the vote's own response then only confirms it.
  let prefetched = null; // {after, id, html}
  let optimistic = null; // {shown} while a vote whose next panel we already showed is in flight

  function prefetchNext() {
    prefetched = null;
    const p = panel();
    if (!p || !p.dataset.prefetchUrl) return;
    const after = p.dataset.comparison;
    fetch(p.dataset.prefetchUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((r) => (r.status === 200 ? r.text() : null))
      .then((html) => {
        if (!html || !panel() || panel().dataset.comparison !== after) return;
        const m = html.match(/id="panel"[^>]*data-comparison="(\d+)"/);
        if (m) prefetched = { after, id: m[1], html };
      })
      .catch(() => {});
  }

  function readyToVote(form) {
    if ($("#ranking", form)) return true;
    return !!$('input[name="choice"]:checked', form);
  }

  function showPrefetched() {
    const old = panel();
    old.id = "panel-leaving";
    old.hidden = true;
    old.insertAdjacentHTML("beforebegin", prefetched.html);
    const fresh = document.getElementById("panel");
    optimistic = { shown: prefetched.id, old };
    prefetched = null;
    htmx.process(fresh);
    onPanelReady();
  }

  document.addEventListener("htmx:beforeRequest", (e) => {
    const form = e.detail.elt;
    if (!form || form.id !== "vote-form" || optimistic) return;
    if (prefetched && prefetched.after === panel().dataset.comparison && readyToVote(form)) {
      showPrefetched();
    }
  });

  document.addEventListener("htmx:beforeSwap", (e) => {
    if (!optimistic || e.detail.elt.id !== "vote-form") return;
    const m = (e.detail.serverResponse || "").match(/id="panel"[^>]*data-comparison="(\d*)"/);
    if (e.detail.xhr.status === 200 && m && m[1] === optimistic.shown) {
      e.detail.shouldSwap = false; // what we showed is what the server says comes next
    } else {
      e.detail.target = document.getElementById("panel"); // an error, or another next item
    }
  });

  document.addEventListener("htmx:afterRequest", (e) => {
    if (!optimistic || e.detail.elt.id !== "vote-form") return;
    optimistic.old.remove();
    optimistic = null;
  });

  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (form.id !== "vote-form") return;
    $('input[name="time_spent_ms"]', form).value = Math.round(performance.now() - shownAt);
    const ranking = $('input[name="ranking"]', form);
    if (ranking) ranking.value = rankingValue();
  }, true);

  // htmx serialises the form before "submit" listeners of ours would run on some paths:
  // fill the computed fields at configRequest time as well.
  document.addEventListener("htmx:configRequest", (e) => {
    if (!e.detail.elt || e.detail.elt.id !== "vote-form") return;
    e.detail.parameters.set
      ? e.detail.parameters.set("time_spent_ms", Math.round(performance.now() - shownAt))
      : (e.detail.parameters["time_spent_ms"] = Math.round(performance.now() - shownAt));
    if ($("#ranking")) {
      const value = rankingValue();
      e.detail.parameters.set ? e.detail.parameters.set("ranking", value) : (e.detail.parameters["ranking"] = value);
    }
  });

  document.addEventListener("htmx:afterSettle", (e) => {
    if (e.detail.target && e.detail.target.id === "panel") onPanelReady();
    if (panel() && !document.getElementById("panel").contains(document.activeElement)) {
      document.activeElement && document.activeElement.blur && document.activeElement.blur();
    }
  });
  document.addEventListener("DOMContentLoaded", onPanelReady);

  document.addEventListener("click", (e) => {
    const action = e.target.closest("[data-action]");
    if (!action) return;
    if (action.dataset.action === "guidelines") toggle("guidelines");
    if (action.dataset.action === "help") toggle("help");
    if (action.dataset.action === "skip") openSkip();
  });

  function openSkip() {
    const form = $("#skip-form");
    if (!form) return;
    form.hidden = false;
    $('input[name="reason"]', form).focus();
  }

  function submit(form) {
    if (!form) return;
    form.requestSubmit ? form.requestSubmit() : form.submit();
  }

  document.addEventListener("keydown", (e) => {
    const el = document.activeElement;
    if (e.key === "Escape") {
      toggle("guidelines", false); toggle("help", false);
      if (typing(el)) el.blur();
      return;
    }
    if (typing(el)) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submit(el.closest("form"));
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const item = el && el.classList && el.classList.contains("rank-item") ? el : null;
    if (item && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      const delta = e.key === "ArrowUp" ? -1 : 1;
      if (e.shiftKey) { moveItem(item, delta); return; }
      const items = $$("#ranking .rank-item");
      const next = items[items.indexOf(item) + delta];
      if (next) next.focus();
      return;
    }
    const pairwise = panel() && panel().dataset.mode === "pairwise";
    const keys = {
      "1": () => pairwise && check("choice", "a"),
      "2": () => pairwise && check("choice", "b"),
      "3": () => pairwise && check("choice", "tie"),
      "4": () => pairwise && check("choice", "both_bad"),
      "z": () => check("strength", "1"),
      "x": () => check("strength", "2"),
      "c": () => check("strength", "3"),
      "t": () => { if (item && item.previousElementSibling) item.dataset.tied = item.dataset.tied === "1" ? "0" : "1"; },
      "e": openEdit,
      "r": () => { const r = $('textarea[name="rationale"]'); if (r) r.focus(); },
      "s": openSkip,
      "u": () => submit($("#undo-form")),
      "b": () => { const back = $("#back-link"); if (back) back.click(); },
      "g": () => toggle("guidelines"),
      "?": () => toggle("help"),
      "Enter": () => submit($("#vote-form")),
    };
    const action = keys[e.key];
    if (action) { e.preventDefault(); action(); }
  });
})();
