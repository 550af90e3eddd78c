// The evacuation roll call on a phone. Who is inside comes from /desk/guests (the same answer the desk page
// fetches and keeps in localStorage): online it is fetched again, offline the last copy is used and says
// how old it is. Marks are applied at once, kept in a queue and sent in order when the network is back.
// The CSV is the server's (its export is audited) or, offline, made here from what the page shows.
"use strict";
(function () {
  const root = document.getElementById("rollcall");
  if (!root) return;
  const { t, api, problem } = window.Kyso;
  const venue = root.dataset.venue;
  const $ = (id) => document.getElementById(id);
  const DATA_KEY = "kyso-desk-guests-" + venue, QUEUE_KEY = "kyso-rollcall-queue-" + venue;
  const CACHE = "kyso-rollcall-v1";
  let people = [];

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/desk/rollcall-sw.js", { scope: "/desk/" }).catch(() => {});
  }
  if (window.caches && navigator.onLine) {
    caches.open(CACHE).then((cache) => cache.addAll([
      location.pathname + location.search, "/static/common.js", "/static/rollcall.js", "/static/kyso.css",
    ])).catch(() => {});
  }

  const queue = () => JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
  const saveQueue = (items) => localStorage.setItem(QUEUE_KEY, JSON.stringify(items));
  const clock = (iso) => (iso ? iso.slice(11, 16) + " " + iso.slice(8, 10) + "/" + iso.slice(5, 7) : "");

  function showNet(message) {
    const online = navigator.onLine, waiting = queue().length;
    let text = t(online ? "online" : "offline");
    if (waiting) text += " · " + t("rollcall_pending", { n: waiting });
    if (message) text += " · " + message;
    $("net").className = "net " + (online ? "online" : "offline");
    $("net").textContent = text;
  }

  function kept() {
    try {
      return JSON.parse(localStorage.getItem(DATA_KEY) || "null");
    } catch (e) {
      return null;
    }
  }

  async function load() {
    try {
      const response = await api("GET", "/desk/guests?venue=" + encodeURIComponent(venue));
      if (response.ok) {
        const data = await response.json();
        localStorage.setItem(DATA_KEY, JSON.stringify({ synced_at: new Date().toISOString(), data }));
      }
    } catch (e) {
      // offline: the last copy
    }
    const copy = kept();
    const call = copy && copy.data && copy.data.rollcall;
    if (!call) {
      people = [];
      $("synced").textContent = t("rollcall_no_data");
      render();
      return;
    }
    $("synced").textContent = t("rollcall_synced", { at: clock(call.at) });
    people = call.people.map((p) => Object.assign({}, p));
    for (const item of queue()) apply(item); // marks not sent yet
    render();
  }

  function apply(item) {
    const person = people.find((p) => p.checkin_id === item.checkin_id);
    if (person) Object.assign(person, { mark: item.status, marked_at: item.seen_at });
  }

  function render() {
    const list = $("people");
    list.replaceChildren();
    const counts = { safe: 0, missing: 0, unmarked: 0, inside: 0 };
    for (const person of people) {
      counts[person.mark || "unmarked"] += 1;
      counts.inside += 1 + person.companions.length;
      const item = document.createElement("li");
      item.className = "person mark-" + (person.mark || "unmarked");
      item.dataset.checkin = String(person.checkin_id);
      const name = document.createElement("p");
      name.className = "person-name";
      name.textContent = person.guest;
      const facts = document.createElement("p");
      facts.className = "muted small";
      const bits = [t("col_arrived") + " " + clock(person.admitted_at) + " (" + person.desk + ")",
        t("host") + ": " + person.host + (person.host_contact ? " · " + person.host_contact : "")];
      if (person.companions.length) bits.push(t("companions") + ": " + person.companions.join(", "));
      facts.textContent = bits.join(" · ");
      const buttons = document.createElement("p");
      buttons.className = "row marks";
      for (const status of ["safe", "missing"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "mark " + status;
        button.textContent = t("mark_" + status);
        button.setAttribute("aria-pressed", String(person.mark === status));
        button.addEventListener("click", () => mark(person.checkin_id, status));
        buttons.append(button);
      }
      const state = document.createElement("span");
      state.className = "mark-state";
      state.textContent = t("mark_" + (person.mark || "unmarked"));
      buttons.append(state);
      item.append(name, facts, buttons);
      list.append(item);
    }
    if (!people.length && kept()) {
      const none = document.createElement("li");
      none.textContent = t("rollcall_none");
      list.append(none);
    }
    $("counts").textContent = t("rollcall_counts", {
      inside: counts.inside, safe: counts.safe, missing: counts.missing, unmarked: counts.unmarked,
    });
    showNet();
  }

  function mark(checkinId, status) {
    const item = { checkin_id: checkinId, status, seen_at: new Date().toISOString() };
    saveQueue([...queue(), item]);
    apply(item);
    render();
    send();
  }

  let sending = false;
  async function send() {
    if (sending || !navigator.onLine || !queue().length) return;
    sending = true;
    let message = "";
    try {
      while (queue().length) {
        const [item, ...rest] = queue();
        const response = await api("POST", "/api/v1/checkins/rollcall", { json: Object.assign({ venue }, item) });
        if (!response.ok) message = t("error_prefix") + (await problem(response)); // refused: not retried
        saveQueue(rest);
      }
    } catch (e) {
      // offline again: the rest waits
    } finally {
      sending = false;
      showNet(message);
    }
  }

  function download(name, blob) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  function localCsv() {
    const cell = (value) => {
      let text = value === null || value === undefined ? "" : String(value);
      if (/^[=+\-@\t\r]/.test(text)) text = "'" + text; // never a formula in a spreadsheet
      return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
    };
    const columns = ["guest", "companions", "host", "host_contact", "guest_phone", "desk", "admitted_at", "mark",
      "marked_at", "marked_by", "checkin_id", "invitation_id"];
    const rows = people.map((p) => columns.map((c) => cell(
      c === "companions" ? p.companions.join("; ") : c === "mark" ? p.mark || "unmarked" : p[c])).join(","));
    return "\ufeff" + [columns.join(","), ...rows].join("\r\n") + "\r\n";
  }

  $("export").addEventListener("click", async () => {
    const name = "diem-danh-" + venue + ".csv";
    try {
      await send();
      const response = await api("GET", "/api/v1/checkins/rollcall.csv?venue=" + encodeURIComponent(venue));
      if (response.ok) return download(name, await response.blob());
    } catch (e) {
      // offline: made here from what the page shows
    }
    download(name, new Blob([localCsv()], { type: "text/csv;charset=utf-8" }));
  });
  $("reload").addEventListener("click", load);
  window.addEventListener("online", () => { send(); load(); });
  window.addEventListener("offline", () => showNet());

  load().then(send);
})();
