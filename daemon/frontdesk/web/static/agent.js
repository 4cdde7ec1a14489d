// The agent view: my state and its buttons, the screen pop while my phone rings, and
// the disposition form once the call is over.
"use strict";
(function () {
  const { el, ticking, connect } = window.live;
  const main = document.getElementById("agent");
  const ext = main.dataset.ext;
  let popCall = null; // the call whose pop is shown
  let talkedCall = null; // the call I answered last, for the disposition form
  let disposedCall = null;

  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", function () {
      const error = document.getElementById("action-error");
      window.frontdesk.post(`/api/agents/${ext}/${button.dataset.action}`, {}).then(function (response) {
        error.hidden = response.ok;
        if (!response.ok) error.textContent = `That did not work (${response.status}).`;
      });
    });
  }

  function text(id, value) {
    document.getElementById(id).textContent = value === null || value === undefined ? "—" : String(value);
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
    document.getElementById("pop").hidden = false;
  }

  function fetchPop(call) {
    fetch(`/api/agents/${ext}/screenpop`, { credentials: "same-origin" }).then(function (response) {
      if (response.status !== 200 || popCall !== call) return null;
      return response.json().then(showPop);
    });
  }

  function showWrapUp(call) {
    const section = document.getElementById("wrapup");
    section.dataset.call = call;
    section.hidden = false;
    document.getElementById("disposition-saved").hidden = true;
    document.getElementById("disposition-form").hidden = false;
  }

  document.getElementById("disposition-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const call = document.getElementById("wrapup").dataset.call;
    const body = {
      code: document.getElementById("disposition-code").value,
      note: document.getElementById("disposition-note").value || null,
    };
    window.frontdesk.post(`/api/calls/${encodeURIComponent(call)}/disposition`, body).then(function (response) {
      if (!response.ok) {
        const error = document.getElementById("action-error");
        error.hidden = false;
        error.textContent = `The disposition was not saved (${response.status}).`;
        return;
      }
      disposedCall = call;
      document.getElementById("disposition-form").hidden = true;
      document.getElementById("disposition-note").value = "";
      document.getElementById("disposition-saved").hidden = false;
    });
  });

  // Which buttons make sense in which state (the server checks again).
  const ALLOWED = {
    login: (state) => state === "logged_out",
    logout: (state) => state !== "logged_out",
    pause: (state) => state !== "logged_out" && state !== "paused",
    unpause: (state) => state === "paused",
  };

  function render(board) {
    const me = board.me;
    if (!me) return;
    text("my-state", me.state.replace("_", " "));
    for (const button of document.querySelectorAll("[data-action]")) {
      button.disabled = !ALLOWED[button.dataset.action](me.state);
    }
    const since = document.getElementById("my-since");
    if (me.in_state_s === null) since.textContent = "";
    else ticking(since, me.in_state_s);
    if ((me.state === "ringing" || me.state === "talking") && me.call && me.call !== popCall) {
      popCall = me.call;
      fetchPop(me.call);
    } else if (me.call && me.call === popCall) {
      text("pop-status", me.state === "talking" ? "answered" : me.state);
    }
    if (me.state === "talking" && me.call) talkedCall = me.call;
    if (me.state !== "talking" && talkedCall && talkedCall !== disposedCall) {
      text("pop-status", "ended");
      showWrapUp(talkedCall);
      talkedCall = null;
    }
  }

  connect(render);
})();
