// The live board: queues with their callers in order, alerts, callbacks, staff.
"use strict";
(function () {
  const { el, ticking, connect } = window.live;
  const canAck = document.getElementById("board").dataset.canAck === "1";

  function percent(value) {
    return value === null ? "—" : `${Math.round(value * 100)} %`;
  }

  // "paused (lunch)": a pause shows its reason when it has one.
  function agentState(a) {
    const state = a.state.replace("_", " ");
    return a.state === "paused" && a.pause_reason
      ? `${state} (${a.pause_reason.replaceAll("_", " ")})`
      : state;
  }

  // "14:05" in the practice's time zone (the board's `zone`); the time as sent without one.
  function clock(iso, zone) {
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone || undefined };
    try {
      return new Date(iso).toLocaleTimeString([], options);
    } catch (error) {
      return iso.slice(11, 16);
    }
  }

  // A staff phone dialled 911 (Kari's Law): said plainly, with who and when. A masked
  // number is no desk phone's (a caller's transferred call, say).
  function emergencyText(alert, zone) {
    const ext = alert.extension;
    const who = alert.staff_name ? ` (${alert.staff_name})` : "";
    let where = "an unknown extension";
    if (ext) where = /^\d+$/.test(ext) ? `extension ${ext}${who}` : `${ext} (not a desk phone)`;
    return `911 called from ${where} at ${clock(alert.raised_at, zone)}`;
  }

  function alertItem(alert, zone) {
    const kind = alert.kind === "emergency_call" ? "alert emergency" : "alert";
    const item = el("li", null, alert.acknowledged_by ? `${kind} acknowledged` : kind);
    item.dataset.alert = String(alert.id);
    let what;
    if (alert.kind === "emergency_call") {
      what = emergencyText(alert, zone);
    } else if (alert.kind === "escalation") {
      what = `Escalation: a caller waited ${window.live.duration(alert.waited_s)} in ${alert.queue}`;
    } else if (alert.kind === "voicemail") {
      const due = alert.due ? `; call back by ${alert.due.slice(0, 16).replace("T", " ")}` : "";
      what = `Voicemail in box ${alert.box || "?"} (${alert.category || "no reason given"})${due}`;
    } else {
      what = `Callback task: ${alert.category || "a caller"} could not be reached; call them back`;
    }
    item.append(el("span", what, "what"));
    if (alert.kind === "escalation") {
      item.append(el("span", ` (${alert.call_state})`, "call-state"));
    }
    if (alert.claimed_by && !alert.acknowledged_by) {
      item.append(el("span", ` — claimed by ${alert.claimed_by}`, "claim"));
    }
    if (alert.acknowledged_by) {
      const outcome = alert.outcome ? ` (${alert.outcome.replace(/_/g, " ")})` : "";
      item.append(el("span", ` — acknowledged by ${alert.acknowledged_by}${outcome}`, "ack"));
    } else if (canAck) {
      const button = el("button", "Acknowledge");
      button.type = "button";
      button.addEventListener("click", function () {
        button.disabled = true;
        window.frontdesk.post(`/api/alerts/${alert.id}/ack`, {}).then(function (response) {
          if (!response.ok) button.disabled = false;
        });
      });
      item.append(" ", button);
    }
    return item;
  }

  function queueCard(queue) {
    const card = el("article", null, "card queue");
    card.dataset.queue = queue.name;
    const title = el("h3", queue.label);
    title.append(" ", el("span", queue.open ? "open" : "closed", queue.open ? "badge open" : "badge closed"));
    if (queue.open && queue.staffed === 0) {
      const unstaffed = el("span", "unstaffed", "badge unstaffed");
      unstaffed.title = "Nobody is logged in with a reachable phone: new callers go to after hours";
      title.append(" ", unstaffed);
    }
    card.append(title);
    const facts = el("p", null, "facts");
    facts.append(
      el("span", `${queue.callers.length} waiting`, "waiting-count"), " · longest ",
      ticking(el("span", null, "longest"), queue.longest_wait_s),
      ` · service level today ${percent(queue.service_level_today)}`,
      ` · ${queue.available}/${queue.logged_in} staff free`
    );
    card.append(facts);
    if (queue.callers.length) {
      const table = el("table", null, "callers");
      const head = el("tr");
      for (const h of ["#", "Number", "Priority", "Reason", "Waiting", "Status"]) head.append(el("th", h));
      const thead = el("thead");
      thead.append(head);
      table.append(thead);
      const body = el("tbody");
      for (const caller of queue.callers) {
        const row = el("tr", null, caller.escalated ? "escalated" : "");
        row.dataset.call = caller.call;
        row.append(
          el("td", caller.position),
          el("td", caller.number || "withheld", "masked"),
          el("td", caller.priority),
          el("td", caller.category),
          ticking(el("td", null, "wait"), caller.waited_s),
          el("td", caller.agent ? `${caller.status} → ${caller.agent}` : caller.status)
        );
        body.append(row);
      }
      table.append(body);
      card.append(table);
    }
    return card;
  }

  // Admission control shed new calls to the front desk's fallback: say why phones ring.
  function overload(state) {
    const banner = document.getElementById("overload");
    banner.hidden = !state;
    if (state) {
      const reason = state.reason.replaceAll("_", " ");
      banner.textContent = `Overloaded: ${state.shed_last_minute} new calls in the last minute ` +
        `went straight to the front desk phones (${reason}).`;
    }
  }

  function render(board) {
    overload(board.overload);
    const alerts = document.getElementById("alerts");
    alerts.replaceChildren(...board.alerts.map((alert) => alertItem(alert, board.zone)));
    document.getElementById("no-alerts").hidden = board.alerts.length > 0;
    document.getElementById("queues").replaceChildren(...board.queues.map(queueCard));
    const callbacks = document.getElementById("callbacks");
    callbacks.hidden = board.callbacks.length === 0;
    document.getElementById("no-callbacks").hidden = board.callbacks.length > 0;
    callbacks.tBodies[0].replaceChildren(
      ...board.callbacks.map(function (c) {
        const row = el("tr");
        row.dataset.call = c.call;
        row.append(
          el("td", c.queue || ""), el("td", c.number || "—", "masked"), el("td", c.category),
          el("td", c.status), el("td", c.callback_attempts), ticking(el("td"), c.waited_s)
        );
        return row;
      })
    );
    document.querySelector("#agents tbody").replaceChildren(
      ...board.agents.map(function (a) {
        const row = el("tr", null, `agent ${a.state}`);
        row.dataset.ext = a.ext;
        row.append(
          el("td", a.name), el("td", a.ext), el("td", agentState(a), "state"),
          a.in_state_s === null ? el("td", "—") : ticking(el("td"), a.in_state_s),
          el("td", a.queues.join(", "))
        );
        if (a.state === "unreachable") {  // logged in, phone not registered: never rung
          row.cells[2].replaceChildren(el("span", "phone unreachable", "badge unreachable"));
        }
        return row;
      })
    );
  }

  const page = document.getElementById("board");
  const picker = document.getElementById("site");
  if (picker) {
    picker.addEventListener("change", function () {
      picker.form.submit();
    });
  }
  connect(render, page.dataset.site);
})();
