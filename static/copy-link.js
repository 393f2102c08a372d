// "复制链接": a <button data-copy-target="ID" data-copied="..." data-fallback="..."> beside a read-only
// <input id="ID">. The button starts hidden (it does nothing without script) and is shown here. A click
// copies the field's value with navigator.clipboard; where that is missing or refused (a plain-http page,
// an old browser), the field's text is selected so the user copies it by hand, and the message says so.
// The message goes in #<button id>-status.
(function () {
  "use strict";
  function say(btn, text) {
    var out = document.getElementById(btn.id + "-status");
    if (out) out.textContent = text;
  }
  function select(input) {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
  }
  function init() {
    var buttons = document.querySelectorAll("button[data-copy-target]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
  }
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("button[data-copy-target]");
    var input = btn && document.getElementById(btn.getAttribute("data-copy-target"));
    if (!input) return;
    var fallback = function () { select(input); say(btn, btn.getAttribute("data-fallback")); };
    if (!navigator.clipboard || !window.isSecureContext) { fallback(); return; }
    navigator.clipboard.writeText(input.value).then(function () {
      say(btn, btn.getAttribute("data-copied"));
    }, fallback);
  });
  // Tapping the field selects the whole link.
  document.addEventListener("focusin", function (evt) {
    if (evt.target.matches && evt.target.matches("input[readonly]") &&
        document.querySelector('button[data-copy-target="' + evt.target.id + '"]')) select(evt.target);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
