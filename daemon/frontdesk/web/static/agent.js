// The agent page: my state (log in, pause with a reason, resume, log out); the current
// call (screen pop, reason, wait, transfer, notes); the disposition form after it with
// the wrap-up time left; the callback tasks and voicemail messages to return; my calls
// today. Live data comes from /events (live.js); everything is written with textContent.
"use strict";
(function () {
  const { el, duration, ticking, connect } = window.live;
  const main = document.getElementById("agent");
  const ext = main.dataset.ext;
  const username = main.dataset.user;
  const canReturn = main.dataset.canReturn === "1";
  const zone = main.dataset.zone || undefined; // the practice's: times are shown in it
  const RETURNABLE = ["callback_task", "voicemail"];

  let page = null; // GET /api/agent-page/<ext>: queues, staff, externals, reasons, the call
  let popCall = null; // the call whose pop is shown
  let talkedCall = null; // the call I answered last, for the disposition form
  let disposedCall = null;
  let transferredCall = null;
  let callQueue = null; // the queue of the call in hand: its wrap-up time
  let lastState = null;
  let myQueues = [];
  let lastAlerts = [];
  let tasksShown = null; // what the task list shows now (redrawn only when it changes)
  let focusNext = null; // data-key of the control to focus once the list is redrawn
  const chosenOutcome = {}; // alert id -> the outcome picked in its select

  function byId(id) {
    return document.getElementById(id);
  }

  function text(id, value) {
    byId(id).textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function say(id, message, isError) {
    const node = byId(id);
    node.textContent = message;
    node.className = isError ? "error" : "done";
    node.hidden = false;
  }

  function label(name) {
    if (!name) return "—";
    const spaced = String(name).replace(/_/g, " ");
    return spaced.charAt(0).toUpperCase() + spaced.slice(1);
  }

  function option(value, shown) {
    const node = el("option", shown);
    node.value = value;
    return node;
  }

  function json(response) {
    const type = response.headers.get("Content-Type") || "";
    return type.includes("application/json") ? response.json().catch(() => ({})) : Promise.resolve(null);
  }

  // -- my state -------------------------------------------------------------------------
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", function () {
      const error = byId("action-error");
      const action = button.dataset.action;
      const reason = byId("pause-reason").value;
      const body = action === "pause" && reason ? { reason: reason } : {};
      window.frontdesk.post(`/api/agents/${ext}/${action}`, body).then(function (response) {
        error.hidden = response.ok;
        if (!response.ok) error.textContent = `That did not work (${response.status}).`;
      });
    });
  }

  // Which buttons make sense in which state (the server checks again).
  const ALLOWED = {
    login: (state) => state === "logged_out",
    logout: (state) => state !== "logged_out",
    pause: (state) => state !== "logged_out" && state !== "paused",
    unpause: (state) => state === "paused",
  };

  // -- what the page offers: GET /api/agent-page/<ext> ----------------------------------
  function loadPage() {
    return fetch(`/api/agent-page/${ext}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data === null) return;
        if (page === null) setUp(data);
        page = data;
        showCall(data.call);
        if (canReturn) drawTasks(lastAlerts);
      });
  }

  function setUp(data) {
    const reasons = byId("pause-reason");
    for (const reason of data.pause_reasons) reasons.append(option(reason, label(reason)));
    if (data.pause_reasons.length) reasons.value = data.pause_reasons[0];

    const queues = byId("transfer-queue");
    for (const queue of data.queues) {
      queues.append(option(queue.name, queue.feature ? `${queue.label} (${queue.feature})` : queue.label));
    }
    queues.addEventListener("change", skillsFor);
    skillsFor();
    const categories = byId("transfer-category");
    for (const category of data.categories) categories.append(option(category, label(category)));
    const colleagues = byId("transfer-agent");
    for (const person of data.staff) colleagues.append(option(person.ext, `${person.name} (${person.ext})`));
    byId("transfer-to-agent").disabled = data.staff.length === 0;
    const externals = byId("transfer-external");
    for (const external of data.externals) externals.append(option(external.name, external.label));
    byId("transfer-external-set").hidden = data.externals.length === 0;
  }

  function skillsFor() {
    const skills = byId("transfer-skill");
    const queue = (page || { queues: [] }).queues.find((q) => q.name === byId("transfer-queue").value);
    skills.replaceChildren(option("", "any"));
    for (const skill of queue ? queue.skills : []) skills.append(option(skill, label(skill)));
  }

  // Each colleague with their state now ("Ben Okafor (2002) — idle"): only the text moves.
  function showColleagues(agents) {
    if (!page) return;
    for (const item of byId("transfer-agent").options) {
      const person = page.staff.find((s) => s.ext === item.value);
      const now = agents.find((a) => a.ext === item.value);
      if (!person) continue;
      const shown = `${person.name} (${person.ext})${now ? ` — ${now.state.replace("_", " ")}` : ""}`;
      if (item.textContent !== shown) item.textContent = shown;
    }
  }

  function queueLabel(name) {
    const queue = page && page.queues.find((q) => q.name === name);
    return queue ? queue.label : label(name);
  }

  // -- the current call --------------------------------------------------------------------
  function newCall() {
    for (const id of ["pop-number", "pop-patient", "pop-patient-id", "pop-specialty", "pop-language", "pop-category", "pop-last-call", "call-queue", "call-wait", "call-talk"]) {
      const node = byId(id);
      node.classList.remove("ticking");
      node.textContent = "—";
    }
    byId("transfer").hidden = true;
    byId("transfer-result").hidden = true;
    byId("transfer-reason").value = "";
    byId("transfer-category").value = "";
    byId("call-note").value = "";
    byId("pop").hidden = false;
  }

  function showCall(call) {
    if (!call || call.call !== popCall) return;
    callQueue = call.queue;
    text("call-queue", queueLabel(call.queue));
    if (byId("pop-category").textContent === "—") text("pop-category", call.category);
    if (byId("pop-number").textContent === "—") text("pop-number", call.number || "withheld");
    const wait = byId("call-wait");
    if (call.state === "ringing") ticking(wait, call.waited_s);
    else {
      wait.classList.remove("ticking");
      wait.textContent = duration(call.waited_s);
    }
    if (call.talking_s !== null) ticking(byId("call-talk"), call.talking_s);
    byId("transfer-category").options[0].textContent = `keep the call's (${label(call.category)})`;
    byId("transfer").hidden = !call.transferable || call.call === transferredCall;
  }

  function showPop(pop) {
    const patient = pop.patient;
    text("pop-status", pop.status);
    text("pop-number", pop.number || "withheld");
    text("pop-patient", patient ? (patient.shared ? "several patients share this number" : patient.name) : "unknown caller");
    text("pop-patient-id", patient && patient.patient_id);
    text("pop-specialty", patient && patient.specialty);
    text("pop-language", pop.language);
    text("pop-category", pop.category);
    const last = pop.last_call;
    text("pop-last-call", last ? `${last.started_at.slice(0, 16).replace("T", " ")} — ${last.category || ""} (${last.outcome || "?"})` : "none");
  }

  function fetchPop(call) {
    fetch(`/api/agents/${ext}/screenpop`, { credentials: "same-origin" }).then(function (response) {
      if (response.status !== 200 || popCall !== call) return null;
      return response.json().then(showPop);
    });
  }

  function transfer(body, target) {
    const call = popCall;
    const reason = byId("transfer-reason").value.trim();
    if (reason) body.reason = reason;
    const result = byId("transfer-result");
    window.frontdesk.post(`/api/calls/${encodeURIComponent(call)}/transfer`, body).then(function (response) {
      return json(response).then(function (data) {
        if (response.status === 202) {
          transferredCall = call;
          byId("transfer").hidden = true;
          say("transfer-result", `Transferred to ${target}.`, false);
          byId("disposition-code").value = "transferred";
          result.focus();
        } else {
          const why = data && data.error ? data.error : `error ${response.status}`;
          say("transfer-result", `The transfer did not work: ${why}.`, true);
        }
      });
    });
  }

  byId("transfer-to-queue").addEventListener("click", function () {
    const queue = byId("transfer-queue").value;
    const body = { to: "queue", target: queue };
    const category = byId("transfer-category").value;
    const skill = byId("transfer-skill").value;
    if (category) body.category = category;
    if (skill) body.skill = skill;
    transfer(body, `the ${queueLabel(queue)} queue`);
  });
  byId("transfer-to-agent").addEventListener("click", function () {
    const ext = byId("transfer-agent").value;
    const person = page && page.staff.find((s) => s.ext === ext);
    transfer({ to: "agent", target: ext }, person ? `${person.name} (${ext})` : ext);
  });
  byId("transfer-to-external").addEventListener("click", function () {
    const select = byId("transfer-external");
    transfer({ to: "external", target: select.value }, select.options[select.selectedIndex].textContent);
  });

  // -- after the call: the disposition and the wrap-up time ------------------------------
  function showWrapUp(call) {
    const section = byId("wrapup");
    section.dataset.call = call;
    section.hidden = false;
    byId("disposition-saved").hidden = true;
    byId("disposition-form").hidden = false;
    byId("disposition-note").value = byId("call-note").value;
    if (call !== transferredCall && byId("disposition-code").value === "transferred") {
      byId("disposition-code").selectedIndex = 0;
    }
  }

  byId("disposition-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const call = byId("wrapup").dataset.call;
    const body = {
      code: byId("disposition-code").value,
      note: byId("disposition-note").value || null,
    };
    window.frontdesk.post(`/api/calls/${encodeURIComponent(call)}/disposition`, body).then(function (response) {
      if (!response.ok) {
        const error = byId("action-error");
        error.hidden = false;
        error.textContent = `The disposition was not saved (${response.status}).`;
        return;
      }
      disposedCall = call;
      byId("disposition-form").hidden = true;
      byId("disposition-note").value = "";
      if (popCall === call) byId("call-note").value = "";
      byId("disposition-saved").hidden = false;
      setTimeout(loadToday, 1500);
    });
  });

  let wrapUpUntil = null; // ms epoch when my wrap-up ends
  function wrapUpSeconds() {
    if (!page) return null;
    const queue = page.queues.find((q) => q.name === callQueue);
    if (queue) return queue.wrap_up_s;
    const mine = page.queues.filter((q) => myQueues.includes(q.name)).map((q) => q.wrap_up_s);
    return mine.length ? Math.max(...mine) : null;
  }

  function showWrapUpTime(me) {
    const box = byId("wrapup-time");
    const total = wrapUpSeconds();
    if (me.state !== "wrap_up" || total === null) {
      wrapUpUntil = null;
      box.hidden = true;
      return;
    }
    wrapUpUntil = Date.now() + (total - (me.in_state_s || 0)) * 1000;
    box.hidden = false;
    tickWrapUp();
  }

  function tickWrapUp() {
    if (wrapUpUntil === null) return;
    byId("wrapup-left").textContent = duration(Math.ceil(Math.max(0, wrapUpUntil - Date.now()) / 1000));
  }
  setInterval(tickWrapUp, 1000);

  // -- calls to return: callback tasks and voicemail messages ----------------------------
  function mineToReturn(alert) {
    if (alert.claimed_by === username) return true;
    const names = page ? page.queues.map((q) => q.name) : [];
    const where = alert.queue || (names.includes(alert.box) ? alert.box : null);
    return where === null || myQueues.includes(where);
  }

  function localTime(iso) {
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone };
    try {
      return new Date(iso).toLocaleTimeString([], options);
    } catch (error) {
      return iso.slice(11, 16); // an unknown zone: the time as sent
    }
  }

  function taskText(alert) {
    const raised = localTime(alert.raised_at);
    const reason = label(alert.category || "no reason given");
    if (alert.kind === "voicemail") {
      const due = alert.due ? `; call back by ${alert.due.slice(0, 16).replace("T", " ")}` : "";
      return `Voicemail in box ${alert.box || "?"} (${reason}), left at ${raised}${due}`;
    }
    const where = alert.queue ? `, ${queueLabel(alert.queue)} queue` : "";
    return `Callback task (${reason}${where}): every callback failed; raised at ${raised}`;
  }

  function taskButton(caption, key, describedBy, onClick, secondary) {
    const button = el("button", caption, secondary ? "secondary" : undefined);
    button.type = "button";
    button.dataset.key = key;
    button.setAttribute("aria-describedby", describedBy);
    button.addEventListener("click", onClick);
    return button;
  }

  function taskItem(alert) {
    const item = el("li", null, "alert task");
    item.dataset.alert = String(alert.id);
    const what = el("span", taskText(alert), "what");
    what.id = `task-${alert.id}-what`;
    item.append(what);
    const mine = alert.claimed_by === username;
    const claim = mine ? "claimed by you" : alert.claimed_by ? `claimed by ${alert.claimed_by}` : "not claimed";
    item.append(el("span", ` — ${claim}`, "claim"));
    if (alert.claimed_by === null) {
      item.append(" ", taskButton("Claim", `claim-${alert.id}`, what.id, () => act(alert, "claim")));
    } else if (mine) {
      item.append(" ", taskButton("Call back now", `call-back-${alert.id}`, what.id, () => callBack(alert)));
      item.append(" ", taskButton("Release", `release-${alert.id}`, what.id, () => act(alert, "release"), true));
      const select = el("select");
      select.id = `outcome-${alert.id}`;
      select.dataset.key = select.id;
      select.append(byId("outcomes").content.cloneNode(true));
      if (chosenOutcome[alert.id]) select.value = chosenOutcome[alert.id];
      select.addEventListener("change", () => (chosenOutcome[alert.id] = select.value));
      const caption = el("label", "Outcome");
      caption.htmlFor = select.id;
      item.append(" ", caption, " ", select, " ");
      item.append(taskButton("Done", `done-${alert.id}`, what.id, () => done(alert, select.value)));
    }
    return item;
  }

  function drawTasks(alerts) {
    lastAlerts = alerts;
    const tasks = alerts.filter((a) => RETURNABLE.includes(a.kind) && !a.acknowledged_by && mineToReturn(a));
    const shown = JSON.stringify([myQueues, page !== null, tasks.map((a) => [a.id, a.claimed_by, a.queue])]);
    if (shown === tasksShown) return;
    tasksShown = shown;
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
    const list = byId("task-list");
    list.replaceChildren(...tasks.map(taskItem));
    byId("no-tasks").hidden = tasks.length > 0;
    const key = focusNext || focused;
    focusNext = null;
    if (key) {
      const target = list.querySelector(`[data-key="${key}"]`);
      if (target) target.focus();
      else if (focused) byId("task-result").focus();
    }
  }

  function act(alert, action) {
    window.frontdesk.post(`/api/alerts/${alert.id}/${action}`, {}).then(function (response) {
      return json(response).then(function (data) {
        if (response.ok) {
          focusNext = action === "claim" ? `call-back-${alert.id}` : `claim-${alert.id}`;
          say("task-result", action === "claim" ? "You have it: call the patient back." : "Released: someone else may take it.", false);
        } else {
          say("task-result", `That did not work: ${data && data.error ? data.error : response.status}.`, true);
        }
      });
    });
  }

  function callBack(alert) {
    window.frontdesk.post(`/api/alerts/${alert.id}/call-back`, {}).then(function (response) {
      return json(response).then(function (data) {
        if (response.status === 202) {
          say("task-result", "Your phone rings now; when you answer, frontdesk dials the patient.", false);
        } else if (response.status === 501 || (response.status === 404 && !(data && data.error))) {
          say("task-result", "Call back now is not available here: dial the patient from your phone.", true);
        } else {
          say("task-result", `Could not call back: ${data && data.error ? data.error : response.status}.`, true);
        }
      });
    });
  }

  function done(alert, outcome) {
    window.frontdesk.post(`/api/alerts/${alert.id}/ack`, { outcome: outcome }).then(function (response) {
      return json(response).then(function (data) {
        if (response.ok) {
          say("task-result", `Done: ${label(outcome)}.`, false);
          byId("task-result").focus();
        } else {
          say("task-result", `That did not work: ${data && data.error ? data.error : response.status}.`, true);
        }
      });
    });
  }

  // -- my calls today ------------------------------------------------------------------------
  function loadToday() {
    fetch(`/api/agents/${ext}/calls-today`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return json(response).then(function (data) {
          const error = byId("today-error");
          if (!response.ok || !data) {
            error.textContent = `Today's calls are not available (${data && data.error ? data.error : response.status}).`;
            error.hidden = false;
            return;
          }
          error.hidden = true;
          const table = byId("today-calls");
          table.tBodies[0].replaceChildren(
            ...data.calls.map(function (c) {
              const row = el("tr");
              row.dataset.call = c.call;
              const talk = el("td", c.talk_s === null ? "—" : duration(c.talk_s), "num");
              row.append(
                el("td", c.local_time),
                el("td", c.number || "withheld", "number"),
                el("td", queueLabel(c.queue)),
                el("td", label(c.category)),
                el("td", label(c.outcome)),
                talk,
                el("td", c.disposition ? label(c.disposition) : "—")
              );
              return row;
            })
          );
          table.hidden = data.calls.length === 0;
          byId("no-calls-today").hidden = data.calls.length > 0;
        });
      })
      .catch(function () {
        const error = byId("today-error");
        error.textContent = "Today's calls are not available right now.";
        error.hidden = false;
      });
  }
  byId("today-refresh").addEventListener("click", loadToday);

  // -- the live stream -------------------------------------------------------------------
  function render(board) {
    const me = board.me;
    if (!me) return;
    myQueues = me.queues;
    text("my-state", me.state.replace("_", " "));
    byId("my-pause-reason").textContent = me.state === "paused" && me.pause_reason ? `(${label(me.pause_reason)})` : "";
    for (const button of document.querySelectorAll("[data-action]")) {
      button.disabled = !ALLOWED[button.dataset.action](me.state);
    }
    const since = byId("my-since");
    if (me.in_state_s === null) since.textContent = "";
    else ticking(since, me.in_state_s);

    const inHand = me.state === "ringing" || me.state === "talking";
    if (inHand && me.call && me.call !== popCall) {
      popCall = me.call;
      newCall();
      text("pop-status", me.state === "talking" ? "answered" : me.state);
      fetchPop(me.call);
      loadPage();
    } else if (me.call && me.call === popCall) {
      text("pop-status", me.state === "talking" ? "answered" : me.state);
      if (me.state !== lastState) loadPage(); // answered: the wait is known now
    }
    if (me.state === "talking" && me.call) talkedCall = me.call;
    if (me.state !== "talking" && talkedCall && talkedCall !== disposedCall) {
      text("pop-status", talkedCall === transferredCall ? "transferred" : "ended");
      byId("transfer").hidden = true;
      const talk = byId("call-talk");
      talk.classList.remove("ticking");
      showWrapUp(talkedCall);
      talkedCall = null;
      setTimeout(loadToday, 2000); // the call's record is written meanwhile
    }
    showWrapUpTime(me);
    showColleagues(board.agents);
    if (canReturn) drawTasks(board.alerts);
    lastState = me.state;
  }

  loadPage();
  loadToday();
  connect(render);
})();
