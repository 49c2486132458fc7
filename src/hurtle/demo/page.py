"""The demo's home page: one self-contained HTML document (no external resources).

Links are relative ("./json"), so the page still works when the app is
mounted below a proxy prefix (`--root-path`). The script writes only through
`textContent`, never HTML, so nothing the server sends can become markup.
"""

from __future__ import annotations

__all__ = ["PAGE"]

_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hurtle</title>
<style>
  :root {
    color-scheme: light dark;
    --fg: #1d2125; --muted: #5b6470; --bg: #fbfbfa; --card: #ffffff;
    --line: #e3e5e8; --accent: #0b6e4f; --code: #f1f3f4;
  }
  @media (prefers-color-scheme: dark) {
    :root {
      --fg: #e6e8ea; --muted: #9aa3ad; --bg: #15181b; --card: #1c2024;
      --line: #2c3238; --accent: #4fd1a1; --code: #23282d;
    }
  }
  * { box-sizing: border-box; }
  body {
    margin: 0; background: var(--bg); color: var(--fg);
    font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  }
  main { max-width: 46rem; margin: 0 auto; padding: 2.5rem 1.25rem 3rem; }
  h1 { font-size: 2.4rem; margin: 0; letter-spacing: -0.02em; }
  h1 span { color: var(--accent); }
  h2 { font-size: 1.15rem; margin: 2.2rem 0 0.6rem; }
  p { margin: 0.5rem 0; }
  .tagline { color: var(--muted); margin-top: 0.2rem; }
  a { color: var(--accent); }
  code, pre { font: 0.9em/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
  code { background: var(--code); padding: 0.1em 0.35em; border-radius: 4px; }
  table { width: 100%; border-collapse: collapse; }
  td { padding: 0.45rem 0.4rem; border-top: 1px solid var(--line); vertical-align: top; }
  td:first-child { white-space: nowrap; width: 1%; padding-right: 1rem; }
  .card {
    background: var(--card); border: 1px solid var(--line); border-radius: 8px;
    padding: 1rem 1.1rem;
  }
  button {
    font: inherit; padding: 0.3rem 0.9rem; border-radius: 6px; cursor: pointer;
    border: 1px solid var(--accent); background: var(--accent); color: var(--bg);
  }
  button[disabled] { opacity: 0.45; cursor: default; }
  button.secondary { background: transparent; color: var(--accent); }
  #sse-status, #chat-status { color: var(--muted); margin-left: 0.6rem; }
  #chat-log { list-style: none; padding: 0; margin: 0.8rem 0 0; }
  #chat-text { width: 60%; }
  #sse-events { list-style: none; padding: 0; margin: 0.8rem 0 0; min-height: 1.5rem; }
  #sse-events li { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.88em; }
  textarea {
    width: 100%; min-height: 4.5rem; font: inherit; padding: 0.4rem;
    border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg);
  }
  pre {
    background: var(--code); padding: 0.7rem; border-radius: 6px; overflow: auto;
    max-height: 22rem; margin: 0.8rem 0 0;
  }
  pre:empty { display: none; }
  footer { margin-top: 2.5rem; color: var(--muted); font-size: 0.9em; }
