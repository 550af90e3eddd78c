// The security desk. A handheld scanner types the pass and Enter into #scan; the decision fills the
// screen with a sound. Camera frames are decoded by the server (/desk/decode) and checked in the same way.
// Offline: scans are kept in localStorage and sent, in order, when the network is back (the decision is
// then the server's, shown in the log; the guard checks papers meanwhile).
"use strict";
(function () {
  const root = document.getElementById("desk");
  if (!root) return;
  const { t, api, problem } = window.Kyso;
  const venue = root.dataset.venue;
  const $ = (id) => document.getElementById(id);
  const scan = $("scan"), deskSelect = $("desk-code"), result = $("result"), net = $("net");
  const QUEUE_KEY = "kyso-desk-queue-" + venue;
  const sounds = { admit: new Audio("/static/admit.wav"), deny: new Audio("/static/deny.wav") };
  let lastCheckin = null, hideTimer = null;

  const remembered = localStorage.getItem("kyso-desk-" + venue);
  if (remembered && [...deskSelect.options].some((o) => o.value === remembered)) deskSelect.value = remembered;
  deskSelect.addEventListener("change", () => localStorage.setItem("kyso-desk-" + venue, deskSelect.value));
  const mode = () => document.querySelector("input[name=mode]:checked").value;

  function play(name) {
    const sound = sounds[name];
    sound.currentTime = 0;
    sound.play().catch(() => {}); // a page not yet touched may not play sound; the colour still shows
  }

  function fact(list, label, value) {
    if (Array.isArray(value)) value = value.join(", ");
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = String(value);
    list.append(dt, dd);
  }

  function line(id, text) {
    const element = $(id);
    element.textContent = text || "";
    element.hidden = !text;
  }

  function showResult(kind, word, guest, facts, reason, checkinId, extra) {
    const more = extra || {};
    line("result-used", more.used);
    line("result-next", more.next);
    line("result-entries", more.entries);
    result.className = "result " + kind;
    $("result-word").textContent = word;
    $("result-guest").textContent = guest || "";
    const list = $("result-facts");
    list.replaceChildren();
    for (const [label, value] of facts) fact(list, label, value);
    $("result-reason").textContent = reason || "";
    lastCheckin = checkinId || null;
    $("result-checkout").hidden = !lastCheckin;
    result.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hideResult, 8000);
  }

  function hideResult() {
    result.hidden = true;
  }

  const clock = (iso) => iso.slice(11, 16) + " " + iso.slice(8, 10) + "/" + iso.slice(5, 7);

  // An admit says MỜI VÀO and who; nothing on it reads like a refusal: the entries still left today are a
  // small line, and only when there are some (none left after this one is not news to the guard).
  function showDecision(decision) {
    const admitted = decision.decision === "admit";
    const english = document.documentElement.lang === "en";
    const reason = admitted ? "" : (english ? decision.reason_en : decision.reason);
    const approved = (decision.notes || []).includes("held, then admitted by an approver") ? t("hold_approved") : "";
    const card = [{ match: t("card_match"), not_compared: t("card_not_compared") }[decision.card_check], approved]
      .filter(Boolean).join(" · ");
    const used = decision.last_used ? t("last_used", { at: clock(decision.last_used.at), desk: decision.last_used.desk }) : "";
    const next = admitted ? "" : t("next_action") + ": " + (english ? decision.next_action_en : decision.next_action);
    const entries = admitted && decision.entries_left > 0 ? t("entries_more", { n: decision.entries_left }) : "";
    // a block-list hold is neither an admit nor a refusal: the guest waits at the desk for the approver
    const held = decision.reason_code === "held";
    const kind = admitted ? "admit" : held ? "held" : "deny";
    showResult(kind, t(admitted ? "admit" : held ? "held_word" : "deny"), decision.guest, [
      [t("host"), decision.host], [t("host_contact"), decision.host_contact], [t("meeting"), decision.meeting],
      [t("companions"), decision.companions || null], // a list of names, or a count (0: none)
    ], admitted ? card : reason, admitted ? decision.checkin_id : null, { used, next, entries });
    play(admitted ? "admit" : "deny");
  }


  // --- the offline queue ---------------------------------------------------------------------------
  const queue = () => JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
  const saveQueue = (items) => localStorage.setItem(QUEUE_KEY, JSON.stringify(items));

  function showNet(message) {
    const online = navigator.onLine;
    const waiting = queue().length;
    net.className = "net " + (online ? "online" : "offline");
    let text = t(online ? "online" : "offline");
    if (waiting) text += " · " + t("pending", { n: waiting });
    if (message) text += " · " + message;
    net.textContent = text;
  }

  function enqueue(item) {
    const items = queue();
    items.push(Object.assign({ at: new Date().toISOString() }, item));
    saveQueue(items);
    showResult("queued", t("queued"), "", [], t("queued_text"), null);
    play("deny");
    showNet();
  }

  let replaying = false;
  async function replay() {
    if (replaying || !navigator.onLine || !queue().length) return;
    replaying = true;
    let sent = 0;
    try {
      while (queue().length) {
        const [item, ...rest] = queue();
        const url = item.mode === "checkout" ? "/api/v1/checkins/checkout" : "/api/v1/checkins";
        const body = { payload: item.payload, desk: item.desk };
        if (item.card_qr) body.card_qr = item.card_qr;
        await api("POST", url, { json: body }); // throws when offline
        saveQueue(rest);
        sent += 1;
      }
    } catch (e) {
      // still offline: the rest waits for the next attempt
    } finally {
      replaying = false;
      showNet(sent ? t("replayed", { n: sent }) : "");
      if (sent) loadGuests();
    }
  }
  window.addEventListener("online", () => { showNet(); replay(); });
  window.addEventListener("offline", () => showNet());
  setInterval(replay, 15000);

  // --- scanning ------------------------------------------------------------------------------------
  async function submit(payload, cardQr) {
    const desk = deskSelect.value;
    const item = { payload, desk, mode: mode() };
    if (cardQr) item.card_qr = cardQr;
    if (!navigator.onLine) return enqueue(item);
    const url = item.mode === "checkout" ? "/api/v1/checkins/checkout" : "/api/v1/checkins";
    const body = { payload, desk };
    if (cardQr) body.card_qr = cardQr;
    let response;
    try {
      response = await api("POST", url, { json: body });
    } catch (e) {
      return enqueue(item);
    }
    if (!response.ok) {
      showResult("deny", t("deny"), "", [], t("error_prefix") + (await problem(response)), null);
      play("deny");
    } else if (item.mode === "checkout") {
      const done = await response.json();
      showResult("checkout", t("checked_out"), done.guest, [], "", null);
    } else {
      showDecision(await response.json());
    }
    loadGuests();
  }

  // The CCCD step: with "#card-step" ticked, a pass scanned for check-in waits for a second scan, the QR on
  // the back of the guest's chip CCCD card; both go to the server together (the card is compared there).
  let pendingPass = null;
  const cardStep = $("card-step"), cardPrompt = $("card-prompt");
  const isPass = (text) => text.startsWith("KY1:") || text.startsWith("KR1:");

  function askForCard(payload) {
    pendingPass = payload;
    $("card-prompt-text").textContent = t("card_prompt");
    cardPrompt.hidden = false;
    hideResult();
  }

  function clearCard() {
    pendingPass = null;
    cardPrompt.hidden = true;
  }

  function accept(text) {
    if (pendingPass && !isPass(text)) {
      const pass = pendingPass;
      clearCard();
      return submit(pass, text);
    }
    if (cardStep.checked && mode() === "checkin" && isPass(text)) return askForCard(text);
    clearCard();
    return submit(text);
  }

  $("card-skip").addEventListener("click", () => {
    const pass = pendingPass;
    clearCard();
    if (pass) submit(pass);
    scan.focus();
  });
  cardStep.addEventListener("change", () => { clearCard(); scan.focus(); });

  $("scan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const payload = scan.value.trim();
    scan.value = "";
    scan.focus();
    if (payload) accept(payload);
  });
  scan.addEventListener("input", () => { if (!result.hidden) hideResult(); });
  result.addEventListener("click", (event) => { if (event.target.id !== "result-checkout") { hideResult(); scan.focus(); } });
  // a scanner types into whatever has focus: come back to the input after a click elsewhere
  document.addEventListener("click", (event) => {
    if (!event.target.closest("input, select, button, a, label, video")) scan.focus();
  });

  $("result-checkout").addEventListener("click", async () => {
    if (!lastCheckin) return;
    try {
      const response = await api("POST", "/api/v1/checkins/checkout", { json: { desk: deskSelect.value, checkin_id: lastCheckin } });
      if (response.ok) {
        const done = await response.json();
        showResult("checkout", t("checked_out"), done.guest, [], "", null);
      } else {
        showResult("deny", t("deny"), "", [], t("error_prefix") + (await problem(response)), null);
      }
    } catch (e) {
      showResult("deny", t("deny"), "", [], t("network_error"), null);
    }
    loadGuests();
    scan.focus();
  });

  // --- walk-up guests: registered here, held for the host's approval; "Kiểm tra lại" scans their pass ---
  const walkupForm = $("walkup-form");
  walkupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = walkupForm.elements;
    const body = { desk: deskSelect.value, guest_name: f.guest_name.value.trim(), host: f.host.value.trim() };
    if (f.cccd.value.trim()) body.cccd = f.cccd.value.trim();
    if (f.meeting_title.value.trim()) body.meeting_title = f.meeting_title.value.trim();
    let response;
    try {
      response = await api("POST", "/api/v1/checkins/walk-ups", { json: body });
    } catch (e) {
      return showResult("deny", t("deny"), "", [], t("network_error"), null);
    }
    if (!response.ok) {
      return showResult("deny", t("deny"), "", [], t("error_prefix") + (await problem(response)), null);
    }
    const made = await response.json();
    walkupForm.reset();
    const item = document.createElement("li");
    item.className = "person walkup-guest";
    const name = document.createElement("p");
    name.className = "person-name";
    name.textContent = made.invitation.guest_name;
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent = t("walkup_waiting") + " · " + made.invitation.host_name;
    const again = document.createElement("button");
    again.type = "button";
    again.className = "walkup-check";
    again.textContent = t("walkup_check");
    again.addEventListener("click", () => submit(made.invitation.payload));
    item.append(name, note, again);
    $("walkup-list").prepend(item);
    submit(made.invitation.payload); // the same decision as any pass: held until the host decides
  });

  // --- today's list --------------------------------------------------------------------------------
  async function loadGuests() {
    let data;
    try {
      const response = await api("GET", "/desk/guests?venue=" + encodeURIComponent(venue));
      if (!response.ok) return;
      data = await response.json();
    } catch (e) {
      return;
    }
    // the roll call (/desk/rollcall) works offline from this copy
    localStorage.setItem("kyso-desk-guests-" + venue, JSON.stringify({ synced_at: new Date().toISOString(), data }));
    const c = data.counts;
    $("counts").textContent = t("count_expected") + ": " + c.expected + " · " + t("count_arrived") + ": " +
      c.arrived_total + " · " + t("count_noshow") + ": " + c["no-show"];
    const body = $("guest-rows");
    body.replaceChildren();
    if (!data.guests.length) {
      const row = body.insertRow(), cell = row.insertCell();
      cell.colSpan = 6;
      cell.textContent = t("no_guests");
    }
    for (const guest of data.guests) {
      const row = body.insertRow();
      row.className = "status-" + guest.status;
      const hhmm = (iso) => (iso ? iso.slice(11, 16) : "–");
      const cells = [hhmm(guest.starts_at), hhmm(guest.admitted_at), hhmm(guest.checked_out_at), guest.guest,
        guest.host, t("status_" + guest.status)];
      for (const text of cells) {
        row.insertCell().textContent = text;
      }
    }
  }
  $("refresh").addEventListener("click", loadGuests);

  // --- camera mode ---------------------------------------------------------------------------------
  const video = $("camera-video"), cameraBox = $("camera"), cameraButton = $("camera-toggle");
  let stream = null, timer = null, busy = false, lastText = "", lastAt = 0;
  const canvas = document.createElement("canvas");

  async function frame() {
    if (busy || !stream || video.readyState < 2) return;
    busy = true;
    try {
      const scale = Math.min(1, 960 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
      const response = await api("POST", "/desk/decode", { body: blob, headers: { "Content-Type": "image/jpeg" } });
      if (!response.ok) return;
      const { texts } = await response.json();
      const now = Date.now();
      if (texts.length && !(texts[0] === lastText && now - lastAt < 10000)) {
        lastText = texts[0];
        lastAt = now;
        await accept(texts[0]);
      }
    } catch (e) {
      // a dropped frame: the next one is 600 ms away
    } finally {
      busy = false;
    }
  }

  async function startCamera() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) {
      $("camera-status").textContent = t("camera_unavailable");
      cameraBox.hidden = false;
      return;
    }
    video.srcObject = stream;
    await video.play().catch(() => {});
    cameraBox.hidden = false;
    $("camera-status").textContent = t("camera_looking");
    cameraButton.textContent = t("camera_stop");
    timer = setInterval(frame, 600);
  }

  function stopCamera() {
    clearInterval(timer);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    cameraBox.hidden = true;
    cameraButton.textContent = t("camera_start");
  }

  cameraButton.addEventListener("click", () => (stream ? stopCamera() : startCamera()));

  // the roll call (/desk/rollcall) opens without a network from what this page kept: its data (loadGuests)
  // and the page itself, answered by the service worker when offline
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/desk/rollcall-sw.js", { scope: "/desk/" }).catch(() => {});
  }
  if (window.caches && navigator.onLine) {
    caches.open("kyso-rollcall-v1").then((cache) => cache.addAll([
      $("rollcall-link").getAttribute("href"), "/static/common.js", "/static/rollcall.js", "/static/kyso.css",
    ])).catch(() => {});
  }

  showNet();
  loadGuests();
  replay();
  scan.focus();
})();
