// The case page while a revocation runs: poll the case's steps and redraw them, without a reload.
// Vendor text is set with textContent only, never as HTML.
(function () {
  "use strict";
  var INTERVAL_MS = 1500;

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function drawSteps(tbody, steps) {
    var rows = document.createDocumentFragment();
    steps.forEach(function (step) {
      var row = document.createElement("tr");
      row.dataset.status = step.status;
      cell(row, step.label);
      cell(row, step.target);
      var status = cell(row, "");
      var badge = document.createElement("span");
      badge.className = "status status-" + step.status;
      badge.textContent = step.status;
      status.appendChild(badge);
      cell(row, String(step.attempts));
      cell(row, step.vendor);
      rows.appendChild(row);
    });
    if (!steps.length) {
      var empty = document.createElement("tr");
      cell(empty, "Nothing done yet.").colSpan = 5;
      rows.appendChild(empty);
    }
    tbody.replaceChildren(rows);
  }

  function drawResult(data) {
    var state = document.getElementById("case-state");
    state.textContent = data.state_display;
    state.className = "state state-" + data.state;
    if (data.state !== "approved" && data.state !== "scheduled") {
      document.querySelectorAll("[data-until-started]").forEach(function (element) {
        element.hidden = true;
      });
    }
    if (data.live) return;
    document.getElementById("result-state").textContent = data.state_display;
    document.getElementById("result-time").textContent = data.time_to_revoke || "—";
    var jira = document.getElementById("result-jira");
    if (data.jira_url) {
      var link = document.createElement("a");
      link.href = data.jira_url;
      link.textContent = data.jira_key;
      jira.replaceChildren(link);
    }
    document.getElementById("result").hidden = false;
  }

  function start(section) {
    var url = section.dataset.progressUrl;
    var tbody = document.getElementById("steps");
    var status = document.getElementById("progress-status");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          drawSteps(tbody, data.steps);
          drawResult(data);
          if (data.live) {
            window.setTimeout(poll, INTERVAL_MS);
          } else {
            status.textContent = "Finished: " + data.state_display + ".";
            if (data.jira_key === "" && data.state === "completed") {
              window.setTimeout(poll, INTERVAL_MS); // the ticket is filed just after the last Okta step
            }
          }
        })
        .catch(function () {
          status.textContent = "Lost contact with the server; retrying…";
          window.setTimeout(poll, INTERVAL_MS * 4);
        });
    }
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-progress-url]");
    if (section) start(section);
  });
})();
