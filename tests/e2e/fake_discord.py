"""A fake Discord on 127.0.0.1 for end-to-end tests of the real bot process.

One aiohttp app serves the REST API under ``/api/v10``, the gateway websocket at ``/gateway``
and attachment downloads under ``/cdn/``, as ../shared/docs/discord-offline-testing.md says.
It runs on its own event loop in a background thread, so tests stay synchronous and can drive
a bot subprocess. Every request (and every frame the bot sends on the gateway) is recorded;
tests block on :meth:`FakeDiscord.wait_for` until a matching one arrives.

Like Discord it refuses a first acknowledgement later than 3 s after the interaction
(10062 Unknown interaction), a second acknowledgement (40060) and a followup before any
acknowledgement (10015); the first followup after a deferral becomes the deferred message and
keeps the deferral's ephemerality, whatever flags the followup asks for.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

EPHEMERAL = 64
DISCORD_EPOCH_MS = 1_420_070_400_000


@dataclass
class Part:
    """One file of a multipart body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Request:
    """One recorded request; gateway frames from the bot have method ``"WS"``."""

    method: str
    path: str  # without /api/v10 for REST
    query: dict[str, str]
    json: Any
    files: list[Part] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)
    status: int = 0
    response: Any = None


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only if Content-Type is exactly application/json.
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status)


