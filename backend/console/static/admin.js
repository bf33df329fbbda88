// The admin section's small helps; every form also works without them.
(function () {
  "use strict";

  // The address span of a message: selected in its text, it fills that message's address field.
  const samples = document.querySelectorAll(".sample[data-address]");
  for (const hint of document.querySelectorAll(".address-hint")) {
    hint.textContent = "Bôi đen đoạn địa chỉ trong câu để điền vào đây.";
  }
  if (samples.length) {
    document.addEventListener("selectionchange", () => {
      const selection = document.getSelection();
      if (!selection || selection.isCollapsed || !selection.rangeCount) return;
      const sample = [...samples].find((s) => s.contains(selection.anchorNode) && s.contains(selection.focusNode));
      const text = selection.toString().trim();
      const field = sample && document.getElementById(sample.dataset.address);
      if (field && text) field.value = text;
    });
  }

  // A complaint needs its category: the browser asks for it before sending (the service checks too).
  // "Bỏ qua" skips the check (formnovalidate).
  for (const form of document.querySelectorAll("form.label-form, #bulk")) {
    const intent = form.querySelector("select[name=intent]");
    const category = form.querySelector("select[name=category]");
    if (!intent || !category) continue;
    const needs = () => { category.required = intent.value === "report_issue"; };
    intent.addEventListener("change", needs);
    needs();
  }

  // A form the service refused comes back with the reason beside it: bring it into view.
  const refused = document.querySelector(".group-error");
  if (refused) refused.scrollIntoView({ block: "center" });

  // Bulk actions: how many groups are ticked, all of the page at once; while some are, a small
  // button in the screen's corner leads to the form (after the list) from wherever one is.
  const bulk = document.getElementById("bulk");
  if (bulk) {
    const picks = document.querySelectorAll("input.pick[form=bulk]");
    const all = document.getElementById("select-all");
    const count = document.getElementById("bulk-count");
    const buttons = bulk.querySelectorAll("button");
    const jump = document.getElementById("bulk-jump");
    let formInView = false;
    const update = () => {
      const ticked = [...picks].filter((p) => p.checked).length;
      count.textContent = ticked ? `Đã chọn ${ticked} nhóm.` : "Chưa chọn nhóm nào.";
      all.checked = ticked === picks.length;
      jump.hidden = ticked === 0 || formInView;
      jump.textContent = `${ticked} nhóm đã chọn ↓`;
      for (const button of buttons) button.disabled = ticked === 0;
    };
    document.getElementById("select-all-label").hidden = false;
    all.addEventListener("change", () => {
      for (const pick of picks) pick.checked = all.checked;
      update();
    });
    for (const pick of picks) pick.addEventListener("change", update);
    new IntersectionObserver((seen) => {
      formInView = seen[0].isIntersecting;
      update();
    }).observe(bulk);
    update();
  }

  // A form is sent once: a second click while the answer comes would label (or train) twice, and
  // say "already done" instead of what the first one did.
  document.addEventListener("submit", (event) => {
    if (event.target.dataset.sent) event.preventDefault();
    event.target.dataset.sent = "1";
  });
  window.addEventListener("pageshow", () => {
    for (const form of document.forms) delete form.dataset.sent;
  });

  // A training in progress: its stage and share, then the page again with the decision.
  const job = document.getElementById("job");
  if (job && job.dataset.poll) {
    const poll = async () => {
      try {
        const response = await fetch(job.dataset.poll, { credentials: "same-origin", cache: "no-store" });
        const answer = await response.json();
        if (answer.job && answer.job.state === "running") {
          document.getElementById("job-stage").textContent = answer.job.stage;
          document.getElementById("job-percent").textContent = answer.job.percent + "%";
          document.getElementById("job-progress").value = answer.job.percent;
          document.getElementById("job-message").textContent = answer.job.message;
        } else if (answer.job) {
          window.location.reload();
          return;
        }
      } catch (error) {
        // The service or the network hiccuped: the next poll tries again.
      }
      window.setTimeout(poll, 2000);
    };
    window.setTimeout(poll, 2000);
  }
})();