</style>
</head>
<body>
<main>
  <h1><span>&#x276F;</span> hurtle</h1>
  <p class="tagline">A fast, safe, production ASGI server for Python.</p>

  <p>You are looking at hurtle's built-in demo app, which <code>hurtle</code> serves
  when it is given no application. It is a plain ASGI 3 app with no framework,
  and each endpoint below shows one thing the server does.</p>

  <h2>Endpoints</h2>
  <table>
    <tr><td><a href="./">GET /</a></td><td>This page.</td></tr>
    <tr><td><a href="./text">GET /text</a></td>
        <td>Plain text, sent in one piece with a <code>content-length</code>.</td></tr>
    <tr><td><a href="./json">GET /json</a></td><td>A small JSON document.</td></tr>
    <tr><td><a href="./stream">GET /stream</a></td>
        <td>A body sent in several pieces, framed with chunked transfer coding.</td></tr>
    <tr><td><a href="./sse?count=5">GET /sse</a></td>
        <td>Server-sent events: <code>?count=</code> events (at most 100),
        <code>?interval=</code> seconds apart.</td></tr>
    <tr><td>WebSocket /chat</td>
        <td>A small chat room: every text message goes to everyone connected.</td></tr>
    <tr><td><a href="./request?hello=world">GET|POST /request</a></td>
        <td>The request as the app received it (method, path, headers, body&hellip;),
        echoed back as JSON.</td></tr>
  </table>

  <h2>Live: server-sent events</h2>
  <div class="card">
    <button id="sse-start">Start</button>
    <button id="sse-stop" class="secondary" disabled>Stop</button>
    <span id="sse-status">Ten events from <code>/sse</code>, one every half second.</span>
    <ol id="sse-events"></ol>
  </div>

  <h2>Live: a WebSocket chat</h2>
  <div class="card">
    <form id="chat-form">
      <input id="chat-text" aria-label="message" maxlength="1000" placeholder="Say something"
        autocomplete="off">
      <button type="submit">Send</button>
      <span id="chat-status">connecting...</span>
    </form>
    <ol id="chat-log"></ol>
  </div>

  <h2>Echo a POST</h2>
  <form id="echo" class="card">
    <textarea name="body" aria-label="request body">Hello, hurtle!</textarea>
    <p><button type="submit">POST to /request</button></p>
    <pre id="echo-result"></pre>
  </form>

  <footer>Serve your own app with <code>hurtle module:app</code>;
  <code>hurtle --help</code> lists every option.</footer>
</main>
<script>
"use strict";
(() => {
  const start = document.getElementById("sse-start");
  const stop = document.getElementById("sse-stop");
  const status = document.getElementById("sse-status");
  const list = document.getElementById("sse-events");
  let source = null;

  function finish(message) {
    if (source) { source.close(); source = null; }
    status.textContent = message;
    start.disabled = false;
    stop.disabled = true;
  }

  start.addEventListener("click", () => {
    list.replaceChildren();
    start.disabled = true;
    stop.disabled = false;
    status.textContent = "connecting...";
    source = new EventSource("./sse?count=10");
    source.onopen = () => { status.textContent = "streaming"; };
    source.onmessage = (event) => {
      const data = JSON.parse(event.data);
      const item = document.createElement("li");
      item.textContent = `event ${data.n} of ${data.of}  ${data.time}`;
      list.append(item);
      if (data.n >= data.of) finish("done: the server ended the stream");
    };
    // Without this the browser would reconnect when the stream ends.
    source.onerror = () => finish("the stream closed");
  });
  stop.addEventListener("click", () => finish("stopped"));

  const chatLog = document.getElementById("chat-log");
  const chatStatus = document.getElementById("chat-status");
  const chatText = document.getElementById("chat-text");
  const chatUrl = new URL("./chat", location.href);
  chatUrl.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const chat = new WebSocket(chatUrl);
  chat.onopen = () => { chatStatus.textContent = "connected"; };
  chat.onclose = () => { chatStatus.textContent = "disconnected"; };
  chat.onmessage = (event) => {
    const data = JSON.parse(event.data);
    const item = document.createElement("li");
    item.textContent = data.kind === "message"
      ? `${data.from}: ${data.text}`
      : `${data.from} ${data.kind} (${data.online} online)`;
    chatLog.append(item);
  };
  document.getElementById("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (chat.readyState === WebSocket.OPEN && chatText.value) {
      chat.send(chatText.value);
      chatText.value = "";
    }
  });

  const form = document.getElementById("echo");
  const result = document.getElementById("echo-result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const response = await fetch("./request?from=demo-page", {
        method: "POST",
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: form.elements.body.value,
      });
      result.textContent = await response.text();
    } catch (error) {
      result.textContent = String(error);
    }
  });
})();
</script>
</body>
</html>
"""

PAGE = _HTML.encode()
