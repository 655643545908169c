"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 (stdlib only).

    server = FakeOpenAI().start()          # random free port, thread
    server.base_url                        # "http://127.0.0.1:PORT/v1"
    server.script += ["429", "500", "ok"]  # behaviours for the next requests, in order
    server.requests                        # POST /v1/chat/completions received so far

Behaviours: "ok" (valid JSON conversation, unique per prompt), "fenced" (the same inside
```json fences with chatter around it), "malformed" (content that is not JSON),
"bad_roles" (JSON whose roles do not alternate), "dup" (the same conversation every
time), "bad_body" (HTTP 200 whose body is not JSON), "429" (with Retry-After:
`retry_after`), "500", "hang" (sleeps `hang_seconds` before answering), "echo_key"
(401 whose error message repeats the bearer token), "echo_key_ok" (a valid conversation
whose answer, and the response's model name, repeat the bearer token), "trickle" (a valid
answer sent a few bytes at a time over `trickle_seconds`), "name" (a cluster name and
description as JSON, unique per prompt). After the script runs out,
`markers` (substring of the prompt -> behaviour) then `default` decide.
Run standalone: `python tests/fake_openai_server.py` prints the base URL and serves.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, default: str = "ok", retry_after: str = "0", hang_seconds: float = 5.0, delay: float = 0.0,
                 trickle_seconds: float = 4.0):
        self.default = default
        self.trickle_seconds = trickle_seconds
        self.trickle_aborted = 0  # trickled answers the client hung up on
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.delay = delay  # seconds before every answer (to widen kill windows)
        self.script: list[str] = []
        self.markers: dict[str, str] = {}
        self.requests = 0
        self.log: list[dict] = []  # {"behaviour", "model", "authorization", "prompt"}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                fake._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------------------------
    def _choose(self, prompt: str) -> str:
        with self._lock:
            self.requests += 1
            if self.script:
                return self.script.pop(0)
        for marker, behaviour in self.markers.items():
            if marker in prompt:
                return behaviour
        return self.default

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        if h.path.rstrip("/") != "/v1/chat/completions":
            return self._send(h, 404, {"error": {"message": f"no route {h.path}"}})
        length = int(h.headers.get("Content-Length") or 0)
        try:
            req = json.loads(h.rfile.read(length))
            messages = req["messages"]
            model = req["model"]
        except (ValueError, KeyError, TypeError):
            return self._send(h, 400, {"error": {"message": "bad request"}})
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        behaviour = self._choose(prompt)
        auth = h.headers.get("Authorization", "")
        with self._lock:
            self.log.append({"behaviour": behaviour, "model": model, "authorization": auth, "prompt": prompt})
        if self.delay:
            self._stop.wait(self.delay)
        if behaviour == "429":
            return self._send(h, 429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                              {"Retry-After": self.retry_after})
        if behaviour == "500":
            return self._send(h, 500, {"error": {"message": "server exploded"}})
        if behaviour == "echo_key":
            return self._send(h, 401, {"error": {"message": f"Incorrect API key provided: {auth.removeprefix('Bearer ')}"}})
        if behaviour == "hang":
            self._stop.wait(self.hang_seconds)
            behaviour = "ok"
        if behaviour == "bad_body":
            return self._send_raw(h, 200, b"{not json at all")
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
        conv = {"messages": [
            {"role": "user", "content": f"Question {digest}: combine the skills please."},
            {"role": "assistant", "content": f"Answer {digest}: here is a combined solution."},
        ]}
        if behaviour == "echo_key_ok":
            token = auth.removeprefix("Bearer ")
            conv["messages"][1]["content"] += f" (your key is {token})"
            model = f"{model}-{token}"
        if behaviour == "dup":
            conv = {"messages": [{"role": "user", "content": "Same question."},
                                 {"role": "assistant", "content": "Same answer."}]}
        if behaviour in ("ok", "dup", "echo_key_ok", "trickle"):
            content = json.dumps(conv)
        elif behaviour == "name":
            content = json.dumps({"name": f"Topic {digest[:6]}", "description": f"Skills that belong together ({digest})."})
        elif behaviour == "fenced":
            content = "Sure! Here it is:\n```json\n" + json.dumps(conv, indent=1) + "\n```\nHope this helps."
        elif behaviour == "malformed":
            content = '{"messages": [{"role": "user", "content": "unterminated'
        elif behaviour == "bad_roles":
            content = json.dumps({"messages": [{"role": "assistant", "content": "hi"}, {"role": "assistant", "content": "again"}]})
        else:
            return self._send(h, 500, {"error": {"message": f"unknown behaviour {behaviour}"}})
        body = {
            "id": f"chatcmpl-{digest}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        if behaviour == "trickle":
            return self._trickle(h, json.dumps(body).encode())
        self._send(h, 200, body)

    def _trickle(self, h, data: bytes, pieces: int = 20) -> None:
        """Headers at once, then the body in `pieces` parts spread over trickle_seconds."""
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            step = -(-len(data) // pieces)
            for i in range(0, len(data), step):
                h.wfile.write(data[i : i + step])
                h.wfile.flush()
                if self._stop.wait(self.trickle_seconds / pieces):
                    return
        except (BrokenPipeError, ConnectionResetError):
            with self._lock:
                self.trickle_aborted += 1

    def _send(self, h, status: int, obj: dict, headers: dict | None = None) -> None:
        self._send_raw(h, status, json.dumps(obj).encode(), headers)

    def _send_raw(self, h, status: int, data: bytes, headers: dict | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)


if __name__ == "__main__":
    srv = FakeOpenAI().start()
    print(srv.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.stop()
