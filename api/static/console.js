// The CA operator's console: every change is a call to the JSON API (session cookie + CSRF header), the
// same routes and service functions the CLI's and integrators' requests go through; the page then reloads
// to show what the server now says.
"use strict";
(function () {
  const { t, api, problem, flashBanner } = window.Kyso;
  const $ = (id) => document.getElementById(id);
  const say = flashBanner("kyso-console-flash");

  // call the API; on success keep a message for the reloaded page (or hand the answer to `then`)
  async function call(method, url, json, done, then) {
    try {
      const response = await api(method, url, json === undefined ? {} : { json });
      if (response.status === 409) {
        // an action an approval policy holds: filed as a request, not done (services/approvals.py)
        const data = await response.clone().json().catch(() => ({}));
        if (data.approval_request) {
          sessionStorage.setItem("kyso-console-flash",
            t("console_sent_for_approval", { id: data.approval_request, n: data.approvals_required }));
          window.location.assign("/console/approvals");
          return null;
        }
      }
      if (!response.ok) {
        say(t("error_prefix_console") + (await problem(response)), "failed");
        return null;
      }
      const data = response.status === 204 ? {} : await response.json();
      if (then) return then(data);
      sessionStorage.setItem("kyso-console-flash", typeof done === "function" ? done(data) : done);
      window.location.reload();
      return data;
    } catch (e) {
      say(t("network_error_console"), "failed");
      return null;
    }
  }

  // --- one certificate ---------------------------------------------------------------------------------
  const actions = $("actions");
  if (actions) {
    const serial = actions.dataset.serial;
    const base = "/api/v1/certificates/" + encodeURIComponent(serial) + "/";
    document.querySelectorAll("button.console-act").forEach((button) => {
      button.addEventListener("click", () => {
        const act = button.dataset.act;
        if (!window.confirm(t("console_confirm_" + act, { serial }))) return;
        button.disabled = true;
        call("POST", base + act, undefined, t("console_done_" + act)).finally(() => { button.disabled = false; });
      });
    });

    const revoke = $("revoke-form");
    if (revoke) {
      revoke.addEventListener("submit", (event) => {
        event.preventDefault();
        const reason = $("revoke-reason").value;
        if (!window.confirm(t("console_confirm_revoke", { serial, reason: t("reason_" + reason) }))) return;
        const body = { reason };
        const since = $("revoke-invalidity").value;
        if (since) body.invalidity_date = new Date(since).toISOString();
        call("POST", base + "revoke", body, t("console_done_revoke"));
      });
    }

    const renew = $("renew-form");
    if (renew) {
      renew.addEventListener("submit", (event) => {
        event.preventDefault();
        if (!window.confirm(t("console_confirm_renew", { serial }))) return;
        const body = {};
        const password = $("renew-password"), csr = $("renew-csr");
        if (password && password.value) body.pkcs12_password = password.value;
        if (csr && csr.value.trim()) body.csr_pem = csr.value.trim();
        call("POST", base + "renew", body, null, (issued) => {
          if (password) password.value = "";
          const message = t("console_done_renew", { serial: issued.serial });
          if (issued.pkcs12_base64) {
            // the PKCS#12 is returned once: offer it here before moving on to the new certificate
            const bytes = Uint8Array.from(atob(issued.pkcs12_base64), (c) => c.charCodeAt(0));
            const link = $("renew-p12");
            link.href = URL.createObjectURL(new Blob([bytes], { type: "application/x-pkcs12" }));
            link.download = issued.serial + ".p12";
            link.hidden = false;
            say(message);
            return issued;
          }
          sessionStorage.setItem("kyso-console-flash", message);
          window.location.assign("/console/certificates/" + encodeURIComponent(issued.serial));
          return issued;
        });
      });
    }
  }

  // --- accounts ------------------------------------------------------------------------------------------
  function showSecret(text, qr) {
    $("secret-text").textContent = text;
    const image = $("secret-qr");
    if (qr) image.src = "data:image/png;base64," + qr;
    image.hidden = !qr;
    $("secret").hidden = false;
    $("secret").scrollIntoView();
  }

  const accountForm = $("account-form");
  if (accountForm) {
    accountForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { role: $("a-role").value };
      const fields = { username: "a-username", display_name: "a-display", cccd: "a-cccd", venue: "a-venue" };
      for (const [name, id] of Object.entries(fields)) if ($(id).value.trim()) body[name] = $(id).value.trim();
      call("POST", "/api/v1/users", body, null, (created) => {
        showSecret(t("console_created_account", { username: created.username, password: created.one_time_password || "—" }));
        accountForm.reset();
        return created;
      });
    });
  }

  document.querySelectorAll("button.account-act").forEach((button) => {
    button.addEventListener("click", () => {
      const row = button.closest("tr");
      const username = row.dataset.username;
      const url = "/api/v1/users/" + encodeURIComponent(username) + "/";
      const act = button.dataset.act;
      if (!window.confirm(t("console_confirm_account", { action: button.textContent.trim(), username }))) return;
      const changed = t("console_changed", { username });
      if (act === "role") return call("POST", url + "role", { role: row.querySelector(".role-choice").value }, changed);
      if (act === "reset-password") {
        return call("POST", url + "reset-password", undefined, null, (data) => {
          showSecret(t("console_new_password_is", { username, password: data.one_time_password }));
          return data;
        });
      }
      if (act === "totp") {
        return call("POST", url + "totp", undefined, null, (data) => {
          showSecret(t("console_totp_reset", { username }), data.qr_png_base64);
          return data;
        });
      }
      return call("POST", url + act, undefined, changed);  // disable | enable | unlock
    });
  });

  // --- API keys ------------------------------------------------------------------------------------------
  const keyForm = $("key-form");
  if (keyForm) {
    keyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const scopes = [...keyForm.querySelectorAll("input[name=scope]:checked")].map((box) => box.value);
      const body = { username: $("k-account").value, name: $("k-name").value.trim(), scopes };
      call("POST", "/api/v1/api-keys", body, null, (key) => {
        showSecret(t("console_key_created", { key: key.key }));
        keyForm.reset();
        return key;
      });
    });
  }
  document.querySelectorAll("button.key-remove").forEach((button) => {
    button.addEventListener("click", () => {
      if (!window.confirm(button.textContent.trim() + "?")) return;
      call("DELETE", "/api/v1/api-keys/" + encodeURIComponent(button.dataset.id), undefined, t("console_key_removed"));
    });
  });

  // --- approvals -------------------------------------------------------------------------------------------
  document.querySelectorAll("button.vote").forEach((button) => {
    button.addEventListener("click", () => {
      const id = button.closest("[data-id]").dataset.id;
      if (!window.confirm(t("console_confirm_vote", { action: button.textContent.trim(), id }))) return;
      call("POST", "/api/v1/approvals/" + encodeURIComponent(id) + "/" + button.dataset.vote, {},
        (done) => t("console_voted", { id, status: t("approval_" + done.status) }));
    });
  });

  // --- what verification trusts -------------------------------------------------------------------------
  document.querySelectorAll("button.trust-switch").forEach((button) => {
    button.addEventListener("click", () => {
      const name = button.closest("[data-profile]").dataset.profile;
      if (!window.confirm(t("console_confirm_trust", { action: button.textContent.trim(), name }))) return;
      call("PUT", "/api/v1/verify/trust-profiles/" + encodeURIComponent(name),
        { enabled: button.dataset.enabled === "true" }, t("console_trust_changed"));
    });
  });
  document.querySelectorAll("button.anchor-remove").forEach((button) => {
    button.addEventListener("click", () => {
      const fingerprint = button.closest("tr").dataset.fingerprint;
      if (!window.confirm(t("console_confirm_trust", { action: button.textContent.trim(), name: fingerprint }))) return;
      call("DELETE", "/api/v1/verify/trust-anchors/" + encodeURIComponent(fingerprint), undefined,
        t("console_trust_changed"));
    });
  });
  const anchorForm = $("anchor-form");
  if (anchorForm) {
    anchorForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = $("anchor-file").files[0];
      if (!chosen) return;
      const bytes = new Uint8Array(await chosen.arrayBuffer());
      const text = new TextDecoder("latin1").decode(bytes);
      // the API takes PEM: a DER file is wrapped here (base64 of its bytes), a PEM file sent as it is
      const pem = text.includes("-----BEGIN CERTIFICATE-----") ? text
        : "-----BEGIN CERTIFICATE-----\n" + btoa(String.fromCharCode(...bytes)).replace(/(.{64})/g, "$1\n")
          + "\n-----END CERTIFICATE-----\n";
      call("POST", "/api/v1/verify/trust-anchors", { label: $("anchor-label").value.trim(), certificate_pem: pem },
        t("console_trust_changed"));
    });
  }

  // --- venues and desks --------------------------------------------------------------------------------
  const venueForm = $("venue-form");
  if (venueForm) {
    venueForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const code = $("v-code").value.trim();
      const body = { code, name: $("v-name").value.trim(),
        desks: $("v-desks").value.split(",").map((d) => d.trim()).filter((d) => d) };
      if ($("v-address").value.trim()) body.address = $("v-address").value.trim();
      if ($("v-retention").value) body.retention_days = Number($("v-retention").value);
      call("POST", "/api/v1/venues", body, t("console_venue_added", { code }));
    });
  }
  document.querySelectorAll("form.retention-form").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const code = form.closest("tr").dataset.venue;
      const days = form.querySelector(".retention").value;
      call("PATCH", "/api/v1/venues/" + encodeURIComponent(code), { retention_days: days ? Number(days) : null },
        t("console_venue_saved", { code }));
    });
  });

  // --- the audit chain -----------------------------------------------------------------------------------
  const verify = $("verify-chain");
  if (verify) {
    verify.addEventListener("click", async () => {
      const result = $("chain-result");
      verify.disabled = true;
      result.hidden = false;
      result.className = "banner indeterminate";
      result.textContent = t("console_verifying");
      try {
        const response = await api("GET", "/api/v1/audit/verify");
        if (!response.ok) {
          result.className = "banner failed";
          result.textContent = t("error_prefix_console") + (await problem(response));
          return;
        }
        const report = await response.json();
        result.className = "banner " + (report.ok ? "passed" : "failed");
        result.textContent = report.ok
          ? t("console_chain_ok", { entries: report.entries, seals: report.seals_verified })
          : t("console_chain_broken", { problem: (report.first_bad_seq ? "#" + report.first_bad_seq + ": " : "") + (report.problem || "") });
      } catch (e) {
        result.className = "banner failed";
        result.textContent = t("network_error_console");
      } finally {
        verify.disabled = false;
      }
    });
  }
})();
