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
# An optional +, then digits in groups separated by one space, dash, dot or parenthesis:
#   (?<![\w+])\+?\(?\d(?:[ .-]?\(?\)?[ .-]?\d)+(?!\w)
# written so that it finds exactly the same matches for less work (regex steps are costly
# under the WebAssembly interpreter):
# - it starts with its first character, [+(\d], so the engine skips every position that
#   cannot start a number in a fast loop instead of trying the pattern there (the lookbehind
#   moves after that character and looks two back; the branch finishes the optional "+(");
# - a run of digits is taken whole and never given back (\d++): a match can only end where
#   (?!\w) holds, never inside a run, so the shorter ends a backtrack would try all fail.
PHONE = re.compile(
    r"[+(\d](?<![\w+].)(?:(?<=\+)\(?\d|(?<=\()\d|(?<=\d))(?:[ .-]?\(?\)?[ .-]?\d++)+(?!\w)"
)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DIGIT = re.compile(r"\d")
# The characters of a phone match other than its digits, and the bytes that mask an ASCII one.
SEPARATORS = b"+() .-"
STARS = bytes.maketrans(b"0123456789", b"**********")

# json.loads and JSONEncoder.encode wrap C code (the scanner, the encoder) in Python that
# costs more than the C work on a small message: json.loads runs two whitespace regexes and
# three calls around the scanner, encode builds a new C encoder every call. These are the
# same C objects, made once at import time (componentize-py snapshots module state).
_scan = json.JSONDecoder().scan_once
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
quote = json.encoder.encode_basestring  # the string encoder _encoder uses: same bytes
if json.encoder.c_make_encoder is None:
    _encode = None
else:
    # No circular-reference markers: a parsed JSON value has no cycles.
    _encode = json.encoder.c_make_encoder(
        None,
        _encoder.default,
        quote,
        _encoder.indent,
        _encoder.key_separator,
        _encoder.item_separator,
        _encoder.sort_keys,
        _encoder.skipkeys,
        _encoder.allow_nan,
    )


def loads(text: str):
    """json.loads(text). The scanner alone reads a value that starts at once and is followed by
    whitespace at most; anything else (leading whitespace, an error) goes to json.loads, which
    then skips or raises exactly as it would have."""
    try:
        value, end = _scan(text, 0)
    except Exception:
        end = -1  # json.loads raises it again, outside this handler (no chained traceback)
    # The whitespace json.loads allows after the value: [ \t\n\r]*.
    if end == len(text) or end >= 0 and not text[end:].strip(" \t\n\r"):
        return value
    return json.loads(text)


def to_json(value) -> str:
    """JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(value), for parsed JSON."""
    if _encode is None:
        return _encoder.encode(value)
    return "".join(_encode(value, 0))


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
        at = text.find("@")
        if at >= 0:
            text = self._mask_emails(text, at)
        # The phone scan runs only when the text has max(min_digits, 2) digits (\d: Unicode
        # decimal digits); fewer cannot make a phone number. Counted on the UTF-8 bytes, which
        # is exact for ASCII text; other text with too few ASCII digits counts with the regex
        # ("surrogatepass": a JSON string may hold a lone surrogate).
        enough = max(self.min_digits, 2)
        raw = text.encode("utf-8", "surrogatepass")
        if len(raw) - len(raw.translate(None, b"0123456789")) >= enough or (
            len(raw) != len(text) and len(DIGIT.findall(text)) >= enough
        ):
            text = PHONE.sub(self._phone, text)
        return text

    def _mask_emails(self, text: str, at: int) -> str:
        """EMAIL.sub(self._email, text), searching from close to each "@" (`at`, the first)."""
        out = []
        done = 0
        while at >= 0:
            # A match holds one "@" and no space before it, so none starts before the last
            # space ahead of the next "@": searching from there finds what searching from
            # `done` would (the lookbehind still sees the characters before).
            match = EMAIL.search(text, max(done, text.rfind(" ", done, at) + 1))
            if match is None:
                break
            out.append(text[done : match.start()])
            out.append(self._email(match))
            done = match.end()
            at = text.find("@", done)
        out.append(text[done:])
        return "".join(out)

    def _email(self, match: re.Match) -> str:
        self.emails += 1
        return f"{match.group(1)}***@{match.group(2)}"

    def _phone(self, match: re.Match) -> str:
        found = match.group(0)
        raw = found.encode()
        if len(raw) != len(found):
            return self._phone_unicode(found)
        # ASCII: the match is digits and SEPARATORS, so bytes operations (one C loop each)
        # do what a loop over its characters would.
        digits = len(raw.translate(None, SEPARATORS))
        if digits < self.min_digits or digits > 15:
            return found
        if len(found) == 10 and ISO_DATE.fullmatch(found):  # the pattern matches 10 characters
            return found
        self.phones += 1
        if digits <= self.keep_last:
            return found
        # Every digit masked, then the part holding the last keep_last of them put back.
        head = raw.translate(STARS).rsplit(b"*", self.keep_last)[0]
        return head.decode() + found[len(head) :]

    def _phone_unicode(self, found: str) -> str:
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
        body = loads(event.payload)
    except ValueError as e:
        raise Err(f"pii-mask: {event.command} body is not JSON: {e}")
    if not isinstance(body, dict):
        raise Err(f"pii-mask: {event.command} body is not a JSON object")
    return body


# The key of the text in `content`, by contentType (a text message, an @-message).
TEXT_KEYS = {101: "content", 106: "text"}


def openim_msg_modify(body: dict) -> Verdict:
    content = body.get("content")
    if not isinstance(content, str):
        return Verdict_Allow()
    try:
        inner = loads(content)
    except ValueError:
        return Verdict_Allow()  # not a JSON content: not a text message
    key = TEXT_KEYS.get(body.get("contentType"))
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
    if len(inner) == 1:
        inner_json = '{"' + key + '":' + quote(masked) + "}"  # to_json(inner): the key is plain
    else:
        inner_json = to_json(inner)
    # to_json({"content": inner_json}), without another pass of the encoder.
    return Verdict_Modify('{"content":' + quote(inner_json) + "}")


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
