"""A loopback stand-in for the Hugging Face Hub endpoints `huggingface_hub` uses to push a
dataset folder (create a repo, validate README YAML, preupload, commit) and to read one through
`HfFileSystem` / `hf://` paths (repo info, tree listing, paths-info, resolve with byte ranges).
stdlib only.

    hub = FakeHub().start()          # random free port, thread
    HfApi(endpoint=hub.endpoint)     # or HF_ENDPOINT=hub.endpoint
    hub.repos["me/ds"]               # {"private": bool, "files": {path: bytes}, "commits": int}
    hub.add_repo("me/ds", {"data/a.parquet": b"..."})   # a repo to read from

Like the Hub, it rejects a README whose YAML front matter is missing or not a mapping, and
a commit whose card lists `configs` data files that are neither committed nor in the repo.
Every file is stored as a regular blob (preupload answers "regular"), so no LFS or Xet.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler

from loopback_server import LoopbackServer


class FakeHub(LoopbackServer):
    methods = ("GET", "POST", "HEAD")

    def __init__(self):
        super().__init__()
        self.repos: dict[str, dict] = {}
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return self.root

    def add_repo(self, repo: str, files: dict[str, bytes], private: bool = False) -> None:
        with self._lock:
            self.repos[repo] = {"private": private, "files": dict(files), "commits": 1}

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
        if method in ("GET", "HEAD") or (method == "POST" and "paths-info" in parts):
            return self._read(h, method, parts, body)
        return self._send(h, 404, {"error": f"no route {method} {path}"})

    # ---- reading (HfFileSystem) ----------------------------------------------------------
    def _entry(self, files: dict, path: str) -> dict | None:
        import hashlib

        if path in files:
            data = files[path]
            sha = hashlib.sha256(data).hexdigest()
            return {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest(),
                    "lfs": {"oid": sha, "size": len(data), "pointerSize": 134}}
        if any(f.startswith(path.rstrip("/") + "/") for f in files) or path == "":
            return {"type": "directory", "path": path, "oid": "0" * 40}
        return None

    def _read(self, h, method: str, parts: list[str], body: bytes) -> None:
        from urllib.parse import parse_qs, unquote, urlsplit

        query = parse_qs(urlsplit(h.path).query)
        # /datasets/{org}/{name}/resolve/{rev}/{path...}: the bytes, with Range support
        if len(parts) >= 5 and parts[0] == "datasets" and parts[3] == "resolve":
            repo = self.repos.get(f"{parts[1]}/{parts[2]}")
            data = None if repo is None else repo["files"].get(unquote("/".join(parts[5:])))
            if data is None:
                return self._send(h, 404, {"error": "Entry not found"})
            rng = h.headers.get("Range")
            status, chunk = 200, data
            if rng and rng.startswith("bytes="):
                a, _, b = rng[6:].partition("-")
                start, end = int(a or 0), int(b) if b else len(data) - 1
                status, chunk = 206, data[start : end + 1]
            return self._send_bytes(h, status, b"" if method == "HEAD" else chunk, len(chunk), len(data))
        if len(parts) < 4 or parts[:2] != ["api", "datasets"]:
            return self._send(h, 404, {"error": "no route"})
        repo_id = f"{parts[2]}/{parts[3]}"
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._send(h, 404, {"error": f"Repository {repo_id} not found"})
        files = repo["files"]
        sha = f"{repo['commits']:040x}"
        rest = parts[4:]
        if not rest or rest[0] == "revision":
            return self._send(h, 200, {"id": repo_id, "sha": sha, "private": repo["private"],
                                       "siblings": [{"rfilename": f} for f in sorted(files)]})
        if rest[0] == "tree":
            base = unquote("/".join(rest[2:])).strip("/")
            recursive = query.get("recursive", ["False"])[0].lower() == "true"
            out, seen = [], set()
            for f in sorted(files):
                if base and not f.startswith(base + "/"):
                    continue
                rel = f[len(base) + 1 :] if base else f
                if recursive or "/" not in rel:
                    out.append(self._entry(files, f))
                if "/" in rel:
                    dirs = rel.split("/")[:-1] if recursive else rel.split("/")[:1]
                    for i in range(len(dirs)):
                        d = "/".join(filter(None, [base, *dirs[: i + 1]]))
                        if d not in seen:
                            seen.add(d)
                            out.append(self._entry(files, d))
            return self._send(h, 200, out)
        if rest[0] == "paths-info":
            form = parse_qs(body.decode())
            paths = form.get("paths", [])
            return self._send(h, 200, [e for e in (self._entry(files, p) for p in paths) if e is not None])
        return self._send(h, 404, {"error": "no route"})

    def _send_bytes(self, h, status: int, data: bytes, length: int, total: int) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", str(length))
            h.send_header("Accept-Ranges", "bytes")
            if status == 206:
                h.send_header("Content-Range", f"bytes */{total}")
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

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

    def _send(self, h, status: int, obj) -> None:
        data = json.dumps(obj).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
