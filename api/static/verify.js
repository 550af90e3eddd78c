// The verify page: drop a PDF anywhere on the drop zone; the chosen file's name is shown.
"use strict";
(function () {
  const input = document.getElementById("document");
  const drop = document.getElementById("drop");
  const picked = document.getElementById("picked");
  if (!input || !drop) return;
  const show = () => { picked.textContent = input.files.length ? input.files[0].name : ""; };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });
})();
