"""pii-mask: a hookbox plugin in Python (componentize-py).

Masks phone numbers and e-mail addresses in chat messages before they are stored:

- OpenIM `callbackBeforeMsgModifyCommand`: `content` is a JSON string such as
  `{"content":"call me at +1 415 555 2671"}`; the answer sets a new `content` with the text
  masked (text messages, contentType 101, key `content`; @-messages, 106, key `text`).
- Tencent Cloud Chat `C2C.CallbackBeforeSendMsg` / `Group.CallbackBeforeSendMsg`: the answer
  sets a new `MsgBody` in which every `TIMTextElem` text is masked and every other element is
  kept as it was.

Nothing to mask (or any other command) is an allow. A body that is not JSON is an `err`, so
the operator's `on_error` policy decides.

Config (hookbox.toml `grants.config`):
  keep_last_digits  digits of a phone number left visible at its end (default 4)
  min_phone_digits  a run with fewer digits is not a phone number (default 7)
"""

import json
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import logging, store
from wit_world.imports.types import (
    Dialect,
    Event,
    Verdict,
    Verdict_Allow,
    Verdict_Modify,
)

# local@domain.tld; the local part keeps its first character.
EMAIL = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"
)
# An optional +, then digits in groups separated by one space, dash, dot or parenthesis.
PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[ .-]?\(?\)?[ .-]?\d)+(?!\w)")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A cheap exact pre-check, so clean text skips the scans above (the costliest part of a call
# under the WebAssembly interpreter): an e-mail address needs an "@", and a phone number needs
# at least `min_phone_digits` digits (and two), so a text with fewer cannot change.
DIGIT = re.compile(r"\d")

# Module-level state is snapshotted at build time, so this encoder is built once, not per call
# (json.dumps with arguments builds a new JSONEncoder every time). Same output.
to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

C2C_SEND = "C2C.CallbackBeforeSendMsg"
GROUP_SEND = "Group.CallbackBeforeSendMsg"
MSG_MODIFY = "callbackBeforeMsgModifyCommand"


# (keep_last_digits, min_phone_digits), read on the first text message an instance sees: an
# instance's config never changes, and each read is a round trip through the bindings.
_config: tuple[int, int] | None = None


def config() -> tuple[int, int]:
    global _config
    if _config is None:
        _config = (config_int("keep_last_digits", 4), config_int("min_phone_digits", 7))
    return _config


def config_int(key: str, default: int) -> int:
    value = store.get(key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise Err(f"pii-mask: config {key} must be a whole number, not {value!r}")
    if number < 0:
        raise Err(f"pii-mask: config {key} must not be negative")
    return number


class Masker:
    def __init__(self) -> None:
        self.keep_last, self.min_digits = config()
        self.phones = 0
        self.emails = 0

    def mask(self, text: str) -> str:
        if "@" in text:
            text = EMAIL.sub(self._email, text)
        if len(DIGIT.findall(text)) >= max(self.min_digits, 2):
            text = PHONE.sub(self._phone, text)
        return text

    def _email(self, match: re.Match) -> str:
        self.emails += 1
        return f"{match.group(1)}***@{match.group(2)}"

    def _phone(self, match: re.Match) -> str:
        found = match.group(0)
        digits = sum(c.isdigit() for c in found)
        if digits < self.min_digits or digits > 15 or ISO_DATE.fullmatch(found):
            return found
        self.phones += 1
        hide = digits - self.keep_last
        out = []
        for c in found:
            if c.isdigit() and hide > 0:
                out.append("*")
                hide -= 1
            else:
                out.append(c)
        return "".join(out)

    def summary(self) -> str:
        return f"{self.phones} phone number(s), {self.emails} e-mail address(es)"


def parse(event: Event) -> dict:
    try:
        body = json.loads(event.payload)
    except ValueError as e:
        raise Err(f"pii-mask: {event.command} body is not JSON: {e}")
    if not isinstance(body, dict):
        raise Err(f"pii-mask: {event.command} body is not a JSON object")
    return body


def openim_msg_modify(body: dict) -> Verdict:
    content = body.get("content")
    if not isinstance(content, str):
        return Verdict_Allow()
    try:
        inner = json.loads(content)
    except ValueError:
        return Verdict_Allow()  # not a JSON content: not a text message
    key = {101: "content", 106: "text"}.get(body.get("contentType"))
    if not isinstance(inner, dict) or key is None or not isinstance(inner.get(key), str):
        return Verdict_Allow()
    masker = Masker()
    masked = masker.mask(inner[key])
    if masked == inner[key]:
        return Verdict_Allow()
    inner[key] = masked
    logging.log(
        logging.Level.INFO,
        "pii-mask",
        f"masked {masker.summary()} in a message from {body.get('sendID', '?')}",
    )
    fields = {"content": to_json(inner)}
    return Verdict_Modify(to_json(fields))


def tencent_before_send(body: dict) -> Verdict:
    elements = body.get("MsgBody")
    if not isinstance(elements, list):
        return Verdict_Allow()
    masker = Masker()
    changed = False
    for element in elements:
        if not isinstance(element, dict) or element.get("MsgType") != "TIMTextElem":
            continue
        content = element.get("MsgContent")
        if not isinstance(content, dict) or not isinstance(content.get("Text"), str):
            continue
        masked = masker.mask(content["Text"])
        if masked != content["Text"]:
            content["Text"] = masked
            changed = True
    if not changed:
        return Verdict_Allow()
    logging.log(
        logging.Level.INFO,
        "pii-mask",
        f"masked {masker.summary()} in a message from {body.get('From_Account', '?')}",
    )
    return Verdict_Modify(to_json({"MsgBody": elements}))


class Handler(exports.Handler):
    def handle(self, event: Event) -> Verdict:
        if event.dialect == Dialect.OPENIM and event.command == MSG_MODIFY:
            return openim_msg_modify(parse(event))
        if event.dialect == Dialect.TENCENT and event.command in (C2C_SEND, GROUP_SEND):
            return tencent_before_send(parse(event))
        return Verdict_Allow()
