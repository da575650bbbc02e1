// Shows errors that htmx does not swap (4xx other than 422, 5xx, network) in one toast.
(function () {
  "use strict";
  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 8000);
  }
  function messageOf(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) { /* an HTML fragment */ }
    var div = document.createElement("div");
    div.innerHTML = xhr.responseText || "";
    return (div.textContent || "").trim() || "Request failed (" + xhr.status + ").";
  }
  document.addEventListener("htmx:responseError", function (e) { toast(messageOf(e.detail.xhr)); });
  document.addEventListener("htmx:sendError", function () { toast("The vault could not be reached. Check your connection."); });
  // Copy buttons: data-copy names the element whose value or text is copied.
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    var label = button.innerHTML;  // our own markup: a visible word and a hidden row name
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
    }, function () {
      button.textContent = "Select and copy";
    }).then(function () { setTimeout(function () { button.innerHTML = label; }, 2000); });
  });
  // Keyboard: an inline action's answer replaces the button that asked for it, which would drop
  // focus to the page. Focus moves into what opened (its first field) and back to the button
  // that opened it when it closes; a removed row hands focus to the page's heading.
  var opener = null;
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt, scope = elt.closest && elt.closest("[id]");
    if (elt.tagName !== "BUTTON" || !scope) return;
    var inForm = elt.closest("tr.inline-form");
    if (!inForm || !opener || opener.scope !== scope.id) opener = { scope: scope.id, text: elt.textContent.trim() };
  });
  function firstField(scope) {
    return scope.querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])");
  }
  function buttonNamed(scope, text) {
    return Array.prototype.find.call(scope.querySelectorAll("button"), function (b) { return b.textContent.trim() === text; });
  }
  document.addEventListener("htmx:afterSettle", function () {
    var active = document.activeElement;
    if (!opener || (active && active !== document.body && active.isConnected)) return;
    var scope = document.getElementById(opener.scope);
    var target = null;
    if (scope && scope.matches(".inline-form")) target = scope.querySelector("[aria-invalid=true]") || firstField(scope);
    else if (scope) target = buttonNamed(scope, opener.text) || scope.querySelector("button, a[href], input, select, textarea");
    if (!scope || !scope.matches(".inline-form")) opener = null;  // closed: nothing more to give back
    target = target || document.querySelector("main h1");  // a row gone, or one with nothing to focus
    if (target.matches("h1")) target.setAttribute("tabindex", "-1");
    target.focus();
  });
  // Escape closes an inline form, as its Cancel button does.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || e.isComposing || !e.target.closest) return;
    var row = e.target.closest("tr.inline-form");
    var cancel = row && row.querySelector("[data-cancel]");
    if (cancel) { e.preventDefault(); cancel.click(); }
  });
  // An expiry date means the end of that day where the user is: the form says where that is.
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.parameters.has && e.detail.parameters.has("expires_at")) {
      e.detail.parameters.set("utc_offset", String(-new Date().getTimezoneOffset()));
    }
  });
})();
