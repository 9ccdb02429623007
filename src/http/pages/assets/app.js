// stagecraft dashboard: small enhancements only; every page works without this file.
"use strict";
(function () {
  // A confirmation checkbox keeps its form's button disabled until it is ticked.
  document.querySelectorAll("input[data-confirms]").forEach(function (box) {
    var button = document.getElementById(box.getAttribute("data-confirms"));
    if (!button) { return; }
    var sync = function () { button.disabled = !box.checked; };
    box.addEventListener("change", sync);
    sync();
  });
})();
