// The instance page's serial console (issue 17): ask the dashboard for a one-time console
// URL (Nova's remote-consoles API), open its websocket on this origin, attach xterm.js.
(function () {
  const box = document.getElementById("serial-console");
  if (!box) return;
  const button = document.getElementById("serial-open");
  const status = document.getElementById("serial-status");
  button.addEventListener("click", async function () {
    button.disabled = true;
    status.textContent = "connecting...";
    const form = new FormData();
    form.append(box.dataset.csrfField, box.dataset.csrf);
    const answer = await fetch(box.dataset.endpoint, { method: "POST", body: form, credentials: "same-origin" });
    const body = await answer.json();
    if (!answer.ok) {
      status.textContent = body.error || "no console";
      button.disabled = false;
      return;
    }
    const given = new URL(body.url);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + given.pathname + given.search, ["binary"]);
    ws.binaryType = "arraybuffer";
    const term = new Terminal({ convertEol: false, cursorBlink: true, rows: 24, cols: 100 });
    term.open(document.getElementById("serial-terminal"));
    window.overcastTerminal = term;
    term.onData(function (data) { if (ws.readyState === WebSocket.OPEN) ws.send(data); });
    ws.onopen = function () { status.textContent = "connected"; term.focus(); ws.send("\r"); };
    ws.onmessage = function (event) { term.write(new Uint8Array(event.data)); };
    ws.onclose = function () { status.textContent = "disconnected"; button.disabled = false; };
  });
})();

// The VNC console: Debian's noVNC page (served by the compute API) in a frame, on this origin.
(function () {
  const box = document.getElementById("vnc-console");
  if (!box) return;
  const button = document.getElementById("vnc-open");
  const status = document.getElementById("vnc-status");
  button.addEventListener("click", async function () {
    button.disabled = true;
    const form = new FormData();
    form.append(box.dataset.csrfField, box.dataset.csrf);
    const answer = await fetch(box.dataset.endpoint, { method: "POST", body: form, credentials: "same-origin" });
    const body = await answer.json();
    button.disabled = false;
    if (!answer.ok) { status.textContent = body.error || "no console"; return; }
    const given = new URL(body.url);
    const frame = document.getElementById("vnc-frame");
    frame.src = location.origin + given.pathname + given.search;
    frame.hidden = false;
    status.textContent = "opened";
  });
})();
