// The playground: POST /api/chat with stream:true and show each event as it arrives.
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  if (!form) return;
  var output = document.getElementById("chat-output");
  var meta = document.getElementById("chat-meta");
  var errorBox = document.getElementById("chat-error");
  var send = document.getElementById("chat-send");
  var stop = document.getElementById("chat-stop");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var controller = null;

  function showError(text) { errorBox.textContent = text; errorBox.hidden = false; }

  function handle(event) {
    if (event.type === "delta") output.textContent += event.content;
    else if (event.type === "tool_call") output.textContent += "\n[tool call] " + event.name + "(" + event.arguments + ")";
    else if (event.type === "error") showError(event.error.message);
    else if (event.type === "done" && event.usage) {
      meta.textContent += " · " + event.usage.prompt_tokens + " prompt + " + event.usage.completion_tokens + " completion tokens";
    }
  }

  async function readEvents(response) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var part = await reader.read();
      if (part.done) break;
      buffer += decoder.decode(part.value, { stream: true });
      var blocks = buffer.split("\n\n");
      buffer = blocks.pop();
      blocks.forEach(function (block) {
        block.split("\n").forEach(function (line) {
          if (line.indexOf("data: ") === 0) handle(JSON.parse(line.slice(6)));
        });
      });
    }
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    var message = form.elements.message.value.trim();
    if (!message) return;
    document.getElementById("chat-answer").hidden = false;
    output.textContent = ""; errorBox.hidden = true; meta.textContent = "Waiting for the model…";
    send.setAttribute("aria-busy", "true"); send.disabled = true; stop.hidden = false;
    controller = new AbortController();
    try {
      var response = await fetch(form.dataset.endpoint, {
        method: "POST", signal: controller.signal,
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ model_id: form.elements.model_id.value, stream: true,
                               messages: [{ role: "user", content: message }] })
      });
      meta.textContent = "Key source: " + (response.headers.get("X-Key-Source") || "none") +
        " · gateway " + (response.headers.get("X-Vault-Overhead-Ms") || "?") + " ms";
      if (!response.ok) {
        var body = await response.json().catch(function () { return {}; });
        showError((body.error && body.error.message) || "The request failed (" + response.status + ").");
        meta.textContent = "";
      } else {
        await readEvents(response);
      }
    } catch (err) {
      if (err.name !== "AbortError") showError("The vault could not be reached.");
    } finally {
      send.removeAttribute("aria-busy"); send.disabled = false; stop.hidden = true; controller = null;
    }
  });

  stop.addEventListener("click", function () { if (controller) controller.abort(); });
  send.disabled = false;
})();
