// Decisions signed with the person's passkey: every <form class="signed" data-decision="NAME">
// is sent as JSON to /sign/NAME/begin (the server says what will be signed), the passkey
// signs it, and /sign/NAME/finish does it and names the page to show next.
// A field named more than once (check boxes) is sent as a list; the button pressed is sent
// by its name and value. Loaded after webauthn.js, which provides window.custody.
"use strict";
(function () {
  function fields(form, submitter) {
    const out = {};
    const data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    for (const [name, value] of data.entries()) {
      if (name === "csrf_token") continue;
      if (name in out) out[name] = [].concat(out[name], value);
      else out[name] = form.querySelectorAll('[name="' + name + '"][type="checkbox"]').length
        ? [value] : value;
    }
    return out;
  }
  function message(form, text) {
    const own = form.querySelector(".message");
    if (own) own.textContent = text; else window.custody.say(text);
  }
  async function sign(form, submitter) {
    const c = window.custody;
    const base = "/sign/" + encodeURIComponent(form.dataset.decision);
    const begun = await c.postJSON(base + "/begin", fields(form, submitter));
    const cred = await navigator.credentials.get({publicKey: c.requestOptions(c.options(begun.options))});
    const done = await c.postJSON(base + "/finish", {credential: c.assertionJSON(cred)});
    window.location.assign(done.next);
  }
  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form.signed")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
        const buttons = form.querySelectorAll("button");
        for (const b of buttons) b.disabled = true;
        message(form, "");
        try { await sign(form, event.submitter); } catch (e) {
          message(form, e.message || String(e));
          for (const b of buttons) b.disabled = false;
        }
      });
    }
  });
})();
