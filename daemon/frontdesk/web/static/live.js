// The live stream shared by the board and the agent view: Server-Sent Events from
// /events, nothing polled. Everything from the server is written with textContent.
"use strict";
(function () {
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.floor(seconds));
    const m = Math.floor(s / 60);
    const h = Math.floor(m / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h > 0 ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  }

  // Wait times tick in the browser between pushes: elements carry data-since (ms epoch
  // at which their value was `data-seconds`).
  function ticking(node, seconds) {
    node.dataset.seconds = String(seconds);
    node.dataset.since = String(Date.now());
    node.textContent = duration(seconds);
    node.classList.add("ticking");
    return node;
  }

  setInterval(function () {
    for (const node of document.querySelectorAll(".ticking")) {
      const extra = (Date.now() - Number(node.dataset.since)) / 1000;
      node.textContent = duration(Number(node.dataset.seconds) + extra);
    }
  }, 1000);

  // `site`: another site's board (several sites on one database); none: this one's.
  function connect(onBoard, site) {
    const status = document.getElementById("connection");
    const source = new EventSource(site ? "/events?site=" + encodeURIComponent(site) : "/events");
    source.addEventListener("board", function (event) {
      status.textContent = "Live";
      status.className = "status live";
      onBoard(JSON.parse(event.data));
    });
    source.addEventListener("expired", function () {
      source.close();
      window.location.assign("/login?expired=1&next=" + encodeURIComponent(window.location.pathname));
    });
    source.onerror = function () {
      status.textContent = "Reconnecting…";
      status.className = "status down";
    };
    return source;
  }

  window.live = { el: el, duration: duration, ticking: ticking, connect: connect };
})();
