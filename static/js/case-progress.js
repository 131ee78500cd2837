// The case page while a step of its revocation can change: poll the case's progress and redraw its state, steps,
// result and timeline without a reload. Once the run is over, the page's other blocks (the Okta user read back,
// the failure banner, the decision, the restore) are redrawn from the page as the server now renders it, so every
// block tells the same story. Vendor text from the poll is set with textContent only, never as HTML.
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
      badge.textContent = step.status_display;
      status.appendChild(badge);
      cell(row, String(step.attempts));
      var answer = cell(row, step.vendor);
      (step.failures || []).forEach(function (failure, i, all) {
        if (step.status === "failed" && i === all.length - 1) return; // that one is the answer above
        var earlier = document.createElement("div");
        earlier.className = "hint";
        earlier.textContent = "Earlier failure: " + failure.error;
        answer.appendChild(earlier);
      });
      rows.appendChild(row);
    });
    if (!steps.length) {
      var empty = document.createElement("tr");
      cell(empty, "Nothing done yet.").colSpan = 5;
      rows.appendChild(empty);
    }
    tbody.replaceChildren(rows);
  }

  function drawTimeline(events) {
    var list = document.getElementById("timeline");
    var items = document.createDocumentFragment();
    events.forEach(function (event) {
      var item = document.createElement("li");
      var time = document.createElement("time");
      time.dateTime = event.at;
      time.textContent = event.when;
      var action = document.createElement("span");
      action.className = "action";
      action.title = event.action;
      action.textContent = event.action_label;
      item.append(time, " ", action, " by " + event.actor + (event.reason ? ": “" + event.reason + "”" : ""));
      items.appendChild(item);
    });
    list.replaceChildren(items);
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
    var result = document.getElementById("result");
    if (data.live || !result) return;
    document.getElementById("result-state").textContent = data.state_display;
    document.getElementById("result-time").textContent = data.time_to_revoke || "—";
    var jira = document.getElementById("result-jira");
    if (data.jira_url) {
      var link = document.createElement("a");
      link.href = data.jira_url;
      link.textContent = data.jira_key;
      jira.replaceChildren(link);
    }
    result.hidden = false;
  }

  // The blocks outside the steps, as the server renders the page now (its own escaped HTML).
  function redrawBlocks() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-block]").forEach(function (block) {
          var now = fresh.querySelector('[data-block="' + block.dataset.block + '"]');
          if (now) block.replaceWith(document.importNode(now, true));
        });
      });
  }

  function start(section) {
    var url = section.dataset.progressUrl;
    var tbody = document.getElementById("steps");
    var status = document.getElementById("progress-status");
    var redrawn = false;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          drawSteps(tbody, data.steps);
          drawResult(data);
          drawTimeline(data.events);
          if (data.live) {
            window.setTimeout(poll, INTERVAL_MS);
            return;
          }
          status.textContent = "Finished: " + data.state_display + ".";
          if (!redrawn) {
            redrawn = true;
            redrawBlocks().catch(function () {
              status.textContent = "Finished: " + data.state_display + ". Reload the page to see every detail.";
            });
          }
          if (data.jira_key === "" && data.state === "completed") {
            window.setTimeout(poll, INTERVAL_MS); // the ticket is filed just after the last Okta step
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
