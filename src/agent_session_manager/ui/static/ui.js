// asm ui: live updates over server-sent events. Hand-written, no framework, no external code.
// The server renders (and escapes) every fragment; this script only inserts what it sent.
"use strict";

function follow(url, kind, onItem) {
  const source = new EventSource(url);
  source.addEventListener(kind, (message) => onItem(JSON.parse(message.data)));
  source.addEventListener("error", () => document.body.classList.add("live-retrying"));
  source.addEventListener("open", () => document.body.classList.remove("live-retrying"));
  return source;
}

function followTimeline(list) {
  const url = new URL(list.dataset.stream, window.location.href);
  url.searchParams.set("after", list.dataset.after);
  const count = document.getElementById("event-count");
  follow(url, "event", (item) => {
    if (document.getElementById("seq-" + item.sequence)) return;
    list.insertAdjacentHTML("beforeend", item.html);
    list.dataset.after = item.sequence;
    const empty = document.getElementById("no-events");
    if (empty) empty.remove();
    if (count) count.textContent = (Number(count.textContent.replace(/,/g, "")) + 1).toLocaleString("en-US");
  });
}

function followSessions(table) {
  const url = new URL("/sessions/live", window.location.href);
  url.searchParams.set("after", table.dataset.after);
  const body = table.tBodies[0];
  follow(url, "session", (item) => {
    if (document.getElementById("row-" + item.id)) return;
    body.insertAdjacentHTML("afterbegin", item.html);
  });
}

// A timeline row's raw JSON is fetched when it is first expanded, and shown as text.
document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (!details.open || !details.dataset || !details.dataset.raw || details.dataset.loaded) return;
  details.dataset.loaded = "1";
  fetch(details.dataset.raw, { credentials: "same-origin" })
    .then((response) => response.text())
    .then((text) => { details.querySelector("pre").textContent = text; });
}, true);

document.addEventListener("DOMContentLoaded", () => {
  const timeline = document.getElementById("timeline");
  if (timeline && timeline.dataset.live === "on") followTimeline(timeline);
  const sessions = document.getElementById("sessions");
  if (sessions && sessions.dataset.live === "on") followSessions(sessions);
  if (window.location.hash.startsWith("#seq-")) {
    const target = document.getElementById(window.location.hash.slice(1));
    if (target) target.classList.add("target");
  }
});
