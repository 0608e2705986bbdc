// custody console: passkeys (WebAuthn) and JSON posts with the CSRF header.
// Served by custody itself; no inline script anywhere (the CSP allows only 'self').
"use strict";
(function () {
  function b64urlToBuffer(s) {
    const pad = "=".repeat((4 - (s.length % 4)) % 4);
    const bin = atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufferToB64url(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function csrf() {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  async function postJSON(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRFToken": csrf()},
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await r.json(); } catch (e) { data = {}; }
    if (!r.ok) throw new Error(data.text || data.message || r.statusText);
    return data;
  }
  function creationOptions(o) {
    const pk = Object.assign({}, o);
    pk.challenge = b64urlToBuffer(o.challenge);
    pk.user = Object.assign({}, o.user, {id: b64urlToBuffer(o.user.id)});
    pk.excludeCredentials = (o.excludeCredentials || []).map(
      c => Object.assign({}, c, {id: b64urlToBuffer(c.id)}));
    return pk;
  }
  function requestOptions(o) {
    const pk = Object.assign({}, o);
    pk.challenge = b64urlToBuffer(o.challenge);
    pk.allowCredentials = (o.allowCredentials || []).map(
      c => Object.assign({}, c, {id: b64urlToBuffer(c.id)}));
    return pk;
  }
  function registrationJSON(c) {
    const r = c.response;
    return {id: c.id, rawId: bufferToB64url(c.rawId), type: c.type,
            authenticatorAttachment: c.authenticatorAttachment || undefined,
            clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
            response: {clientDataJSON: bufferToB64url(r.clientDataJSON),
                       attestationObject: bufferToB64url(r.attestationObject),
                       transports: r.getTransports ? r.getTransports() : []}};
  }
  function assertionJSON(c) {
    const r = c.response;
    return {id: c.id, rawId: bufferToB64url(c.rawId), type: c.type,
            authenticatorAttachment: c.authenticatorAttachment || undefined,
            clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
            response: {clientDataJSON: bufferToB64url(r.clientDataJSON),
                       authenticatorData: bufferToB64url(r.authenticatorData),
                       signature: bufferToB64url(r.signature),
                       userHandle: r.userHandle ? bufferToB64url(r.userHandle) : null}};
  }
  function options(o) { return typeof o === "string" ? JSON.parse(o) : o; }
  function say(text) {
    const m = document.getElementById("message");
    if (m) m.textContent = text;
  }
  function busy(button, on) { if (button) button.disabled = on; }

  async function enroll(button) {
    const token = button.dataset.token;
    const base = "/invite/" + encodeURIComponent(token);
    const begun = await postJSON(base + "/begin");
    const cred = await navigator.credentials.create({publicKey: creationOptions(options(begun.options))});
    const done = await postJSON(base + "/finish", {credential: registrationJSON(cred)});
    window.location.assign(done.next);
  }
  async function signIn(button) {
    const begun = await postJSON("/signin/begin");
    const cred = await navigator.credentials.get({publicKey: requestOptions(options(begun.options))});
    const done = await postJSON("/signin/finish", {credential: assertionJSON(cred), next: button.dataset.next || null});
    window.location.assign(done.next);
  }
  function bind(id, action) {
    const b = document.getElementById(id);
    if (!b) return;
    b.addEventListener("click", async () => {
      busy(b, true); say("");
      try { await action(b); } catch (e) { say(e.message || String(e)); busy(b, false); }
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    bind("enroll-button", enroll);
    bind("signin-button", signIn);
  });
  window.custody = {b64urlToBuffer, bufferToB64url, postJSON, requestOptions, assertionJSON,
                    options, say};
})();
