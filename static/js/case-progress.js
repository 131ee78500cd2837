// The case page while a revocation can change: poll the case's steps and redraw the state, the steps and the
// timeline without a reload; once the run is over, reload once so every block (the Okta user read back, the
// failure banner, the decision) tells the same story. Vendor text is set with textContent only, never as HTML.
(function () {
  "use strict";
  var INTERVAL_MS = 1500;
  var TICKET_POLLS = 5; // the ticket is filed just after the last Okta step: wait for it a little

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
        if (step.status === "failed" && i === all.length - 1) return;
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
    if (!list) return;
    var items = document.createDocumentFragment();
    events.forEach(function (event) {
      var item = document.createElement("li");
      var time = document.createElement("time");
      time.dateTime = event.at;
      time.textContent = event.when;
      var code = document.createElement("code");
      code.textContent = event.action;
      item.append(time, " ", code, " by " + event.actor + (event.reason ? ": “" + event.reason + "”" : ""));
      items.appendChild(item);
    });
    list.replaceChildren(items);
  }

  function drawState(data) {
    var state = document.getElementById("case-state");
    var badge = document.createElement("span");
    badge.className = "state state-" + data.state;
    var icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = data.state_icon;
    badge.append(icon, " " + data.state_display);
    state.replaceChildren(badge);
    if (data.state !== "approved" && data.state !== "scheduled") {
      document.querySelectorAll("[data-until-started]").forEach(function (element) {
        element.hidden = true;
      });
    }
  }

  function start(section) {
    var url = section.dataset.progressUrl;
    var tbody = document.getElementById("steps");
    var status = document.getElementById("progress-status");
    var waitedForTicket = 0;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          drawSteps(tbody, data.steps);
          drawState(data);
          drawTimeline(data.events);
          if (data.live) {
            window.setTimeout(poll, INTERVAL_MS);
            return;
          }
          status.textContent = "Finished: " + data.state_display + ".";
          if (data.jira_key === "" && data.steps.length && waitedForTicket < TICKET_POLLS) {
            waitedForTicket += 1;
            window.setTimeout(poll, INTERVAL_MS);
          } else {
            window.location.reload();
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
