// Toasts for htmx responses (HX-Trigger {"toast": [...]}) and confirmations. No inline script anywhere (CSP).
(function () {
  "use strict";
  function showToast(message, level) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast toast-" + (level || "info");
    el.setAttribute("role", "status");
    el.textContent = message;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 6000);
  }
  document.body.addEventListener("toast", function (evt) {
    var items = evt.detail && evt.detail.value !== undefined ? evt.detail.value : evt.detail;
    if (!Array.isArray(items)) items = [items];
    items.forEach(function (t) {
      if (typeof t === "string") showToast(t, "info");
      else if (t && t.message) showToast(t.message, t.level);
    });
  });
  // Irreversible acts ask first: <form data-confirm="..."> or <button data-confirm="...">. The question comes
  // only once the browser's own checks pass (required, minlength...), also on a form marked novalidate: an
  // empty answer is pointed out, never confirmed and then refused. A button with formnovalidate (removing a
  // row of an unfinished form) asks without checking. The server's checks stay the authority.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    var btn = evt.submitter;
    var msg = (btn && btn.getAttribute("data-confirm")) || (form.getAttribute && form.getAttribute("data-confirm"));
    if (!msg) return;
    var skipCheck = btn && btn.hasAttribute("formnovalidate");
    if (!skipCheck && form.checkValidity && !form.checkValidity()) {
      evt.preventDefault(); evt.stopImmediatePropagation();
      form.reportValidity();
      return;
    }
    if (!window.confirm(msg)) { evt.preventDefault(); evt.stopImmediatePropagation(); }
  }, true);
  // Select-all checkbox for bulk actions: <input type="checkbox" data-select-all="ids">.
  document.addEventListener("change", function (evt) {
    var name = evt.target.getAttribute && evt.target.getAttribute("data-select-all");
    if (!name) return;
    var form = evt.target.form || document;
    form.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (cb) { cb.checked = evt.target.checked; });
  });
  // The error summary (templates/_macros/form.html error_summary) takes the focus when a form comes back,
  // on a full page and after an htmx swap that brings one; its links move the focus to the field.
  function focusSummary(root) {
    var box = root && root.querySelector ? root.querySelector("[data-error-summary]") : null;
    if (!box && root && root.matches && root.matches("[data-error-summary]")) box = root;
    if (box) { box.focus(); box.scrollIntoView({block: "start"}); }
  }
  focusSummary(document);
  // A page answered to a POST names its own GET address (core/htmx.py page(url=...)): a reload shows it.
  var own = document.body.getAttribute("data-replace-url");
  if (own && own.charAt(0) === "/" && own.charAt(1) !== "/" && window.history.replaceState) window.history.replaceState(null, "", own);
  document.body.addEventListener("htmx:afterSettle", function (evt) { focusSummary(evt.detail && evt.detail.elt); });
  document.addEventListener("click", function (evt) {
    var a = evt.target.closest && evt.target.closest("[data-error-summary] a[href^='#']");
    if (!a) return;
    var el = document.getElementById(a.getAttribute("href").slice(1));
    if (!el) return;
    if (!el.matches("input, select, textarea, button")) el = el.querySelector("input, select, textarea") || el;
    evt.preventDefault();
    var label = el.id ? document.querySelector("label[for='" + el.id + "']") : null;
    (label || el).scrollIntoView({block: "center"});
    el.focus({preventScroll: true});
  });
  // Amount unit switch hints and other progressive bits hook here.
  document.body.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var failed = document.body.getAttribute("data-failed-text") || "操作失败（%s）";  // in the page's language
    if (xhr && !xhr.getResponseHeader("HX-Trigger")) showToast(failed.replace("%s", xhr.status), "error");
  });
})();
