"""A fake LLM provider on 127.0.0.1 speaking both wires (openai under /openai/v1, anthropic under
/anthropic) over real sockets, recording every request; the request's model name picks the scenario."""
# http.server rather than Werkzeug: some scenarios need the socket itself (an answer ended by
# closing the connection, a stream cut mid-chunk, noticing a client that left).
#
# Scenarios by model: anything else echoes the last user message; "json" answers (whole) the first
# tool call's arguments as JSON text; "tools-cut" (whole) a tool call cut off by the output limit; "tools" streams two tool calls
# in split chunks; "fail-NNN" answers status NNN; "garbage" is not JSON (nor SSE); "slow" waits
# `slow_seconds` first; "stall" pauses `slow_seconds` mid-stream; "cut" drops the connection
# mid-stream, "cut-clean" ends the body without [DONE]/message_stop; "stream-error" sends an error
# event mid-stream; "drip" sends `drip_count` pieces `drip_interval` apart, "close-delimited" the
# same with neither length nor chunking; "long" 200 pieces 50 ms apart (for disconnect tests);
# "linger" keeps the body open `slow_seconds` after [DONE]/message_stop.
# The models lists play `models_scenario` ("fail-NNN", "garbage", "slow", "empty", or a hostile one).
#
# Hostile scenarios, for the vault's upstream limits; each stops by itself after `hostile_bytes`
# or `hostile_seconds`, or when the client leaves: "endless-line" streams `data: xxx…` without a
# newline; "endless-events" tiny text deltas as fast as the socket takes them, never done;
# "endless-tools" one tool call whose arguments never end; "huge-body" one JSON answer (streamed:
# one event of 16 KiB data lines) that never ends; "gzip-bomb" a small gzip body (Content-Length
# set) inflating to `bomb_bytes` of one answer or one event; "gzip-bomb-error" a status 500 whose
# 32 KiB gzip body inflates to 32 MiB; "drip-feed" a stream (whole: leading spaces) sent one byte
# every `drip_feed_interval` seconds.
import base64
import itertools
import json
import select
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

OPENAI_MODELS = ("gpt-4o-mini", "echo", "tools")
ANTHROPIC_MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5")
TOOL_CALLS = (("get_weather", {"city": "Paris", "unit": "celsius"}),
              ("get_time", {"zone": "Europe/Paris"}))
BODY_MARKER = "UPSTREAM-BODY-MARKER"  # in every error body: our messages must never repeat it
HOSTILE = ("endless-line", "endless-events", "endless-tools", "huge-body", "gzip-bomb", "gzip-bomb-error",
           "drip-feed")
MIB = 1024 * 1024


