// The figures page's only script: the custom dates appear only with "Tùy chọn", and a click on a
// table's column heading sorts its rows (again: the other way). Without it the page still works.
"use strict";
(function () {
  const period = document.getElementById("period");
  const dates = document.querySelector(".custom-dates");
  if (period && dates) {
    const show = () => { dates.hidden = period.value !== "custom"; };
    period.addEventListener("change", show);
    show();
  }

  function sortBy(table, column, heading) {
    const descending = heading.getAttribute("aria-sort") !== "descending";
    const body = table.tBodies[0];
    // A figure that does not exist yet ("–", an empty data-value) goes last either way.
    const value = (row) => {
      const cell = row.cells[column];
      if (column === 0) return cell.textContent.trim();
      return cell.dataset.value === "" ? null : Number(cell.dataset.value);
    };
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = value(a), y = value(b);
      if (x === null || y === null) return (x === null) - (y === null);
      const order = column === 0 ? x.localeCompare(y, "vi") : x - y;
      return descending ? -order : order;
    });
    rows.forEach((row) => body.appendChild(row));
    table.querySelectorAll("thead th").forEach((th) => th.removeAttribute("aria-sort"));
    heading.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead th").forEach((heading, column) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = heading.textContent;
      button.title = "Sắp xếp theo cột này";
      heading.textContent = "";
      heading.appendChild(button);
      button.addEventListener("click", () => sortBy(table, column, heading));
    });
  });
})();
