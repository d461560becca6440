// 接待台: show the fields of the chosen 处理结果 (交办's units, leader and days; 不予受理's reason)
// as the select changes. Without JavaScript the server shows them once the choice is submitted.
(function () {
  "use strict";
  function sync(select) {
    var block = select.closest("fieldset.issue-block");
    if (!block) return;
    block.querySelectorAll("[data-when]").forEach(function (part) {
      part.hidden = part.getAttribute("data-when") !== select.value;
    });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select.outcome")) sync(e.target);
  });
  document.querySelectorAll("select.outcome").forEach(sync);
  // Focus the error summary (autofocus is not honoured on every browser for a non-control).
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
