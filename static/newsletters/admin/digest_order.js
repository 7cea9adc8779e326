// Digest form: reorder the entries inline by drag and drop, or by keyboard with the ↑/↓ buttons
// (or arrow keys on the ⠿ handle). Each move rewrites the position inputs 1..n in row order;
// the positions are saved when the form is submitted. Without JavaScript, edit the numbers.
(function () {
  "use strict";

  function rows(tbody) {
    return Array.prototype.filter.call(tbody.children, function (tr) {
      return tr.classList.contains("has_original");
    });
  }

  function renumber(tbody, announce) {
    rows(tbody).forEach(function (tr, index) {
      var input = tr.querySelector(".field-position input");
      if (input) input.value = String(index + 1);
    });
    if (announce) document.getElementById("order-announcer").textContent = announce;
  }

  function titleOf(tr) {
    var link = tr.querySelector(".field-title_link a");
    return link ? link.textContent : "entry";
  }

  function move(tr, delta, focusSelector) {
    var tbody = tr.parentNode;
    var all = rows(tbody);
    var index = all.indexOf(tr);
    var target = index + delta;
    if (target < 0 || target >= all.length) return;
    if (delta < 0) tbody.insertBefore(tr, all[target]);
    else tbody.insertBefore(tr, all[target].nextSibling);
    renumber(tbody, "Moved “" + titleOf(tr) + "” to position " + (target + 1) + " of " + all.length + ".");
    if (focusSelector) tr.querySelector(focusSelector).focus();
  }

  function button(label, text, className) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.title = label;
    return b;
  }

  function setUp(group) {
    var tbody = group.querySelector("tbody");
    if (!tbody) return;
    var announcer = document.createElement("div");
    announcer.id = "order-announcer";
    announcer.className = "sr-only";
    announcer.setAttribute("aria-live", "polite");
    group.appendChild(announcer);
    var dragged = null;

    rows(tbody).forEach(function (tr) {
      var cell = tr.querySelector("td.field-position");
      if (!cell) return;
      var controls = document.createElement("span");
      controls.className = "order-controls";
      var handle = button("Drag to reorder, or use the arrow keys", "⠿", "drag-handle");
      var up = button("Move up", "↑", "move-up");
      var down = button("Move down", "↓", "move-down");
      controls.append(handle, up, down);
      cell.insertBefore(controls, cell.firstChild);

      up.addEventListener("click", function () { move(tr, -1, ".move-up"); });
      down.addEventListener("click", function () { move(tr, 1, ".move-down"); });
      handle.addEventListener("keydown", function (event) {
        if (event.key === "ArrowUp") { event.preventDefault(); move(tr, -1, ".drag-handle"); }
        if (event.key === "ArrowDown") { event.preventDefault(); move(tr, 1, ".drag-handle"); }
      });
      // Only the handle starts a drag, so text in the row's inputs stays selectable.
      handle.addEventListener("mousedown", function () { tr.draggable = true; });
      tr.addEventListener("dragstart", function (event) {
        dragged = tr;
        tr.classList.add("is-dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", titleOf(tr));
      });
      tr.addEventListener("dragend", function () {
        tr.draggable = false;
        tr.classList.remove("is-dragging");
        rows(tbody).forEach(function (row) { row.classList.remove("drop-before", "drop-after"); });
        if (dragged) renumber(tbody, "Moved “" + titleOf(tr) + "”.");
        dragged = null;
      });
      tr.addEventListener("dragover", function (event) {
        if (!dragged || dragged === tr) return;
        event.preventDefault();
        var box = tr.getBoundingClientRect();
        var before = event.clientY < box.top + box.height / 2;
        tr.classList.toggle("drop-before", before);
        tr.classList.toggle("drop-after", !before);
      });
      tr.addEventListener("dragleave", function () { tr.classList.remove("drop-before", "drop-after"); });
      tr.addEventListener("drop", function (event) {
        if (!dragged || dragged === tr) return;
        event.preventDefault();
        var before = tr.classList.contains("drop-before");
        tbody.insertBefore(dragged, before ? tr : tr.nextSibling);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var group = document.getElementById("entries-group");
    if (group) setUp(group);
  });
})();
