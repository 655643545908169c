"""A loopback stand-in for the OpenAI Files and Batch endpoints (stdlib only).

    srv = FakeBatchAPI().start()     # random free port, thread
    srv.base_url                     # "http://127.0.0.1:PORT/v1"
    srv.polls_to_complete = 2        # batches.retrieve calls before a batch is "completed"
    srv.fail_ids = {"abc"}           # custom_ids answered with HTTP 500 in the output
    srv.batch_create_delay = 3.0     # seconds the create call waits *after* creating (kill window)

Routes: POST /v1/files (multipart: purpose, file), GET /v1/files/{id}/content,
POST /v1/batches, GET /v1/batches (list, newest first), GET /v1/batches/{id}.
Like the real API it checks every input line (custom_id unique, method POST, url matching the
batch endpoint, a body with model and messages), refuses more than `max_requests` lines per
file, and answers each request with a unique JSON conversation and fixed usage
(prompt 100, completion 20 tokens). `srv.bodies` keeps every request body received.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from loopback_server import LoopbackServer


class FakeBatchAPI(LoopbackServer):
    methods = ("GET", "POST")

    def __init__(self, polls_to_complete: int = 1, max_requests: int = 50_000):
        super().__init__()
        self.polls_to_complete = polls_to_complete
        self.max_requests = max_requests
        self.fail_ids: set[str] = set()
        self.batch_create_delay = 0.0
        self.files: dict[str, dict] = {}  # id -> {"purpose", "filename", "data"}
        self.batches: dict[str, dict] = {}
        self.bodies: list[dict] = []
        self.create_started = threading.Event()
        self.log: list[tuple[str, str, str]] = []  # (method, path, Authorization)
        self._n = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    # ---------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        with self._lock:
            self._n += 1
            return f"{prefix}-{self._n:04d}"

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        path = h.path.split("?", 1)[0].rstrip("/")
        with self._lock:
            self.log.append((method, path, h.headers.get("Authorization", "")))
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/files":
            return self._upload(h, body)
        if method == "GET" and len(parts) == 4 and parts[:2] == ["v1", "files"] and parts[3] == "content":
            f = self.files.get(parts[2])
            if f is None:
                return self._send(h, 404, {"error": {"message": f"No such File object: {parts[2]}"}})
            return self._send_raw(h, 200, f["data"], "application/octet-stream")
        if method == "POST" and path == "/v1/batches":
            return self._create_batch(h, body)
        if method == "GET" and path == "/v1/batches":
            data = sorted(self.batches.values(), key=lambda b: b["created_at"], reverse=True)
            return self._send(h, 200, {"object": "list", "data": [self._public(b) for b in data], "has_more": False,
                                       "first_id": data[0]["id"] if data else None,
                                       "last_id": data[-1]["id"] if data else None})
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "batches"]:
            b = self.batches.get(parts[2])
            if b is None:
                return self._send(h, 404, {"error": {"message": f"No such batch: {parts[2]}"}})
            self._advance(b)
            return self._send(h, 200, self._public(b))
        return self._send(h, 404, {"error": {"message": f"no route {method} {path}"}})

    def _upload(self, h, body: bytes) -> None:
        ctype = h.headers.get("Content-Type", "")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        fields, filename, data = {}, None, None
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                filename = part.get_filename()
                data = part.get_payload(decode=True)
            else:
                fields[name] = part.get_content().strip()
        if data is None or fields.get("purpose") != "batch":
            return self._send(h, 400, {"error": {"message": "expected a file and purpose=batch"}})
        fid = self._id("file")
        self.files[fid] = {"purpose": "batch", "filename": filename, "data": data}
        self._send(h, 200, {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                            "filename": filename, "purpose": "batch", "status": "processed"})

    def _check_lines(self, data: bytes, endpoint: str) -> str | None:
        seen = set()
        lines = [l for l in data.splitlines() if l.strip()]
        if len(lines) > self.max_requests:
            return f"too many requests in one file: {len(lines)} > {self.max_requests}"
        for i, line in enumerate(lines, 1):
            try:
                obj = json.loads(line)
            except ValueError:
                return f"line {i}: invalid JSON"
            cid = obj.get("custom_id")
            if not isinstance(cid, str) or cid in seen:
                return f"line {i}: custom_id missing or repeated"
            seen.add(cid)
            if obj.get("method") != "POST" or obj.get("url") != endpoint:
                return f"line {i}: method/url must be POST {endpoint}"
            b = obj.get("body") or {}
            if not isinstance(b.get("model"), str) or not isinstance(b.get("messages"), list):
                return f"line {i}: body needs model and messages"
        return None

    def _create_batch(self, h, body: bytes) -> None:
        req = json.loads(body)
        f = self.files.get(req.get("input_file_id"))
        if f is None:
            return self._send(h, 400, {"error": {"message": "input_file_id not found"}})
        if req.get("endpoint") != "/v1/chat/completions" or req.get("completion_window") != "24h":
            return self._send(h, 400, {"error": {"message": "endpoint/completion_window not supported"}})
        problem = self._check_lines(f["data"], req["endpoint"])
        bid = self._id("batch")
        b = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "input_file_id": req["input_file_id"],
             "completion_window": "24h", "status": "failed" if problem else "validating", "created_at": time.time(),
             "metadata": req.get("metadata"), "output_file_id": None, "error_file_id": None, "polls": 0,
             "errors": {"object": "list", "data": [{"message": problem}]} if problem else None,
             "request_counts": {"total": 0, "completed": 0, "failed": 0}}
        self.batches[bid] = b
        self.create_started.set()
        if self.batch_create_delay:
            time.sleep(self.batch_create_delay)
        self._send(h, 200, self._public(b))

    def _advance(self, b: dict) -> None:
        if b["status"] in ("failed", "completed"):
            return
        b["polls"] += 1
        if b["polls"] < self.polls_to_complete:
            b["status"] = "in_progress"
            return
        out, err = [], []
        counts = {"total": 0, "completed": 0, "failed": 0}
        for line in self.files[b["input_file_id"]]["data"].splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            self.bodies.append(obj["body"])
            counts["total"] += 1
            cid = obj["custom_id"]
            if cid in self.fail_ids:
                counts["failed"] += 1
                err.append({"id": f"req-{cid}", "custom_id": cid, "error": None,
                            "response": {"status_code": 500, "body": {"error": {"message": "server exploded"}}}})
                continue
            counts["completed"] += 1
            prompt = "\n".join(str(m.get("content", "")) for m in obj["body"]["messages"])
            digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
            conv = {"messages": [{"role": "user", "content": f"Question {digest}: combine the skills please."},
                                 {"role": "assistant", "content": f"Answer {digest}: here is a combined solution."}]}
            out.append({"id": f"req-{cid}", "custom_id": cid, "error": None, "response": {
                "status_code": 200, "request_id": f"r-{digest}",
                "body": {"id": f"chatcmpl-{digest}", "object": "chat.completion", "model": obj["body"]["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(conv)},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}}})
        if out:
            fid = self._id("file")
            self.files[fid] = {"purpose": "batch_output", "filename": "out.jsonl",
                               "data": "".join(json.dumps(o) + "\n" for o in out).encode()}
            b["output_file_id"] = fid
        if err:
            fid = self._id("file")
            self.files[fid] = {"purpose": "batch_output", "filename": "err.jsonl",
                               "data": "".join(json.dumps(o) + "\n" for o in err).encode()}
            b["error_file_id"] = fid
        b["status"], b["request_counts"] = "completed", counts

    @staticmethod
    def _public(b: dict) -> dict:
        return {k: v for k, v in b.items() if k != "polls"} | {"created_at": int(b["created_at"])}

    def _send(self, h, status: int, obj: dict) -> None:
        self._send_raw(h, status, json.dumps(obj).encode(), "application/json")

    def _send_raw(self, h, status: int, data: bytes, ctype: str) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
