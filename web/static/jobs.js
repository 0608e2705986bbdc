// A job's progress page: asks the console for the job's state every second until it ends.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || box.getAttribute("data-ended") === "1") { return; }
  var url = box.getAttribute("data-state-url");
  function set(id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } }
  function show(s) {
    var status = document.getElementById("job-status");
    status.textContent = s.status_text;
    status.setAttribute("data-status", s.status);
    set("job-note", s.note || "");
    set("job-done", String(s.done));
    set("job-total", s.total ? String(s.total) : "?");
    set("job-error", s.error || "");
    var bar = document.getElementById("job-progress");
    if (s.percent !== null && s.percent !== undefined) { bar.value = s.percent; }
    if (s.download) {
      document.getElementById("download-zip").setAttribute("href", s.download);
      if (s.download_iso) {
        var iso = document.getElementById("download-iso");
        iso.setAttribute("href", s.download_iso);
        iso.hidden = false;
      }
      if (s.download_statement) {
        var pdf = document.getElementById("download-statement");
        pdf.setAttribute("href", s.download_statement);
        pdf.hidden = false;
      }
      set("job-until", s.until || "");
      document.getElementById("job-result").hidden = false;
    }
    if (s.result_page) {
      document.getElementById("job-result-link").setAttribute("href", s.result_page);
      document.getElementById("job-result-page").hidden = false;
    }
    if (s.ended) {
      box.setAttribute("data-ended", "1");
      var cancel = document.getElementById("cancel-form");
      if (cancel) { cancel.hidden = true; }
    }
  }
  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s) { show(s); }
        if (!s || !s.ended) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
