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

  // Chat: the reply streams in (server-sent events) instead of a page load.
  var form = document.querySelector("form[data-chat]");
  if (!form || !window.fetch || !window.TextDecoder) { return; }
  var log = document.getElementById("chat-log");
  var line = function (who, text, kind) {
    var p = document.createElement("p");
    if (kind) { p.className = kind; }
    if (who) {
      var strong = document.createElement("strong");
      strong.textContent = who + ": ";
      p.appendChild(strong);
    }
    p.appendChild(document.createTextNode(text));
    log.appendChild(p);
  };
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var message = form.elements["message"].value;
    if (!message) { return; }
    var body = new URLSearchParams(new FormData(form));
    line("you", message);
    form.elements["message"].value = "";
    fetch(form.getAttribute("data-chat"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || !response.body) { line("", "The chat could not be sent (" + response.status + "). Reload the page.", "problem"); return; }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        var pump = function () {
          return reader.read().then(function (part) {
            if (part.done) { return; }
            buffer += decoder.decode(part.value, { stream: true });
            var blocks = buffer.split("\n\n");
            buffer = blocks.pop();
            blocks.forEach(function (block) {
              var data = block.split("\n").filter(function (l) { return l.indexOf("data:") === 0; })
                .map(function (l) { return l.slice(5).trim(); }).join("\n");
              if (!data) { return; }
              var event = JSON.parse(data);
              if (event.event === "tool") { line("tool " + event.name, JSON.stringify(event.arguments) + " → " + event.result, "muted"); }
              else if (event.event === "reply") { line("assistant", event.text); }
              else if (event.event === "error") { line("", event.message, "problem"); }
              else if (event.event === "done") { form.elements["history"].value = event.history; }
            });
            return pump();
          });
        };
        return pump();
      });
  });
})();