class FakeDiscord:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.app_id = self.snowflake()
        self.bot_user = self.user(self.app_id, "boxdrec")
        self.owner = self.user(self.snowflake(), "owner")
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.token = "fake.bot.token"
        self.requests: list[Request] = []
        self.cdn: dict[str, bytes] = {}
        self.cdn_delays: dict[str, float] = {}  # path -> seconds before the CDN answers
        # path -> ("status", code): answer that error; ("reset", n): drop the connection after
        # the first n bytes of the body, its full Content-Length already announced.
        self.cdn_faults: dict[str, tuple[str, int]] = {}
        self.failures: list[list[Any]] = []  # [method, path regex, times left, status, body]
        self.ack_deadline = 3.0
        self.interactions: dict[str, dict[str, Any]] = {}  # token -> state
        self.messages: dict[str, dict[str, Any]] = {}  # id -> latest payload the fake returned
        self._cond = threading.Condition()
        self._seq = itertools.count(1)
        self._dm_channels: dict[str, str] = {}  # user id -> DM channel id
        self._ws: web.WebSocketResponse | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeDiscord:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{tail:.*}", self._cdn)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- configuration -----------------------------------------------------------------------

    def add_cdn_file(self, filename: str, data: bytes | None) -> str:
        """Serve ``data`` (None: a 404) and return its signed-looking attachment url."""
        path = f"attachments/{self.channel_id}/{self.snowflake()}/{filename}"
        if data is not None:
            self.cdn[path] = data
        return f"http://127.0.0.1:{self.port}/cdn/{path}?ex=6a1b2c3d&is=6a1a1a1a&hm=00ff"

    def fail_next(
        self, method: str, path_regex: str, status: int, times: int = 1, code: int = 0, text=""
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (e.g. 500)."""
        body = {"message": text or f"{status}: injected by the test", "code": code}
        self.failures.append([method, path_regex, times, status, body])

    def rate_limit_next(self, method: str, path_regex: str, retry_after: float = 0.3) -> None:
        """Answer the next matching request 429 as Discord's edge does (with a Via header,
        which tells discord.py it is a real rate limit to wait out, not a Cloudflare ban)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after,
                "global": False, "code": 0}  # fmt: skip
        self.failures.append([method, path_regex, 1, 429, body])

    def hang_cdn(self, url: str, seconds: float) -> None:
        """Make the download of attachment ``url`` take ``seconds`` before answering."""
        self.cdn_delays[self._cdn_path(url)] = seconds

    def fail_cdn(self, url: str, status: int) -> None:
        """Make the download of attachment ``url`` fail with ``status`` (e.g. 503)."""
        self.cdn_faults[self._cdn_path(url)] = ("status", status)

    def reset_cdn(self, url: str, after: int) -> None:
        """Make the download of attachment ``url`` stop after ``after`` bytes of the body: the
        connection is dropped mid-body, as when a TCP reset hits a long download."""
        self.cdn_faults[self._cdn_path(url)] = ("reset", after)

    @staticmethod
    def _cdn_path(url: str) -> str:
        return url.split("/cdn/", 1)[1].split("?", 1)[0]

    def expire(self, token: str) -> None:
        """The interaction's 15 minutes are over: its token no longer works."""
        self.interactions[token]["expired"] = True

    def drop_gateway(self, code: int = 4000) -> None:
        """Close the bot's gateway connection (it should reconnect and resume)."""
        ws = self._ws
        assert ws is not None
        asyncio.run_coroutine_threadsafe(ws.close(code=code), self._loop).result(10)

    # -- waiting on what the bot did ---------------------------------------------------------

    def wait_for(
        self, pred: Callable[[Request], bool], timeout: float = 30, start: int = 0
    ) -> Request:
        """The first recorded request from index ``start`` on that satisfies ``pred``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for req in self.requests[start:]:
                    if pred(req):
                        return req
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching request within {timeout} s")
                self._cond.wait(left)

    def _record(self, req: Request) -> None:
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()

    # -- payload builders --------------------------------------------------------------------

    def snowflake(self) -> str:
        now = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((now << 22) + next(self._ids))

    @staticmethod
    def user(uid: str, name: str) -> dict[str, Any]:
        return {"id": uid, "username": name, "global_name": name.title(), "avatar": None,
                "discriminator": "0", "bot": name == "boxdrec", "public_flags": 0}  # fmt: skip

    def member(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"user": user, "roles": [], "joined_at": "2024-01-01T00:00:00+00:00", "deaf": False,
                "mute": False, "flags": 0, "pending": False, "nick": None, "avatar": None,
                "premium_since": None, "communication_disabled_until": None,
                "permissions": "2248473465835073"}  # fmt: skip

    def _interaction(self, kind: int, data: dict, user: dict | None, dm: bool) -> dict:
        user = user or self.user("4242", "alice")
        payload = {
            "id": self.snowflake(), "application_id": self.app_id, "type": kind,
            "token": f"itoken-{self.snowflake()}", "version": 1, "data": data,
            "app_permissions": "2248473465835073", "locale": "en-GB", "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }  # fmt: skip
        if dm:  # a DM with the bot: a user and a DM channel, no guild or member
            channel_id = self._dm_channels.setdefault(user["id"], self.snowflake())
            channel = {"id": channel_id, "type": 1, "recipients": [user]}
            return {**payload, "user": user, "channel": channel, "channel_id": channel["id"],
                    "context": 1, "authorizing_integration_owners": {"1": user["id"]}}  # fmt: skip
        channel = {"id": self.channel_id, "type": 0, "guild_id": self.guild_id, "name": "films",
                   "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                   "topic": None, "last_message_id": None, "rate_limit_per_user": 0}  # fmt: skip
        guild = {"id": self.guild_id, "locale": "en-US", "features": []}
        return {**payload, "guild_id": self.guild_id, "guild": guild, "guild_locale": "en-US",
                "channel_id": self.channel_id, "channel": channel, "member": self.member(user),
                "context": 0, "authorizing_integration_owners": {"0": self.guild_id}}  # fmt: skip

    def slash(
        self, name: str, options: list | None = None, *, user=None, resolved=None, dm=False
    ) -> dict[str, Any]:
        """A slash command by ``user`` (default alice) in the guild channel, or in a DM."""
        data = {"id": self.snowflake(), "name": name, "type": 1, "options": options or []}
        if resolved:
            data["resolved"] = resolved
        return self._interaction(2, data, user, dm)

    def recommend(
        self, filename: str, content: bytes | None, *, size: int | None = None,
        content_type: str | None = "text/csv; charset=utf-8", user=None, dm=False, **options,
    ) -> dict[str, Any]:  # fmt: skip
        """``/recommend file:<filename>`` with the bytes on the CDN (None: the CDN says 404)."""
        att_id, url = self.snowflake(), self.add_cdn_file(filename, content)
        size = len(content or b"") if size is None else size
        att = {"id": att_id, "filename": filename, "size": size, "url": url, "proxy_url": url,
               "content_type": content_type}  # fmt: skip
        opts = [{"name": "file", "type": 11, "value": att_id}]
        types = {bool: 5, int: 4, str: 3}
        opts += [{"name": k, "type": types[type(v)], "value": v} for k, v in options.items()]
        resolved = {"attachments": {att_id: att}}
        return self.slash("recommend", opts, user=user, resolved=resolved, dm=dm)

    def user_option(self, name: str, user: dict[str, Any]) -> tuple[dict, dict]:
        """A user option naming ``user`` as a member of the guild: ``(option, resolved)``, the
        resolved part carrying ``users`` and ``members`` (a member without its ``user``)."""
        member = {k: v for k, v in self.member(user).items() if k != "user"}
        option = {"name": name, "type": 6, "value": user["id"]}
        return option, {"users": {user["id"]: user}, "members": {user["id"]: member}}

    def press(self, message: dict, custom_id: str, *, user=None, dm=False) -> dict[str, Any]:
        """A click on button ``custom_id`` of ``message`` (a payload this fake returned)."""
        data = {"custom_id": custom_id, "component_type": 2}
        return {**self._interaction(3, data, user, dm), "message": message}

    def choose(
        self, message: dict, custom_id: str, values: list[str], *, user=None, dm=False
    ) -> dict[str, Any]:
        """A pick in the select menu ``custom_id`` of ``message`` (``values`` chosen)."""
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return {**self._interaction(3, data, user, dm), "message": message}

    def autocomplete(
        self, name: str, focused: str, *, user=None, dm=False, **options
    ) -> dict[str, Any]:
        """Typing in option ``focused`` of ``/name`` (an interaction of type 4): Discord asks
        the bot for choices, answered by a callback of type 8."""
        types = {bool: 5, int: 4, str: 3}
        opts = [{"name": k, "type": types[type(v)], "value": v} for k, v in options.items()]
        for opt in opts:
            if opt["name"] == focused:
                opt["focused"] = True
        data = {"id": self.snowflake(), "name": name, "type": 1, "options": opts}
        return self._interaction(4, data, user, dm)

    def message(self, body: dict, files: list[Part], msg_id: str, flags: int, channel: str):
        """The Message payload Discord would return for ``body`` (and store it by id)."""
        atts = []
        for part in files:
            url = self.add_cdn_file(part.filename or "file", part.data)
            atts.append({"id": self.snowflake(), "filename": part.filename, "url": url,
                         "proxy_url": url, "size": len(part.data),
                         "content_type": part.content_type})  # fmt: skip
        self.messages[msg_id] = msg = {
            "id": msg_id, "channel_id": channel, "author": self.bot_user,
            "content": body.get("content") or "", "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "attachments": atts, "embeds": body.get("embeds") or [],
            "pinned": False, "type": 20, "flags": flags, "webhook_id": self.app_id,
            "application_id": self.app_id, "components": body.get("components") or [],
        }  # fmt: skip
        return msg

    # -- gateway -----------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any]) -> float:
        """Send a gateway event; returns the monotonic time it was sent."""
        frame = {"op": 0, "t": event, "s": next(self._seq), "d": data}
        sent = time.monotonic()
        if event == "INTERACTION_CREATE":
            message_id = (data.get("message") or {}).get("id")
            self.interactions[data["token"]] = {"sent": sent, "ack": None,
                "message_id": message_id, "channel": data["channel_id"]}  # fmt: skip
        ws = self._ws
        assert ws is not None and not ws.closed, "the bot is not connected to the gateway"
        asyncio.run_coroutine_threadsafe(ws.send_str(json.dumps(frame)), self._loop).result(10)
        return sent

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self._record(Request("WS", "/gateway", dict(request.query), {"connect": True}))
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self._record(Request("WS", "/gateway", {}, frame))
            if frame["op"] == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif frame["op"] == 2:
                ready = {"v": 10, "user": self.bot_user, "guilds": [], "session_id": "fake",
                         "resume_gateway_url": self.gateway_url, "private_channels": [],
                         "application": {"id": self.app_id, "flags": 0}}  # fmt: skip
                s = next(self._seq)
                await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": s, "d": ready}))
            elif frame["op"] == 6:
                s = next(self._seq)
                await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": s, "d": {}}))
        self._record(Request("WS", "/gateway", {}, {"closed": ws.close_code}))
        return ws

    # -- CDN and REST ------------------------------------------------------------------------

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["tail"]
        if delay := self.cdn_delays.get(path):
            await asyncio.sleep(delay)
        data = self.cdn.get(path)
        fault, value = self.cdn_faults.get(path, ("", 0))
        if fault == "status":
            self._record(Request("GET", "/cdn/" + path, dict(request.query), None, status=value))
            return web.Response(status=value, text=f"{value}: injected by the test")
        if fault == "reset" and data is not None:
            response = web.StreamResponse(status=200)
            response.content_type = "application/octet-stream"
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[:value])
            assert request.transport is not None
            request.transport.abort()  # no more bytes, no clean end: the client sees a cut body
            self._record(Request("GET", "/cdn/" + path, dict(request.query), None, status=200,
                                 response=f"reset after {value} of {len(data)} bytes"))  # fmt: skip
            return response
        self._record(Request("GET", "/cdn/" + path, dict(request.query), None,
                             status=404 if data is None else 200))  # fmt: skip
        if data is None:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: Any = None
        files: list[Part] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":
                    body = json.loads(data)
                else:
                    ctype = part.headers.get("Content-Type")
                    files.append(Part(part.name or "", part.filename, ctype, bytes(data)))
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        req = Request(request.method, path, dict(request.query), body, files)
        response = self._injected_failure(req) or self._route(req)
        req.status = response.status
        if response.body:
            req.response = json.loads(response.body)  # type: ignore[arg-type]
        self._record(req)
        return response

    def _injected_failure(self, req: Request) -> web.Response | None:
        for failure in self.failures:
            method, regex, times, status, body = failure
            if req.method == method and re.search(regex, req.path):
                failure[2] -= 1
                if times <= 1:
                    self.failures.remove(failure)
                response = _json(body, status)
                if status == 429:
                    response.headers["Via"] = "1.1 google"
                return response
        return None

    def _route(self, req: Request) -> web.Response:
        m, p = req.method, req.path
        if m == "GET" and p == "/users/@me":
            return _json(self.bot_user)
        if m == "GET" and p == "/oauth2/applications/@me":
            return _json({"id": self.app_id, "name": "boxdrec", "description": "", "icon": None,
                          "bot_public": True, "bot_require_code_grant": False, "flags": 0,
                          "verify_key": "0" * 64, "owner": self.owner, "team": None,
                          "summary": "", "rpc_origins": []})  # fmt: skip
        if m == "GET" and p in ("/gateway", "/gateway/bot"):
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})
        if re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", p):
            if m == "PUT":
                return _json([{**c, "id": self.snowflake(), "application_id": self.app_id,
                               "version": self.snowflake()} for c in req.json])  # fmt: skip
            return _json([])
        if match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", p):
            return self._callback(match[1], match[2], req)
        if match := re.fullmatch(rf"/webhooks/{self.app_id}/([^/]+)(/messages/(.+))?", p):
            return self._webhook(match[1], match[3], req)
        return _error(404, 0, "404: Not Found (the fake does not serve this route)")

    def _callback(self, iid: str, token: str, req: Request) -> web.Response:
        state = self.interactions.get(token)
        if state is None or time.monotonic() - state["sent"] > self.ack_deadline:
            return _error(404, 10062, "Unknown interaction")
        if state["ack"] is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        kind = req.json["type"]
        data = req.json.get("data") or {}
        state["ack"] = kind
        pressed = self.messages.get(state["message_id"] or "")
        if kind in (6, 7) and pressed:  # an update keeps the message and its flags
            state["flags"] = pressed["flags"]
            state["original"] = pressed["id"]  # and @original then edits the pressed message
        else:
            state["flags"] = data.get("flags", 0) or 0
        info = {"id": iid, "type": 2, "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(state["flags"] & EPHEMERAL)}  # fmt: skip
        out: dict[str, Any] = {"interaction": info, "resource": {"type": kind}}
        if kind in (4, 5):
            msg = self._message(state, data, req.files, self.snowflake())
            state["original"], state["pending_defer"] = msg["id"], kind == 5
        elif kind == 7 and pressed:
            msg = self._message(state, {**pressed, **data}, req.files, pressed["id"])
        else:
            return _json(out)
        info["response_message_id"] = msg["id"]
        out["resource"]["message"] = msg
        return _json(out)

    def _message(self, state: dict, body: dict, files: list[Part], msg_id: str, flags=None):
        flags = state["flags"] if flags is None else flags
        return self.message(body, files, msg_id, flags, state["channel"])

    def _webhook(self, token: str, msg_id: str | None, req: Request) -> web.Response:
        state = self.interactions.get(token)
        if state is not None and state.get("expired"):
            return _error(401, 50027, "Invalid Webhook Token")
        if state is None or state["ack"] is None:
            return _error(404, 10015, "Unknown Webhook")
        body = req.json or {}
        if msg_id is None and req.method == "POST":
            if state.pop("pending_defer", False):  # the first followup fills the deferral
                msg = self._message(state, body, req.files, state["original"])
            else:
                flags = body.get("flags") or 0  # a later followup has its own flags
                msg = self._message(state, body, req.files, self.snowflake(), flags)
            state.setdefault("followups", []).append(msg["id"])
            return _json(msg)
        if msg_id == "@original":
            msg_id = state.get("original")
        msg = self.messages.get(msg_id or "")
        if msg is None or msg_id not in [state.get("original"), *state.get("followups", [])]:
            return _error(404, 10008, "Unknown Message")
        if req.method == "DELETE":
            del self.messages[msg["id"]]
            return web.Response(status=204)
        if req.method == "PATCH":
            state["pending_defer"] = False
            edited = {**msg, **{k: v for k, v in body.items() if k != "flags"}}
            msg = self._message(state, edited, req.files, msg["id"], msg["flags"])
        return _json(msg)
