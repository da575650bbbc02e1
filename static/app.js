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
    var label = button.textContent;
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
    }, function () {
      button.textContent = "Select and copy";
    }).then(function () { setTimeout(function () { button.textContent = label; }, 2000); });
  });
  // An expiry date means the end of that day where the user is: the form says where that is.
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.parameters.has && e.detail.parameters.has("expires_at")) {
      e.detail.parameters.set("utc_offset", String(-new Date().getTimezoneOffset()));
    }
  });
})();
