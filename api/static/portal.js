// The officials' portal: invitations and signing through the JSON API (session cookie + CSRF header).
"use strict";
(function () {
  const { t, api, problem, flashBanner } = window.Kyso;
  const $ = (id) => document.getElementById(id);
  const say = flashBanner("kyso-flash");

  // --- invitations ---------------------------------------------------------------------------------
  const invite = $("invite-form");
  if (invite) {
    invite.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = invite.elements;
      const at = (time) => f.day.value + "T" + time + ":00+07:00";
      const body = {
        guest_name: f.guest_name.value.trim(), meeting_title: f.meeting_title.value.trim(), venue: f.venue.value,
        starts_at: at(f.start.value), ends_at: at(f.end.value), rotating: f.rotating.checked,
        send_email: f.send_email.checked,
      };
      if (f.guest_email.value.trim()) body.guest_email = f.guest_email.value.trim();
      if (f.guest_title.value) body.guest_title = f.guest_title.value;
      if (f.host_contact.value.trim()) body.host_contact = f.host_contact.value.trim();
      try {
        const response = await api("POST", "/api/v1/invitations", { json: body });
        if (!response.ok) return say(t("error_prefix") + (await problem(response)), "failed");
        sessionStorage.setItem("kyso-flash", t("created", { name: body.guest_name }));
        window.location.reload();
      } catch (e) {
        say(t("network_error"), "failed");
      }
    });
  }

  document.querySelectorAll("button.cancel").forEach((button) => {
    button.addEventListener("click", async () => {
      if (!window.confirm(t("cancel_confirm"))) return;
      try {
        const response = await api("DELETE", "/api/v1/invitations/" + encodeURIComponent(button.dataset.id));
        if (!response.ok) return say(t("error_prefix") + (await problem(response)), "failed");
        sessionStorage.setItem("kyso-flash", t("cancelled_ok"));
        window.location.reload();
      } catch (e) {
        say(t("network_error"), "failed");
      }
    });
  });

  // --- block-list holds: the host (or a clerk) admits or refuses a guest held at the desk ---------------
  document.querySelectorAll("button.hold-decide").forEach((button) => {
    button.addEventListener("click", async () => {
      const url = "/api/v1/checkins/holds/" + encodeURIComponent(button.dataset.invitation);
      try {
        const response = await api("POST", url, { json: { decision: button.dataset.decision } });
        if (!response.ok) return say(t("error_prefix") + (await problem(response)), "failed");
        sessionStorage.setItem("kyso-flash", t("hold_done_" + button.dataset.decision));
        window.location.reload();
      } catch (e) {
        say(t("network_error"), "failed");
      }
    });
  });

  // --- live arrivals: the list is asked again every 10 s; a guest arriving or leaving is announced -------
  const arrivals = $("arrivals");
  const hhmm = (iso) => (iso ? iso.slice(11, 16) : "");
  async function watch() {
    let data;
    try {
      const response = await api("GET", "/api/v1/invitations?limit=50");
      if (!response.ok) return;
      data = await response.json();
    } catch (e) {
      return; // offline: the next poll
    }
    for (const item of data.items) {
      const row = document.querySelector('table.invitations tr[data-id="' + item.id + '"]');
      const arrival = item.arrival;
      if (!row || !arrival || row.dataset.state === arrival.state) continue;
      row.dataset.state = arrival.state;
      const status = row.querySelector("span.status");
      status.textContent = t("state_" + arrival.state);
      status.className = "status state-" + arrival.state + " " + item.status;
      let times = row.querySelector(".arrival-times");
      if (arrival.arrived_at) {
        if (!times) {
          times = document.createElement("span");
          times.className = "muted small arrival-times";
          status.after(document.createElement("br"), times);
        }
        times.textContent = t("col_arrived") + " " + hhmm(arrival.arrived_at) +
          (arrival.left_at ? " · " + t("col_left") + " " + hhmm(arrival.left_at) : "");
      }
      if (arrival.state === "inside" || arrival.state === "left") {
        const notice = document.createElement("li");
        notice.className = "arrival-notice " + arrival.state;
        const at = arrival.state === "inside" ? arrival.arrived_at : arrival.left_at;
        notice.textContent = t(arrival.state === "inside" ? "arrival_notice" : "left_notice",
          { name: item.guest_name, at: hhmm(at) });
        const placeholder = arrivals.querySelector("li.muted");
        if (placeholder) placeholder.remove();
        arrivals.prepend(notice);
      }
    }
  }
  if (arrivals && document.querySelector("table.invitations")) setInterval(watch, 10000);

  // --- signing -------------------------------------------------------------------------------------
  const signForm = $("sign-form");
  if (!signForm) return;
  const file = $("sign-file"), status = $("sign-status"), download = $("sign-download");
  let digest = null;

  const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");

  file.addEventListener("change", async () => {
    digest = null;
    download.hidden = true;
    status.textContent = "";
    const chosen = file.files[0];
    $("sign-review").hidden = !chosen;
    if (!chosen) return;
    $("review-name").textContent = chosen.name;
    $("review-size").textContent = chosen.size.toLocaleString() + " " + t("bytes");
    $("review-hash").textContent = "…";
    digest = hex(await crypto.subtle.digest("SHA-256", await chosen.arrayBuffer()));
    $("review-hash").textContent = digest;
    $("sign-code").focus();
  });

  signForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen || !digest) return;
    const button = $("sign-button");
    button.disabled = true;
    status.textContent = t("signing");
    try {
      const granted = await api("POST", "/api/v1/signing/authorizations", {
        json: { documents: [{ sha256: digest, name: chosen.name.slice(0, 200) }], code: $("sign-code").value.trim() },
      });
      if (!granted.ok) {
        status.textContent = t("error_prefix") + (await problem(granted));
        return;
      }
      const form = new FormData();
      form.append("documents", chosen, chosen.name);
      form.append("authorization_id", (await granted.json()).id);
      const signed = await api("POST", "/api/v1/signing/sign", { body: form });
      if (!signed.ok) {
        status.textContent = t("error_prefix") + (await problem(signed));
        return;
      }
      const disposition = signed.headers.get("Content-Disposition") || "";
      const name = (disposition.match(/filename="([^"]+)"/) || [null, "signed.pdf"])[1];
      if (download.href.startsWith("blob:")) URL.revokeObjectURL(download.href);
      download.href = URL.createObjectURL(await signed.blob());
      download.download = name;
      download.hidden = false;
      status.textContent = t("signed_ok", { id: signed.headers.get("X-Kyso-Document-Id") || "" });
      download.focus();
    } catch (e) {
      status.textContent = t("network_error");
    } finally {
      button.disabled = false;
      $("sign-code").value = "";
    }
  });
})();
