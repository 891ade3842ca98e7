// The console's only script: the login page keeps the key in this tab's session storage, and
// pages with a live part (data-live) ask for what is new every second. Every page works
// without it except the live feed.
"use strict";

const KEY = "refcamp-api-key";

function apiHeaders() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: "ApiKey-v1 " + key } : {};
}

document.addEventListener("DOMContentLoaded", () => {
  const login = document.getElementById("login");
  if (login) {
    login.addEventListener("submit", () => {
      sessionStorage.setItem(KEY, login.elements.key.value.trim());
    });
  }
  document.querySelectorAll("[data-live]").forEach(startLive);
});

// A live list: GET its data-live URL with ?after=<newest id shown>; the answer is HTML rows
// (rendered by the server, escaped there) to put first, and the new newest id in a header.
function startLive(list) {
  const status = document.querySelector("[data-live-status]");
  function say(state, text) {
    if (!status) return;
    status.textContent = text;
    status.classList.remove("live", "offline");
    status.classList.add(state);
  }
  async function poll() {
    const after = list.dataset.newest || "0";
    try {
      const response = await fetch(list.dataset.live + "?after=" + encodeURIComponent(after), {
        headers: apiHeaders(),
        credentials: "same-origin",
      });
      if (response.status === 401) {
        say("offline", "Offline: signed out, sign in again to see new requests.");
        return;
      }
      if (response.ok) {
        const html = await response.text();
        const newest = response.headers.get("X-Newest");
        if (html.trim()) {
          const template = document.createElement("template");
          template.innerHTML = html;
          const rows = template.content.children;
          const body = list.tBodies ? list.tBodies[0] : list;
          while (rows.length) body.insertBefore(rows[rows.length - 1], body.firstChild);
          body.querySelectorAll("tr.empty").forEach((row) => row.remove());
        }
        if (newest) list.dataset.newest = newest;
        say("live", "Live: new requests appear here as they arrive.");
      } else {
        say("offline", "Offline: the server answered " + response.status + "; trying again.");
      }
    } catch (error) {
      say("offline", "Offline: the server does not answer; trying again.");
    }
    setTimeout(poll, 1000);
  }
  poll();
}