class FakeProvider:
    def __init__(self, host="127.0.0.1"):  # any loopback address: 127.0.0.2 plays another host
        self.server = _Server((host, 0), _Handler)
        self.server.fake = self
        port = self.server.server_address[1]
        self.openai_base = f"http://{host}:{port}/openai/v1"
        self.anthropic_base = f"http://{host}:{port}/anthropic"
        self.lock = threading.Lock()
        self.reset()

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-provider").start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        self.calls = []            # one dict per request, in arrival order
        self.valid_keys = None     # None: any non-empty key; else only these
        self.allow_no_key = False  # True: a request without a key is served (auth_type none)
        self.retry_after = "7"  # what a 429 says, as Retry-After
        self.models_scenario = ""  # the models lists play this scenario ("fail-500", "garbage", "slow")
        self.slow_seconds = 2.0
        self.drip_interval, self.drip_count = 0.1, 5
        self.hostile_bytes, self.hostile_seconds = 256 * MIB, 20.0  # where a hostile scenario stops
        self.bomb_bytes, self.drip_feed_interval = 256 * MIB, 0.005
        self.hostile_sent = {}     # model -> bytes a hostile scenario sent, when it stopped
        self.connections = 0       # TCP connections accepted
        self.disconnects = []      # time.monotonic() when a streaming client was seen gone
        self.client_gone = threading.Event()

    def target(self, provider="openai", model="echo", key="sk-test-0000", key_source="model", auth_type=None):
        """A resolver Target pointing at this fake (key=None: no key)."""
        from vault.crypto import Plaintext
        from vault.providers import PROVIDERS
        from vault.resolver import Target
        entry = PROVIDERS[provider]
        base = self.anthropic_base if entry.wire == "anthropic" else self.openai_base
        return Target(provider, base, auth_type or entry.auth_type, key and Plaintext(key), key_source, model)

    def bomb(self, stream):
        """The gzip bomb of scenario "gzip-bomb": one stream event, or one whole answer."""
        opening, end = (b"data: ", b"\n\n") if stream else (WHOLE_OPENING, WHOLE_END)
        return gzip_bomb(opening, self.bomb_bytes, end)

    def keys_seen(self):
        return [call["key"] for call in self.calls]

    def record(self, handler, wire, key, body):
        with self.lock:
            self.calls.append({"path": handler.path, "method": handler.command, "wire": wire, "key": key,
                               "headers": {k.lower(): v for k, v in handler.headers.items()},
                               "json": body, "client_port": handler.client_address[1],
                               "at": time.monotonic()})

    def gone(self):
        with self.lock:
            self.disconnects.append(time.monotonic())
        self.client_gone.set()


