// hookgate console: progressive enhancement only; every page works without this script.
// - forms with data-confirm ask before they submit;
// - elements with data-refresh="N" (and an id) are refreshed from the same page every N seconds while visible;
// - inputs with data-select select their text on focus (secrets, links: shown once, to copy).
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
})();
