// hookgate console: progressive enhancement only; every page works without this script.
// - forms with data-confirm ask before they submit;
// - elements with data-refresh="N" (and an id) are refreshed from the same page every N seconds while visible;
// - inputs with data-select select their text on focus (secrets, links: shown once, to copy);
// - elements with data-when="NAME" data-is="A B" are shown only while the form's control NAME has one of those
//   values ("on" for a ticked checkbox); hidden ones are disabled, so they are not sent.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-select")) {
      event.target.select();
    }
  });
  function refresh(element) {
    var seconds = parseFloat(element.getAttribute("data-refresh")) || 5;
    window.setTimeout(function tick() {
      if (document.hidden || element.contains(document.activeElement)) {
        window.setTimeout(tick, seconds * 1000);
        return;
      }
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html) {
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(element.id);
            if (fresh) {
              element.innerHTML = fresh.innerHTML;
            }
          }
          window.setTimeout(tick, seconds * 1000);
        })
        .catch(function () { window.setTimeout(tick, seconds * 1000); });
    }, seconds * 1000);
  }
  document.querySelectorAll("[data-refresh][id]").forEach(refresh);
  function valueOf(form, name) {
    var controls = form.querySelectorAll("[name='" + name + "']");
    for (var i = 0; i < controls.length; i++) {
      var c = controls[i];
      if (c.type === "checkbox" || c.type === "radio") {
        if (c.checked) { return c.type === "checkbox" ? "on" : c.value; }
      } else {
        return c.value;
      }
    }
    return "";
  }
  function showChosen(form) {
    form.querySelectorAll("[data-when]").forEach(function (element) {
      var wanted = element.getAttribute("data-is").split(" ");
      var hide = wanted.indexOf(valueOf(form, element.getAttribute("data-when"))) < 0;
      element.hidden = hide;
    });
    // a field is sent only when no hidden group holds it
    form.querySelectorAll("[data-when] input, [data-when] select, [data-when] textarea").forEach(function (c) {
      c.disabled = c.closest("[hidden]") !== null;
    });
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (form.querySelector("[data-when]")) {
      showChosen(form);
      form.addEventListener("change", function () { showChosen(form); });
    }
  });
})();