class _Server(ThreadingHTTPServer):
    daemon_threads, block_on_close = True, False
    request_queue_size = 512  # load tests open hundreds of connections at once

    def handle_error(self, request, client_address):
        pass  # clients that time out or leave are what several tests do on purpose


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be seen

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this Nagle holds the body ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.fake.lock:
            self.server.fake.connections += 1

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def _route(self):
        fake, path = self.server.fake, self.path.split("?")[0]
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        for prefix, wire in (("/openai/v1", OpenAIWire), ("/anthropic", AnthropicWire)):
            if path.startswith(prefix + "/"):
                wire(self, fake).handle(self.command, path[len(prefix):], body)
                return
        self.send_json(404, {"error": {"message": "no such route"}})

    # -- writing ------------------------------------------------------------------------------

    def send_json(self, status, data, raw=None, headers=()):
        payload = raw if raw is not None else json.dumps(data).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def send_stream(self, frames, waits=0.0, mode="chunked", split=False, linger=0.0):
        """Writes SSE frames, waiting `waits` seconds between them (or waits[i] before frame i);
        mode "close" ends the body by closing, "cut" drops it half-way, "open" ends the chunked
        body normally. Notes a client that went away."""
        waits = waits if isinstance(waits, list) else [0.0] + [waits] * (len(frames) - 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if mode == "close":
            self.send_header("Connection", "close")
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = mode in ("close", "cut")
        try:
            for number, frame in enumerate(frames):
                if waits[number] and self._client_left(waits[number]):
                    return self.server.fake.gone()
                for part in ((frame[:len(frame) // 2], frame[len(frame) // 2:]) if split else (frame,)):
                    self.wfile.write(part if mode == "close" else b"%x\r\n%s\r\n" % (len(part), part))
            if linger and self._client_left(linger):  # the events are done, the body not yet
                return self.server.fake.gone()
            if mode in ("chunked", "open"):
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
            self.server.fake.gone()

    def send_endless(self, model, parts, content_type, interval=0.0):
        """Writes `parts` as one chunked body (a part every `interval` seconds) until the client
        leaves, or hostile_bytes are sent, or hostile_seconds have passed."""
        fake = self.server.fake
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        self.connection.settimeout(fake.hostile_seconds)  # a client that stops reading ends it too
        sent, ends = 0, time.monotonic() + fake.hostile_seconds
        try:
            for part in parts:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
                if sent >= fake.hostile_bytes or time.monotonic() > ends:
                    break
                if interval and self._client_left(interval):
                    break
        except OSError:
            pass
        fake.hostile_sent[model] = sent

    def send_gzip(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _client_left(self, wait):
        """Waits up to `wait` seconds; True as soon as the client has closed its end."""
        readable, _, _ = select.select([self.connection], [], [], wait)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class Wire:
    """What both wires share: auth, scenarios, echo text. Subclasses shape the JSON and events."""

    def __init__(self, handler, fake):
        self.h, self.fake = handler, fake

    def handle(self, method, path, body):
        key = self.key()
        self.fake.record(self.h, self.name, key, body)
        refusal = self.refuse(key)
        if refusal:
            return self.fail(*refusal)
        if method == "GET" and path == self.models_path:
            return self.models()
        if method == "POST" and path == self.chat_path and isinstance(body, dict):
            return self.chat(body)
        if method == "POST" and path == "/embeddings" and self.name == "openai" and isinstance(body, dict):
            return self.embeddings(body)
        return self.fail(404, "not_found", "no such route")

    def embeddings(self, body):
        """Model "fail-NNN" and the hostile ones as for chat; else one 3-number vector per input
        (as base64 of float32s when asked), from the text's length and first character."""
        model = body.get("model") or ""
        if model in HOSTILE:
            return self.hostile(body, model, stream=False)
        if self.common(model, stream=False):
            return
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(inputs):
            text = text if isinstance(text, str) else " " * len(text)  # token ids
            vector = [float(len(text)), float(ord(text[0]) if text else 0), 0.5]
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack("<3f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(str(i).split()) for i in inputs)
        self.h.send_json(200, {"object": "list", "data": data, "model": model,
                               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def refuse(self, key):
        if not key and not self.fake.allow_no_key:
            return 401, "authentication_error", "missing key"
        if key and self.fake.valid_keys is not None and key not in self.fake.valid_keys:
            return 401, "authentication_error", "invalid key"
        return None

    def fail(self, status, kind, message):
        wait = [("Retry-After", self.fake.retry_after)] if status == 429 and self.fake.retry_after else []
        self.h.send_json(status, self.error_body(kind, f"{message} {BODY_MARKER}"), headers=wait)

    def models(self):
        scenario = self.fake.models_scenario
        if scenario in HOSTILE:
            return self.hostile({}, scenario, stream=False)
        if self.common(scenario, stream=False):
            return
        self.h.send_json(200, {"object": "list", "data": []} if scenario == "empty" else self.model_list())

    def common(self, model, stream):
        """The scenarios both wires play the same way; True when the answer has been sent."""
        if model.startswith("fail-"):
            self.fail(int(model[5:]), "api_error", "failure on request")
            return True
        if model == "slow":
            time.sleep(self.fake.slow_seconds)
        if model == "garbage":
            if stream:
                self.h.send_stream([b"data: {not json at all\n\n", b"event: ?\ndata: <<<\n\n"])
            else:
                self.h.send_json(200, None, raw=b"<html>this is not json {")
            return True
        return False

    def chat(self, body):
        model, stream = str(body.get("model") or ""), bool(body.get("stream"))
        if model in HOSTILE:
            return self.hostile(body, model, stream)
        if self.common(model, stream):
            return
        if not stream:
            return self.h.send_json(200, self.answer(body, model))
        pieces, interval, mode = self.pieces(body, model)
        frames = self.tool_frames(body) if model == "tools" else self.text_frames(body, pieces, model)
        if model == "cut":  # the connection drops half-way through the chunked body
            frames, mode = frames[:max(2, len(frames) // 2)], "cut"
        elif model == "cut-clean":  # the body ends properly, but without [DONE] / message_stop
            frames, mode = frames[:-1], "open"
        if model == "stall":  # one long pause, after the first piece
            interval = [self.fake.slow_seconds if b"after" in frame else 0.0 for frame in frames]
        linger = self.fake.slow_seconds if model == "linger" else 0.0
        self.h.send_stream(frames, interval, mode, split=model == "tools", linger=linger)

    def pieces(self, body, model):
        if model in ("drip", "close-delimited"):
            pieces = [f"piece{i} " for i in range(self.fake.drip_count)]
            return pieces, self.fake.drip_interval, "close" if model == "close-delimited" else "chunked"
        if model == "long":
            return [f"piece{i} " for i in range(200)], 0.05, "chunked"
        if model == "stall":
            return ["before ", "after"], 0.0, "chunked"
        words = self.echo(body).split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)], 0.0, "chunked"

    def hostile(self, body, model, stream):
        fake, kind = self.fake, "text/event-stream" if stream else "application/json"
        if model == "gzip-bomb-error":
            return self.h.send_gzip(500, "application/json", gzip_bomb(*ERROR_BOMB))
        if model == "gzip-bomb":
            return self.h.send_gzip(200, kind, fake.bomb(stream))
        if model == "drip-feed":
            text = b"".join(self.text_frames(body, ["drip"], "echo")[:-1]) if stream else b" "
            parts = (bytes([byte]) for byte in itertools.cycle(text))
            return self.h.send_endless(model, parts, kind, fake.drip_feed_interval)
        if model == "endless-line":
            parts = itertools.chain([b"data: "], itertools.repeat(b"x" * 65536))
        elif model == "huge-body":
            line = b"data: " + b"x" * (16 * 1024 - 7) + b"\n"
            parts = itertools.repeat(line * 4) if stream else itertools.chain(
                [WHOLE_OPENING], itertools.repeat(b"x" * 65536))
        elif model == "endless-events":
            start, tick = self.endless_text(body)
            parts = itertools.chain([start], itertools.repeat(tick * (16384 // len(tick))))
        else:  # endless-tools
            start, tick = self.endless_tool(body)
            parts = itertools.chain([start], itertools.repeat(tick * (16384 // len(tick))))
        self.h.send_endless(model, parts, kind)

    def echo(self, body):
        for message in reversed(body.get("messages") or []):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
                return f"Echo: {content}"
        return "Echo: nothing"

    def prompt_tokens(self, body):
        return len(json.dumps(body.get("messages") or []).split())

    def sse(self, data, event=None):
        head = f"event: {event}\n" if event else ""
        return f"{head}data: {json.dumps(data) if not isinstance(data, str) else data}\n\n".encode()


class OpenAIWire(Wire):
    name, models_path, chat_path = "openai", "/models", "/chat/completions"

    def key(self):
        auth = self.h.headers.get("authorization") or ""
        if auth.startswith("Bearer "):
            return auth[7:]
        return self.h.headers.get("api-key") or self.h.headers.get("x-api-key")  # Azure; custom

    def error_body(self, kind, message):
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def model_list(self):
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 1700000000,
                                            "owned_by": "fake"} for m in OPENAI_MODELS]}

    def answer(self, body, model):
        message, reason = {"role": "assistant", "content": self.echo(body)}, "stop"
        if model == "json":  # what a structured-output request would get
            message["content"] = json.dumps(TOOL_CALLS[0][1])
        if model == "tools-cut":  # the output limit stopped it half-way through a tool call
            message["tool_calls"], reason = [{"id": "call_0", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city": "Pa'}}], "length"
        if model == "tools":
            message["content"], reason = None, "tool_calls"
            message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(args)}}
                                     for i, (name, args) in enumerate(TOOL_CALLS)]
        usage = {"prompt_tokens": self.prompt_tokens(body), "completion_tokens": 7, "total_tokens": 0}
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": reason}], "usage": usage}

    def chunk(self, body, delta, reason=None):
        return self.sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
                         "model": body.get("model"),
                         "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]})

    def ending(self, body, reason, completion):
        frames = [self.chunk(body, {}, reason)]
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": self.prompt_tokens(body), "completion_tokens": completion}
            frames.append(self.sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                                    "choices": [], "usage": usage}))
        return frames + [b"data: [DONE]\n\n"]

    def text_frames(self, body, pieces, model):
        frames = [self.chunk(body, {"role": "assistant", "content": ""})]
        frames += [self.chunk(body, {"content": piece}) for piece in pieces]
        if model == "stream-error":
            return frames[:2] + [self.sse({"error": {"message": f"overloaded {BODY_MARKER}"}})]
        return frames + self.ending(body, "stop", len(pieces))

    def endless_text(self, body):
        return self.chunk(body, {"role": "assistant", "content": ""}), self.chunk(body, {"content": "."})

    def endless_tool(self, body):
        start = self.chunk(body, {"tool_calls": [{"index": 0, "id": "call_0", "type": "function",
                                                  "function": {"name": "get_weather", "arguments": ""}}]})
        return start, self.chunk(body, {"tool_calls": [{"index": 0, "function": {"arguments": "x" * 64}}]})

    def tool_frames(self, body):
        frames = [self.chunk(body, {"role": "assistant", "content": None})]
        for index, (name, args) in enumerate(TOOL_CALLS):
            text = json.dumps(args)
            frames.append(self.chunk(body, {"tool_calls": [{"index": index, "id": f"call_{index}",
                          "type": "function", "function": {"name": name, "arguments": ""}}]}))
            for part in (text[:5], text[5:12], text[12:]):
                frames.append(self.chunk(body, {"tool_calls": [{"index": index,
                              "function": {"arguments": part}}]}))
        return frames + self.ending(body, "tool_calls", 9)


class AnthropicWire(Wire):
    name, models_path, chat_path = "anthropic", "/v1/models", "/v1/messages"

    def key(self):
        return self.h.headers.get("x-api-key")

    def refuse(self, key):
        if key and not self.h.headers.get("anthropic-version"):
            return 400, "invalid_request_error", "anthropic-version header is required"
        return super().refuse(key)

    def error_body(self, kind, message):
        return {"type": "error", "error": {"type": kind, "message": message}}

    def model_list(self):
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in ANTHROPIC_MODELS]
        return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}

    def chat(self, body):
        if not isinstance(body.get("max_tokens"), int):
            return self.fail(400, "invalid_request_error", "max_tokens: Field required")
        if any(m.get("role") not in ("user", "assistant") for m in body.get("messages") or []):
            return self.fail(400, "invalid_request_error", "messages: roles must be user or assistant")
        return super().chat(body)

    def usage(self, body, output):
        return {"input_tokens": self.prompt_tokens(body), "output_tokens": output}

    @staticmethod
    def forced(body):
        """The tool a request forces (tool_choice {"type": "tool"}): answered with the first tool
        call's arguments as its input, as a model would fill a JSON schema."""
        choice = body.get("tool_choice") or {}
        return choice.get("name") if choice.get("type") == "tool" else None

    def answer(self, body, model):
        content, reason = [{"type": "text", "text": self.echo(body)}], "end_turn"
        if self.forced(body):
            content, reason = [{"type": "tool_use", "id": "toolu_f", "name": self.forced(body),
                                "input": TOOL_CALLS[0][1]}], "tool_use"
        if model == "tools":
            content, reason = [{"type": "text", "text": "Let me check."}], "tool_use"
            content += [{"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
                        for i, (name, args) in enumerate(TOOL_CALLS)]
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": reason, "stop_sequence": None, "usage": self.usage(body, 7)}

    def event(self, kind, **data):
        return self.sse({"type": kind, **data}, kind)

    def start(self, body):
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"),
                   "content": [], "stop_reason": None, "stop_sequence": None, "usage": self.usage(body, 1)}
        return [self.event("message_start", message=message), self.event("ping")]

    def text_block(self, index, pieces):
        frames = [self.event("content_block_start", index=index, content_block={"type": "text", "text": ""})]
        frames += [self.event("content_block_delta", index=index, delta={"type": "text_delta", "text": p})
                   for p in pieces]
        return frames + [self.event("content_block_stop", index=index)]

    def ending(self, reason, output):
        return [self.event("message_delta", delta={"stop_reason": reason, "stop_sequence": None},
                           usage={"output_tokens": output}), self.event("message_stop")]

    def text_frames(self, body, pieces, model):
        if self.forced(body):
            text = json.dumps(TOOL_CALLS[0][1])
            block = {"type": "tool_use", "id": "toolu_f", "name": self.forced(body), "input": {}}
            return (self.start(body) + [self.event("content_block_start", index=0, content_block=block)]
                    + [self.event("content_block_delta", index=0, delta={"type": "input_json_delta",
                                                                         "partial_json": part})
                       for part in (text[:7], text[7:])]
                    + [self.event("content_block_stop", index=0)] + self.ending("tool_use", 5))
        frames = self.start(body) + self.text_block(0, pieces)
        if model == "stream-error":
            error = {"type": "overloaded_error", "message": f"Overloaded {BODY_MARKER}"}
            return frames[:4] + [self.event("error", error=error)]
        return frames + self.ending("end_turn", len(pieces))

    def endless_text(self, body):
        start = self.start(body) + self.text_block(0, [])[:1]
        tick = self.event("content_block_delta", index=0, delta={"type": "text_delta", "text": "."})
        return b"".join(start), tick

    def endless_tool(self, body):
        block = {"type": "tool_use", "id": "toolu_0", "name": "get_weather", "input": {}}
        start = self.start(body) + [self.event("content_block_start", index=0, content_block=block)]
        return b"".join(start), self.event("content_block_delta", index=0,
                                           delta={"type": "input_json_delta", "partial_json": "x" * 64})

    def tool_frames(self, body):
        frames = self.start(body) + self.text_block(0, ["Let me", " check."])
        for index, (name, args) in enumerate(TOOL_CALLS, start=1):
            text = json.dumps(args)
            block = {"type": "tool_use", "id": f"toolu_{index - 1}", "name": name, "input": {}}
            frames.append(self.event("content_block_start", index=index, content_block=block))
            frames += [self.event("content_block_delta", index=index,
                                  delta={"type": "input_json_delta", "partial_json": part})
                       for part in ("", text[:5], text[5:12], text[12:])]
            frames.append(self.event("content_block_stop", index=index))
        return frames + self.ending("tool_use", 9)


WHOLE_OPENING = (b'{"id":"x","object":"chat.completion","choices":[{"index":0,'
                 b'"message":{"role":"assistant","content":"')
WHOLE_END = b'"},"finish_reason":"stop"}]}'
ERROR_BOMB = (b'{"error":{"type":"api_error","message":"' + BODY_MARKER.encode(), 32 * MIB, b'"}}')
_bombs = {}
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, unknown OS


def gzip_bomb(opening, size, end):
    """opening + `size` spaces + end, gzipped (~1 KiB per MiB); made once per process. Deflate
    forgets what came before at a full flush, so each MiB of spaces packs to the same bytes: packed
    once and repeated, ten times faster than packing 256 MiB."""
    key = (opening, size, end)
    if key not in _bombs:
        block, blocks = b" " * MIB, size // MIB
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the gzip frame is made here
        head = packer.compress(opening) + packer.flush(zlib.Z_FULL_FLUSH)
        piece = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
        crc = zlib.crc32(opening)
        for _ in range(blocks):
            crc = zlib.crc32(block, crc)
        length = len(opening) + blocks * MIB + len(end)
        _bombs[key] = b"".join([GZIP_HEADER, head, piece * blocks, packer.compress(end), packer.flush(),
                                struct.pack("<II", zlib.crc32(end, crc), length % 2**32)])
    return _bombs[key]


@pytest.fixture(scope="session")
def fake_provider_server():
    fake = FakeProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_provider(fake_provider_server):
    """The running fake provider, with its records and settings reset for this test."""
    fake_provider_server.reset()
    return fake_provider_server


@pytest.fixture(scope="session")
def refused_url():
    """A base URL on 127.0.0.1 where nothing listens: the port stays bound, never listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()
