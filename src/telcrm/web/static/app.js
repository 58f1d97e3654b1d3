// telcrm screens: small keyboard and HTMX glue. Everything works without it, only slower.
(function () {
  "use strict";
  var csrf = function () { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; };
  document.addEventListener("htmx:configRequest", function (e) { e.detail.headers["X-CSRF-Token"] = csrf(); });
  // "/" jumps to the search box from anywhere but a field; Esc leaves a field.
  document.addEventListener("keydown", function (e) {
    var t = e.target, typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (e.key === "/" && !typing) { var q = document.getElementById("q"); if (q) { e.preventDefault(); q.focus(); q.select(); } }
    else if (e.key === "Escape" && typing) { t.blur(); }
  });
  // A part replaced because something changed elsewhere flashes once, so the eye finds it.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.requestConfig && e.detail.requestConfig.triggeringEvent && String(e.detail.requestConfig.triggeringEvent.type).indexOf("sse:") === 0) {
      e.detail.target.classList.remove("flash"); void e.detail.target.offsetWidth; e.detail.target.classList.add("flash");
    }
  });
})();
