// 当日统计: reload the counts when any queue of the visit changes (the board's server-sent
// events). Without JavaScript the 刷新 link does the same.
(function () {
  "use strict";
  var box = document.getElementById("day-counts");
  if (!box || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var busy = false;
  function reload() {
    if (busy) return;
    busy = true;
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("day-counts");
        if (fresh) box.replaceChildren.apply(box, Array.prototype.slice.call(fresh.childNodes));
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  var source = new EventSource(box.getAttribute("data-events"));
  source.addEventListener("board", reload);
})();
