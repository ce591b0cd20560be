// soc console: copy buttons, select-all, "back here" fields and the live alert count (SSE).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var here = location.pathname + location.search;
  document.querySelectorAll("input.back-here").forEach(function (el) { el.value = here; });
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var text = b.getAttribute("data-copy");
      if (navigator.clipboard) { navigator.clipboard.writeText(text); }
      b.classList.add("copied");
    });
  });
  document.querySelectorAll("input.select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      document.querySelectorAll("input.pick").forEach(function (p) { p.checked = box.checked; });
    });
  });
  var live = document.getElementById("live");
  if (live && window.EventSource) {
    var title = document.title;
    var q = live.getAttribute("data-params");
    var url = "/alerts/live?since=" + encodeURIComponent(live.getAttribute("data-since")) + (q ? "&" + q : "");
    var source = new EventSource(url);
    source.onmessage = function (ev) {
      var n = JSON.parse(ev.data)["new"];
      document.getElementById("live-count").textContent = String(n);
      live.hidden = n === 0;
      document.title = n > 0 ? "(" + n + ") " + title : title;
    };
  }
});
