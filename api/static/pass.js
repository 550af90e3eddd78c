// The guest pass: a rotating QR is fetched again every data-refresh seconds (the code changes every 30 s).
"use strict";
(function () {
  const image = document.getElementById("pass-qr");
  if (!image) return;
  const seconds = parseInt(image.dataset.refresh || "0", 10);
  if (!seconds) return;
  const base = image.getAttribute("src").split("?")[0];
  async function refresh() {
    try {
      const response = await fetch(base + "?at=" + Date.now(), { cache: "no-store" });
      if (!response.ok) return;
      const url = URL.createObjectURL(await response.blob());
      const old = image.src;
      image.src = url;
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    } catch (e) {
      // offline: keep showing the last code; the desk will say if it is too old
    }
  }
  setInterval(refresh, seconds * 1000);
})();
