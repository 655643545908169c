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
description as JSON, unique per prompt), "tags" (a JSON list of skill tags: the first
`tag_replies` entry whose key is in the prompt, else ["general_knowledge"]), "tags_broken"
(a prose refusal with no tags), "rerank" (the numbered candidates of a rerank prompt, last
first, as a JSON list), "drop" (closes the connection without an answer, like a
replica that crashed), "realistic" (a conversation built from
the prompt's skills and seed examples, varied by the request's `seed`: see
`realistic_conversation`), "one_word" (the last realistic conversation with one word
replaced), "copy_seed" (a realistic conversation whose user turn is the first seed example),
"insert:TEXT" (a realistic conversation with TEXT appended to the user turn). A judge prompt
(the quality stage's rubric) answered "ok" gets a verdict ("judge_json"); "judge_fenced",
"judge_prose", "judge_broken" (truncated JSON) and "judge_garbage" (no score) are the other
forms. The fake judge calls a skill exercised when a word of its name (4+ letters) appears in
the conversation, scores 9 minus 3 per missing skill, and 2 when the conversation contains
LOWSCORE. `reject_response_format = True` answers 400 to requests carrying `response_format`.
The agent pre-filter's prompt answered "ok" (or "agent_yes") says agentic, "agent_no" says
not. After the script runs out, `markers` (substring of the prompt -> behaviour) then
`default` decide. `bodies` keeps every request body.
Run standalone: `python tests/fake_openai_server.py` prints the base URL and serves.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler

from loopback_server import LoopbackServer


class FakeOpenAI(LoopbackServer):
    def __init__(self, default: str = "ok", retry_after: str = "0", hang_seconds: float = 5.0, delay: float = 0.0,
                 trickle_seconds: float = 4.0):
        super().__init__()
        self.default = default
        self.trickle_seconds = trickle_seconds
        self.trickle_aborted = 0  # trickled answers the client hung up on
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.delay = delay  # seconds before every answer (to widen kill windows)
        self.script: list[str] = []
        self.markers: dict[str, str] = {}
        self.tag_replies: dict[str, list[str]] = {}  # prompt substring -> tags ("tags" behaviour)
        self.requests = 0
        self.log: list[dict] = []  # {"behaviour", "model", "authorization", "prompt"}
        self.bodies: list[dict] = []
        self.reject_response_format = False
        self.last_conv: dict | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def stop(self) -> None:
        self._stop.set()
        super().stop()

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

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
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
            self.bodies.append(req)
        if self.delay:
            self._stop.wait(self.delay)
        if self.reject_response_format and "response_format" in req:
            return self._send(h, 400, {"error": {"message": "response_format json_schema is not supported"}})
        if AGENT_MARKER in prompt and behaviour in ("ok", "agent_yes", "agent_no"):
            agentic = behaviour != "agent_no"
            answer = json.dumps({"agentic": agentic, "reason": "fake filter: " + ("yes" if agentic else "no")})
            return self._send(h, 200, self._body(answer, model, prompt))
        if JUDGE_MARKER in prompt and (behaviour == "ok" or behaviour.startswith("judge_")):
            behaviour = "judge_json" if behaviour == "ok" else behaviour
            return self._send(h, 200, self._body(judge_answer(prompt, behaviour), model, prompt))
        if behaviour == "429":
            return self._send(h, 429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                              {"Retry-After": self.retry_after})
        if behaviour == "500":
            return self._send(h, 500, {"error": {"message": "server exploded"}})
        if behaviour == "echo_key":
            return self._send(h, 401, {"error": {"message": f"Incorrect API key provided: {auth.removeprefix('Bearer ')}"}})
        if behaviour == "drop":
            h.close_connection = True
            return
        if behaviour == "hang":
            self._stop.wait(self.hang_seconds)
            behaviour = "ok"
        if behaviour == "bad_body":
            return self._send_raw(h, 200, b"{not json at all")
        if behaviour in ("realistic", "one_word", "copy_seed") or behaviour.startswith("insert:"):
            conv = realistic_conversation(prompt, req.get("seed"))
            with self._lock:
                if behaviour == "one_word" and self.last_conv is not None:
                    conv = json.loads(json.dumps(self.last_conv))
                    turn = conv["messages"][1]
                    turn["content"] = "Indeed, " + turn["content"].split(" ", 1)[1]  # one word replaced
                elif behaviour == "copy_seed":
                    first = _EXAMPLE_TEXT.search(prompt)
                    conv["messages"][0]["content"] = "Hi! " + (first.group(1).strip() if first else "") + " Thanks."
                elif behaviour.startswith("insert:"):
                    conv["messages"][0]["content"] += " " + behaviour[len("insert:"):]
                else:
                    self.last_conv = conv
            return self._send(h, 200, self._body(json.dumps(conv), model, prompt))
        digest = hashlib.sha256((prompt + ("" if req.get("seed") is None else f"#{req['seed']}")).encode()).hexdigest()[:12]
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
        if behaviour == "tags":
            tags = next((t for m, t in self.tag_replies.items() if m in prompt), ["general_knowledge"])
            content = json.dumps(tags)
        elif behaviour == "rerank":
            content = json.dumps(re.findall(r"^\d+\. (.+)$", prompt, flags=re.M)[::-1])
        elif behaviour == "tags_broken":
            content = "Sorry, I cannot label this example."
        elif behaviour in ("ok", "dup", "echo_key_ok", "trickle"):
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
        if behaviour == "trickle":
            return self._trickle(h, json.dumps(self._body(content, model, prompt)).encode())
        self._send(h, 200, self._body(content, model, prompt))

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

    @staticmethod
    def _body(content: str, model: str, prompt: str) -> dict:
        return {
            "id": f"chatcmpl-{hashlib.sha256(prompt.encode()).hexdigest()[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }

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


# ---------------------------------------------------------------------------------------
# Realistic samples and a rule-based judge

JUDGE_MARKER = "You grade synthetic training conversations"
AGENT_MARKER = "ONE goal-oriented agent workflow"
_EXAMPLE = re.compile(r"^Example \d+ - skill: (.+)$", re.M)
_SKILL_LINE = re.compile(r"^- (.+)$", re.M)
_EXAMPLE_TEXT = re.compile(r"^Example 1 - skill: .+\n(.+)$", re.M)
_OPENERS = ["I'm stuck on something for work.", "Quick question before my meeting tomorrow.",
            "My team asked me to sort this out.", "I have been going back and forth on this.",
            "Could you help me with a small project?", "This came up while I was planning the week.",
            "A friend and I disagree about this.", "I need this for a report due on Friday."]
_FILLER = ("budget schedule report figures table customers week plan draft numbers version notes team "
           "project summary values list steps order cost rate total average example data chart share "
           "month results review option choice update estimate target range sample check goal detail").split()


def _skill_words(skill: str) -> list[str]:
    return [w for w in re.split(r"[_\W]+", skill.lower()) if len(w) >= 4]


def realistic_conversation(prompt: str, seed=None) -> dict:
    """A plausible multi-turn conversation built from the prompt's skills and example words,
    different for every (prompt, seed); never a copy of an example."""
    rng = random.Random(hashlib.sha256(f"{prompt}#{seed}".encode()).hexdigest())
    skills = [m.group(1).strip() for m in _EXAMPLE.finditer(prompt)] or ["the task"]
    example_words = [w for w in re.findall(r"[A-Za-z]{4,}", prompt.split("Examples:", 1)[-1])
                     if w.lower() not in ("example", "skill")] or _FILLER
    def words(n):
        return " ".join(rng.choice(example_words if rng.random() < 0.5 else _FILLER) for _ in range(n))
    numbers = [rng.randint(2, 990) for _ in range(4)]
    user = (f"{rng.choice(_OPENERS)} I have {numbers[0]} items about {words(4)} and a target of "
            f"{numbers[1]} for {words(3)}. Can you work through {words(5)} and tell me what to change?")
    parts = []
    for s in skills:
        name = s.replace("_", " ")
        parts.append(f"For the {name} part, look at {words(6)}: with {numbers[2]} of {numbers[0]} "
                     f"that is about {round(100 * numbers[2] / max(numbers[0], 1))} percent, so {words(7)}.")
    rng.shuffle(parts)
    follow = f"Thanks. What if the {words(2)} changes to {numbers[3]}?"
    answer2 = f"Then {words(8)} moves with it; redo the {skills[0].replace('_', ' ')} step with {numbers[3]} and {words(5)}."
    return {"messages": [{"role": "user", "content": user},
                         {"role": "assistant", "content": " ".join(parts)},
                         {"role": "user", "content": follow},
                         {"role": "assistant", "content": answer2}]}


def judge_answer(prompt: str, behaviour: str) -> str:
    head, _, conversation = prompt.partition("Conversation:")
    skills = _SKILL_LINE.findall(head)
    low = conversation.lower()
    verdicts = []
    for s in skills:
        used = any(w in low for w in _skill_words(s)) or s.lower() in low
        quote = next((w for w in _skill_words(s) if w in low), "")
        verdicts.append({"skill": s, "essential": used, "exercised": used, "evidence": quote})
    missing = sum(not v["exercised"] for v in verdicts)
    score = 2 if "LOWSCORE" in conversation else max(1, 9 - 3 * missing)
    verdict = {"skills": verdicts, "self_contained": True, "correct": True, "complete": missing == 0,
               "score": score, "rationale": f"{len(skills) - missing} of {len(skills)} skills used."}
    text = json.dumps(verdict)
    if behaviour == "judge_fenced":
        return "Here is my assessment.\n```json\n" + json.dumps(verdict, indent=2) + "\n```\nLet me know."
    if behaviour == "judge_prose":
        lines = [f"- {v['skill']}: essential {'yes' if v['essential'] else 'no'}, exercised "
                 f"{'yes' if v['exercised'] else 'no'} \"{v['evidence']}\"" for v in verdicts]
        return "Assessment:\n" + "\n".join(lines) + f"\nSelf-contained: yes\nOverall score: {score}/10"
    if behaviour == "judge_broken":
        return text[: max(len(text) - 25, 10)]
    if behaviour == "judge_garbage":
        return "I think this conversation is fine overall."
    return text


if __name__ == "__main__":
    srv = FakeOpenAI().start()
    print(srv.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.stop()
