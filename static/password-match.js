// "The two passwords differ" as the user types: <form data-password-match="message"> with inputs named
// password and confirm. The message goes in the confirm field's error area (the field macro's
// #errors-<id>), which the server fills the same way when the form comes back.
(function () {
  "use strict";
  function check(form) {
    var pw = form.querySelector("input[name=password]");
    var confirm = form.querySelector("input[name=confirm]");
    var area = confirm && document.getElementById("errors-" + confirm.id);
    if (!pw || !area) return;
    var old = area.querySelector("[data-password-mismatch]");
    var differs = confirm.value !== "" && confirm.value !== pw.value;
    if (differs && !old) {
      var p = document.createElement("p");
      p.className = "error";
      p.id = "mismatch-" + confirm.id;
      p.setAttribute("data-password-mismatch", "");
      p.textContent = form.getAttribute("data-password-match");
      area.appendChild(p);
      confirm.setAttribute("aria-invalid", "true");
      confirm.setAttribute("aria-describedby", p.id);
    } else if (!differs && old) {
      old.remove();
      if (!area.querySelector(".error")) {
        confirm.removeAttribute("aria-invalid");
        confirm.removeAttribute("aria-describedby");
      }
    }
  }
  document.addEventListener("input", function (evt) {
    var form = evt.target.form;
    if (form && form.hasAttribute("data-password-match") && /^(password|confirm)$/.test(evt.target.name)) check(form);
  });
})();
