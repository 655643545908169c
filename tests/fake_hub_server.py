"""A loopback stand-in for the Hugging Face Hub endpoints `huggingface_hub` uses to push a
dataset folder (stdlib only): create a repo, validate README YAML, preupload, commit.

    hub = FakeHub().start()          # random free port, thread
    HfApi(endpoint=hub.endpoint)     # or HF_ENDPOINT=hub.endpoint
    hub.repos["me/ds"]               # {"private": bool, "files": {path: bytes}, "commits": int}

Like the Hub, it rejects a README whose YAML front matter is missing or not a mapping, and
a commit whose card lists `configs` data files that are neither committed nor in the repo.
Every file is stored as a regular blob (preupload answers "regular"), so no LFS or Xet.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub._handle(self, "GET")

            def do_POST(self):
                hub._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------------------------
    @staticmethod
    def front_matter(text: str):
        import yaml

        if not text.startswith("---"):
            return None
        end = text.find("\n---", 3)
        if end < 0:
            return None
        try:
            meta = yaml.safe_load(text[3:end])
        except yaml.YAMLError:
            return None
        return meta if isinstance(meta, dict) else None

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.log.append((method, path, h.headers.get("Authorization")))
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/api/repos/create":
            req = json.loads(body)
            repo = f"{req.get('organization')}/{req['name']}" if req.get("organization") else req["name"]
            if req.get("type") != "dataset":
                return self._send(h, 400, {"error": "this stand-in serves dataset repos only"})
            with self._lock:
                if repo in self.repos:
                    return self._send(h, 409, {"error": "You already created this dataset repo", "url": self._url(repo)})
                self.repos[repo] = {"private": req.get("visibility") == "private", "files": {}, "commits": 0}
            return self._send(h, 200, {"url": self._url(repo), "name": repo})
        if method == "POST" and path == "/api/validate-yaml":
            req = json.loads(body)
            if self.front_matter(req.get("content", "")) is None:
                return self._send(h, 400, {"errors": [{"message": "README.md has no YAML metadata"}]})
            return self._send(h, 200, {"errors": [], "warnings": []})
        # /api/datasets/{org}/{name}/{preupload|commit}/{revision}
        if method == "POST" and len(parts) == 6 and parts[:2] == ["api", "datasets"] and parts[4] in ("preupload", "commit"):
            repo = f"{parts[2]}/{parts[3]}"
            if repo not in self.repos:
                return self._send(h, 404, {"error": f"Repository {repo} not found"})
            if parts[4] == "preupload":
                files = json.loads(body)["files"]
                return self._send(h, 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                     for f in files]})
            return self._commit(h, repo, body)
        return self._send(h, 404, {"error": f"no route {method} {path}"})

    def _commit(self, h, repo: str, body: bytes) -> None:
        added: dict[str, bytes] = {}
        for line in body.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                v = item["value"]
                if v.get("encoding") != "base64":
                    return self._send(h, 400, {"error": "expected base64 content"})
                added[v["path"]] = base64.b64decode(v["content"])
            elif item["key"] != "header":
                return self._send(h, 400, {"error": f"unsupported operation {item['key']}"})
        files = {**self.repos[repo]["files"], **added}
        if "README.md" in files:
            meta = self.front_matter(files["README.md"].decode("utf-8", "replace"))
            if meta is None:
                return self._send(h, 400, {"error": "README.md has no YAML metadata"})
            for cfg in meta.get("configs") or []:
                for df in cfg.get("data_files") or []:
                    if df["path"] not in files:
                        return self._send(h, 400, {"error": f"configs lists {df['path']}, which is not in the repo"})
        with self._lock:
            self.repos[repo]["files"] = files
            self.repos[repo]["commits"] += 1
            oid = f"{self.repos[repo]['commits']:040x}"
        self._send(h, 200, {"commitUrl": f"{self._url(repo)}/commit/{oid}", "commitOid": oid})

    def _url(self, repo: str) -> str:
        return f"{self.endpoint}/datasets/{repo}"

    def _send(self, h, status: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
