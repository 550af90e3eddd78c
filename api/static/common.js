// Shared by the signed-in pages: strings from data-strings, JSON API calls with the session's CSRF token,
// the login form and the logout button. No inline script anywhere: the CSP forbids it.
"use strict";
(function () {
  const strings = JSON.parse(document.body.dataset.strings || "{}");

  function t(key, values) {
    let text = strings[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.replace("{" + name + "}", value);
    return text;
  }

  function csrf() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("kyso_csrf="));
    return found ? decodeURIComponent(found.slice("kyso_csrf=".length)) : "";
  }

  // fetch with the session cookie and the double-submit CSRF header; throws TypeError when offline
  async function api(method, url, options) {
    const opts = options || {};
    const headers = Object.assign({ "X-CSRF-Token": csrf(), Accept: "application/json" }, opts.headers || {});
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["Content-Type"] = "application/json";
    }
    return fetch(url, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  }

  async function problem(response) {
    try {
      const data = await response.json();
      return data.detail || data.title || String(response.status);
    } catch (e) {
      return String(response.status);
    }
  }

  const login = document.getElementById("login-form");
  if (login) {
    login.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = document.getElementById("login-error");
      error.hidden = true;
      try {
        const response = await fetch(login.action, {
          method: "POST", body: new URLSearchParams(new FormData(login)), credentials: "same-origin",
        });
        if (response.ok) {
          window.location.reload();
          return;
        }
        error.textContent = t("login_failed");
      } catch (e) {
        error.textContent = t("network_error");
      }
      error.hidden = false;
      document.getElementById("password").select();
    });
  }

  const change = document.getElementById("password-form");
  if (change) {
    change.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = document.getElementById("password-status");
      status.hidden = true;
      const fresh = document.getElementById("new_password").value;
      if (fresh !== document.getElementById("new_password_again").value) {
        status.textContent = t("password_mismatch");
        status.hidden = false;
        return;
      }
      try {
        const response = await api("POST", "/api/v1/auth/password", {
          json: { current_password: document.getElementById("current_password").value, new_password: fresh },
        });
        if (response.ok) {
          window.alert(t("password_changed"));
          window.location.assign("/");
          return;
        }
        status.textContent = await problem(response);
      } catch (e) {
        status.textContent = t("network_error");
      }
      status.hidden = false;
    });
  }

  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      try { await api("POST", "/api/v1/auth/logout"); } finally { window.location.reload(); }
    });
  }

  // A page's notice banner (#flash): ``say`` shows a message; a message kept under ``key`` in
  // sessionStorage by the page before it reloaded is shown once.
  function flashBanner(key) {
    const flash = document.getElementById("flash");
    function say(text, kind) {
      flash.textContent = text;
      flash.className = "banner " + (kind || "passed");
      flash.hidden = false;
      flash.focus();
    }
    const kept = sessionStorage.getItem(key);
    if (kept) {
      sessionStorage.removeItem(key);
      say(kept);
    }
    return say;
  }

  window.Kyso = { t, csrf, api, problem, flashBanner };
})();
