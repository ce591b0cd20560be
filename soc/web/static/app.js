// soc console: copy buttons, select-all, "back here" fields, and the live queue (SSE): alerts
// recorded after the page was loaded are counted in the tab title and, on the queue's first
// page, inserted as rows at the top (the server renders and escapes each row).
"use strict";
function copyBySelection(text) {
  var area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  var ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  return ok;
}
document.addEventListener("DOMContentLoaded", function () {
  var here = location.pathname + location.search;
  document.querySelectorAll("input.back-here").forEach(function (el) { el.value = here; });
  document.addEventListener("click", function (ev) {
    var b = ev.target instanceof Element ? ev.target.closest("button.copy") : null;
    if (!b) { return; }
    var text = b.getAttribute("data-copy");
    var done = function () { b.classList.add("copied"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { copyBySelection(text) && done(); });
    } else if (copyBySelection(text)) {  // plain http on another host: no Clipboard API there
      done();
    }
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
    var rows = live.getAttribute("data-rows") === "1";
    var known = live.getAttribute("data-known");
    var url = "/alerts/live?loaded=" + encodeURIComponent(live.getAttribute("data-loaded")) +
      (rows ? "&rows=1" : "") + (known ? "&known=" + encodeURIComponent(known) : "") + (q ? "&" + q : "");
    var body = document.querySelector("table.alerts tbody");
    var source = new EventSource(url);
    source.onmessage = function (ev) {
      var data = JSON.parse(ev.data);
      var n = data["new"];
      document.getElementById("live-count").textContent = String(n);
      live.hidden = n === 0;
      document.title = n > 0 ? "(" + n + ") " + title : title;
      if (!rows || !body) { return; }
      var fresh = data["rows"] || [];
      for (var i = fresh.length - 1; i >= 0; i--) {  // oldest first, each on top: newest ends first
        if (body.querySelector('tr[data-id="' + CSS.escape(fresh[i].id) + '"]')) { continue; }
        var holder = document.createElement("tbody");
        holder.innerHTML = fresh[i].html;
        var tr = holder.firstElementChild;
        if (!tr) { continue; }
        tr.classList.add("arrived");
        var empty = body.querySelector("tr.empty");
        if (empty) { empty.remove(); }
        body.insertBefore(tr, body.firstElementChild);
      }
    };
  }
});
