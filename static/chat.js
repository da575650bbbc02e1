// The playground: a conversation kept in this page and sent whole to POST /api/chat with
// stream:true each turn; each event is shown as it arrives.
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  if (!form) return;
  var log = document.getElementById("chat-log");
  var empty = document.getElementById("chat-empty");
  var turnTemplate = document.getElementById("chat-turn");
  var errorBox = document.getElementById("chat-error");
  var message = document.getElementById("chat-message");
  var send = document.getElementById("chat-send");
  var stop = document.getElementById("chat-stop");
  var clear = document.getElementById("chat-clear");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var history = [];  // the turns that succeeded, as the model will read them
  var controller = null;

  function showError(text) { errorBox.textContent = text; errorBox.hidden = !text; }

  function addTurn(role, text) {
    var turn = turnTemplate.content.firstElementChild.cloneNode(true);
    turn.classList.add("chat-" + (role === "You" ? "user" : "assistant"));
    turn.querySelector(".chat-role").textContent = role;
    turn.querySelector(".chat-text").textContent = text;
    empty.hidden = true;
    clear.hidden = false;
    log.appendChild(turn);
    turn.scrollIntoView({ block: "nearest" });
    return turn;
  }

  // Only what the user set travels; an empty field means the model's default.
  function settings() {
    var options = {};
    var fields = [["temperature", parseFloat], ["max_tokens", parseInt]];
    for (var i = 0; i < fields.length; i++) {
      var input = form.elements[fields[i][0]];
      if (!input.checkValidity()) {
        document.getElementById("chat-settings").open = true;
        input.focus();
        throw new Error(input.labels[0].textContent + ": " + input.validationMessage);
      }
      if (input.value !== "") options[fields[i][0]] = fields[i][1](input.value, 10);
    }
    return options;
  }

  function conversation(text) {
    var system = form.elements.system.value.trim();
    var messages = system ? [{ role: "system", content: system }] : [];
    return messages.concat(history, [{ role: "user", content: text }]);
  }

  function describe(response) {
    var parts = ["key: " + (response.headers.get("X-Key-Source") || "none").replace("_", " ")];
    var overhead = response.headers.get("X-Vault-Overhead-Ms");
    if (overhead) parts.push("gateway " + overhead + " ms");
    return parts.join(" · ");
  }

  async function readEvents(response, turn) {
    var text = turn.querySelector(".chat-text");
    var meta = turn.querySelector(".chat-meta");
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var failed = null;
    function handle(event) {
      if (event.type === "delta") text.textContent += event.content;
      else if (event.type === "tool_call") text.textContent += "\n[tool call] " + event.name + "(" + event.arguments + ")";
      else if (event.type === "error") failed = event.error.message;
      else if (event.type === "done" && event.usage) {
        meta.textContent += " · " + event.usage.prompt_tokens + " prompt + " + event.usage.completion_tokens + " completion tokens";
      }
    }
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
    return failed;
  }

  function busy(on) {
    send.disabled = on;
    if (on) send.setAttribute("aria-busy", "true"); else send.removeAttribute("aria-busy");
    stop.hidden = !on;
    clear.disabled = on;
  }

  async function ask(text, options) {
    var user = addTurn("You", text);
    var model = form.elements.model_id;
    var turn = addTurn(model.options[model.selectedIndex].textContent.trim().split(" (")[0], "");
    var meta = turn.querySelector(".chat-meta");
    meta.textContent = "waiting for the model…";
    var failed = null;
    turn.setAttribute("aria-busy", "true");  // read out once whole, not token by token
    controller = new AbortController();
    try {
      var response = await fetch(form.dataset.endpoint, {
        method: "POST", signal: controller.signal,
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(Object.assign({ model_id: model.value, stream: true, messages: conversation(text) }, options))
      });
      meta.textContent = describe(response);
      if (!response.ok) {
        var body = await response.json().catch(function () { return {}; });
        failed = (body.error && body.error.message) || "The request failed (" + response.status + ").";
      } else {
        failed = await readEvents(response, turn);
      }
    } catch (err) {
      failed = err.name === "AbortError" ? null : "The vault could not be reached.";
      if (err.name === "AbortError") meta.textContent += " · stopped";
    }
    turn.removeAttribute("aria-busy");
    var answer = turn.querySelector(".chat-text").textContent;
    // stopped before a word arrived: kept, the user's message would stand alone in the history,
    // and the next turn would send two user messages in a row
    if (!failed && !answer) failed = "Stopped before the model answered.";
    if (failed) {
      // a failed turn is not part of the conversation: the message goes back to be sent again
      user.classList.add("chat-failed"); turn.classList.add("chat-failed");
      turn.querySelector(".chat-text").textContent = failed;
      turn.setAttribute("role", "alert");
      if (!message.value) message.value = text;
    } else {
      history.push({ role: "user", content: text }, { role: "assistant", content: answer });
      turn.querySelector("footer").hidden = false;
    }
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    var text = message.value.trim();
    if (!text || controller) return;
    showError("");
    var options;
    try { options = settings(); } catch (err) { showError(err.message); return; }
    message.value = "";
    busy(true);
    try { await ask(text, options); } finally { controller = null; busy(false); message.focus(); }
  });

  message.addEventListener("keydown", function (e) {
    // 229: the Enter that confirms an input method's composition (Safari reports it so)
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.elements.model_id.addEventListener("change", function () { showError(""); });
  stop.addEventListener("click", function () { if (controller) controller.abort(); });
  clear.addEventListener("click", function () {
    history = [];
    Array.prototype.slice.call(log.querySelectorAll(".chat-turn")).forEach(function (turn) { turn.remove(); });
    empty.hidden = false; clear.hidden = true; showError("");
    message.focus();
  });
  log.addEventListener("click", function (e) {
    var button = e.target.closest(".chat-copy");
    if (!button) return;
    var text = button.closest(".chat-turn").querySelector(".chat-text").textContent;
    navigator.clipboard.writeText(text).then(function () { button.firstChild.textContent = "Copied"; },
      function () { button.firstChild.textContent = "Select and copy"; })
      .then(function () { setTimeout(function () { button.firstChild.textContent = "Copy"; }, 2000); });
  });
  send.disabled = false;
})();
