"""Secrets never shown: masking for messages, and one redaction hook for all logging.

Pure functions first:

* :func:`mask_url` -- a URL as it may be shown (``clickhouse://blo:***@host:9000/blo``),
  also when it does not parse: everything between ``://`` and the **last** ``@`` is the
  credentials part, so a password holding a raw ``/``, ``#`` or ``@`` is masked whole;
* :func:`secret_parts` -- what must never appear for one secret value: the value itself
  and, for a URL, its password (and the pieces a careless parser would cut it into) and
  the path segments and query values that look like tokens (webhook URLs carry them);
* :class:`Redactor` -- replaces every spelling of those strings (as given, percent-encoded
  as ``quote`` and ``quote_plus`` write them, with lower-case escapes, decoded, and
  escaped the way ``repr`` and JSON write them) by ``***``, and masks the credentials of
  any ``scheme://user:password@`` URL in the text, known or not.

Then the logging side. Where to hook so that *every* record is covered -- any logger
(kafka-python logs its whole configuration at DEBUG, aiokafka, faust, urllib3,
clickhouse_driver narrate too), any level, propagating or not, handlers installed before
or after us?

* A :class:`logging.Filter` on the root handlers misses loggers that do not propagate and
  have handlers of their own, and handlers added later (a library's, or Faust's);
  a filter on loggers runs only for records logged on *that* logger, never for its
  children.
* Wrapping handlers' ``format`` covers only handlers that exist when we wrap them (or
  means patching :class:`logging.Handler` for everyone).
* The **log record factory** (:func:`logging.setLogRecordFactory`) is called by every
  logger for every record it emits, before any filter or handler sees it. Redacting there
  covers all of the above, so that is what :func:`install_redaction` does: the factory
  formats the message (``msg % args``, as :class:`logging.handlers.QueueHandler` does),
  renders the exception and stack text, redacts the three, and leaves a record whose
  ``msg`` is final, ``args`` empty and ``exc_info`` cleared (the redacted traceback is in
  ``exc_text``, which every :class:`logging.Formatter` prints), so no formatter or
  handler downstream can render the raw values again. Records are only built for enabled
  levels, so the cost is paid by records that are emitted anyway.

:func:`install_redaction` also wraps :data:`sys.excepthook` and
:data:`threading.excepthook`, whose tracebacks go to stderr without logging. What a
library ``print``-s or writes to stderr itself, and ``warnings`` (not routed to logging
here), is not covered; none of the clients in use prints its configuration.

:class:`RedactingFilter` is the same redaction as a filter, for an application that embeds
the SDK and wants it on its own handlers only.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

MASK = "***"

#: URL schemes whose path is a database or directory name, not a token.
_DATABASE_SCHEMES = frozenset({"clickhouse", "clickhouses", "chdb"})
#: Characters that end the credentials part of a URL unless percent-encoded.
_USERINFO_BREAKERS = "/?#"
#: Pieces of a raw password cut at ``/ # ? @`` are hidden when at least this long (shorter
#: ones -- "12" -- would blank out every number in the logs).
_MIN_PIECE = 4
#: ``scheme://`` then a run without blanks or quotes up to its last ``@``.
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^\s'\"<>]*)@")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


# -- URLs ------------------------------------------------------------------------------
def _split_credentials(url: str) -> tuple[str, str | None, str] | None:
    """``(scheme://, userinfo or None, rest after the @)``; None when there is no ``://``.
    The userinfo ends at the LAST ``@``: a password with a raw ``@`` stays whole."""
    i = url.find("://")
    if i < 0:
        return None
    head, tail = url[:i + 3], url[i + 3:]
    at = tail.rfind("@")
    if at < 0:
        return head, None, tail
    return head, tail[:at], tail[at + 1:]


def _mask_userinfo(userinfo: str) -> str:
    """``user:***`` (the user name is not secret), or ``***`` when there is no password
    (then the one field is a token) or the user part is itself garbled."""
    user, sep, _ = userinfo.partition(":")
    if sep and user and not any(c in user for c in _USERINFO_BREAKERS + "@"):
        return f"{user}:{MASK}"
    return MASK


def credentials_need_encoding(url: str) -> bool:
    """True when the credentials part of ``url`` holds a raw ``/``, ``?`` or ``#`` (which
    ends it for every URL parser, cutting the password in two)."""
    parts = _split_credentials(url)
    return bool(parts and parts[1] and any(c in parts[1] for c in _USERINFO_BREAKERS))


def _garbled_port(rest: str) -> bool:
    """The authority (up to ``/ ? #``) ends in ``:`` + something that is no port number."""
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:cut]
    _, sep, port = authority.rpartition(":")
    return bool(sep) and not authority.endswith("]") and not port.isdigit()


def mask_url(url: str) -> str:
    """``url`` as it may be shown in a message: credentials masked; for schemes other than
    ``clickhouse``/``clickhouses``/``chdb`` (webhooks) the path, query and fragment too,
    since receivers put tokens there. Never raises; a string without ``://`` is masked
    whole (it is not known which part is secret)."""
    parts = _split_credentials(url)
    if parts is None:
        return MASK if url else url
    head, userinfo, rest = parts
    if userinfo is None and _garbled_port(rest):
        return head + MASK  # "user:pass" with no "@" after it (cut by a raw "#" or "/")
    shown = head if userinfo is None else f"{head}{_mask_userinfo(userinfo)}@"
    if head[:-3].lower() in _DATABASE_SCHEMES:
        path, sharp, fragment = rest.partition("#")
        return shown + path + (sharp + MASK if fragment else sharp)
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return shown + rest[:cut] + ("/" + MASK if rest[cut:].strip("/") else rest[cut:])


def mask_urls_in(text: str) -> str:
    """Every ``scheme://userinfo@`` in free text with its userinfo masked (see
    :func:`mask_url`). Idempotent."""
    if "://" not in text or "@" not in text:
        return text
    return _URL_CREDENTIALS.sub(
        lambda m: f"{m.group(1)}{_mask_userinfo(m.group(2))}@", text
    )


def _looks_like_token(part: str) -> bool:
    """A path segment or query value worth hiding: long, or letters mixed with digits
    (``pathkey-81f2b6``), but not words like ``alerts`` or ``services``."""
    has_digit = any(c.isdigit() for c in part)
    has_alpha = any(c.isalpha() for c in part)
    return len(part) >= 16 or (len(part) >= 6 and has_digit and has_alpha)


def secret_parts(value: str) -> list[str]:
    """The strings that must not appear anywhere for one secret setting's value.

    Always the value itself. For a URL (``scheme://…``): the password as written and
    decoded, and -- when it holds a raw ``/ # ? @`` -- the pieces a URL parser would cut it
    into (those of at least 4 characters); a lone user name with no password (a token);
    for schemes other than ClickHouse's, the path segments, query values and fragment
    that look like tokens (:func:`_looks_like_token`)."""
    if not value:
        return []
    out = [value]
    parts = _split_credentials(value)
    if parts is None:
        return out
    head, userinfo, rest = parts
    if userinfo is None and _garbled_port(rest):  # user:pass cut short: see mask_url
        userinfo = rest
    if userinfo:
        user, sep, password = userinfo.partition(":")
        secret = password if sep else user
        for form in dict.fromkeys((secret, unquote(secret))):
            if form:
                out.append(form)
                out += [p for p in re.split(r"[/#?@]", form) if len(p) >= _MIN_PIECE]
    if head[:-3].lower() not in _DATABASE_SCHEMES:
        try:
            u = urlsplit(head + rest)
            candidates = [*u.path.split("/"), u.fragment]
            for q in u.query.split("&"):
                candidates.append(q.partition("=")[2])
        except ValueError:
            candidates = re.split(r"[/?#&=]", rest)[1:]
        for c in candidates:
            for form in (c, unquote(c)):
                if form and _looks_like_token(form):
                    out.append(form)
    return list(dict.fromkeys(out))


def _spellings(secret: str) -> set[str]:
    """Every way a secret may be written: raw, percent-encoded (``quote`` with and without
    ``/`` kept, ``quote_plus``, lower-case escapes), decoded, ``repr`` and JSON escaped."""
    forms = {secret, unquote(secret), quote(secret, safe=""), quote(secret), quote_plus(secret),
             repr(secret)[1:-1], json.dumps(secret)[1:-1]}
    forms |= {_PERCENT_ESCAPE.sub(lambda m: m.group().lower(), f) for f in list(forms)}
    return {f for f in forms if f}


class Redactor:
    """Replaces every spelling of the given secrets by ``***`` and masks URL credentials.

    ``secrets`` are values as configured (URLs included: :func:`secret_parts` expands
    them; a URL written out whole becomes its :func:`mask_url` form). Longer spellings
    are matched first."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        replacement: dict[str, str] = {}
        for value in secrets:
            for part in secret_parts(value):
                for form in _spellings(part):
                    replacement.setdefault(form, MASK)
            if "://" in value:
                for form in _spellings(value):
                    replacement[form] = mask_url(value)
        self._replacement = replacement
        ordered = sorted(replacement, key=lambda f: (-len(f), f))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @property
    def count(self) -> int:
        """How many spellings are redacted."""
        return len(self._replacement)

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self._replacement[m.group()], text)
        return mask_urls_in(text)


# -- settings --------------------------------------------------------------------------
def _holds_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return any(_holds_secret(a) for a in typing.get_args(annotation))
    return False


def settings_secrets(settings: BaseModel) -> list[str]:
    """The value of every :class:`SecretStr` in ``settings`` and its nested groups."""
    out: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            if value.get_secret_value():
                out.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            out += settings_secrets(value)
    return out


def secret_env_names(model: type[BaseModel]) -> list[str]:
    """The environment variables of the :class:`SecretStr` fields of ``model``'s groups
    (each group's ``env_prefix`` + field name, upper case)."""
    names: list[str] = []
    for info in model.model_fields.values():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            prefix = str(ann.model_config.get("env_prefix", ""))
            names += [
                (prefix + field).upper()
                for field, sub in ann.model_fields.items() if _field_is_secret(sub)
            ]
    return names


def _field_is_secret(info: FieldInfo) -> bool:
    return _holds_secret(info.annotation)


def environ_secrets(model: type[BaseModel], environ: Mapping[str, str]) -> list[str]:
    """The secret values present in ``environ`` for ``model`` (names matched without case,
    as pydantic-settings does): for when the settings themselves do not validate."""
    wanted = set(secret_env_names(model))
    return [v for k, v in environ.items() if k.upper() in wanted and v]


def is_secret_field(model: type[BaseModel], field: str) -> bool:
    """Whether ``model.field`` is declared :class:`SecretStr` (optional or not)."""
    info = model.model_fields.get(field)
    return info is not None and _field_is_secret(info)


# -- logging ---------------------------------------------------------------------------
def redact_record(record: logging.LogRecord, redact: Callable[[str], str]) -> None:
    """Make ``record`` safe in place: final message redacted into ``msg`` (``args``
    emptied), exception and stack text redacted into ``exc_text``/``stack_info``
    (``exc_info`` cleared so nothing renders the raw exception again)."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 -- a bad format string: logging reports it later
        message = f"{record.msg!s} {record.args!r}"
    record.msg = redact(message)
    record.args = ()
    if record.exc_info and record.exc_info[0] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = redact(text)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A filter that redacts (never drops) records: for an application's own handlers."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redact)
        return True


class RedactingRecordFactory:
    """Wraps the previous log record factory; see the module docstring for why here."""

    def __init__(self, base: Callable[..., logging.LogRecord], redact: Redactor) -> None:
        self.base = base
        self.redact = redact

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        redact_record(record, self.redact)
        return record


class _RedactingExceptHook:
    def __init__(self, base: Callable[..., Any], factory: RedactingRecordFactory) -> None:
        self.base = base
        self.factory = factory

    def __call__(self, exc_type: type[BaseException], exc: BaseException,
                 tb: types.TracebackType | None) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(self.factory.redact(text))


class _RedactingThreadHook:
    def __init__(self, base: Callable[..., Any], factory: RedactingRecordFactory) -> None:
        self.base = base
        self.factory = factory

    def __call__(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else threading.get_ident()
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value,
                                                  args.exc_traceback))
        sys.stderr.write(self.factory.redact(f"Exception in thread {name}:\n{text}"))


def installed_redactor() -> Redactor:
    """The redactor :func:`install_redaction` put in place (a URL-masking one if none)."""
    factory = logging.getLogRecordFactory()
    if isinstance(factory, RedactingRecordFactory):
        return factory.redact
    return Redactor()


def install_redaction(secrets: Iterable[str]) -> Redactor:
    """Redact ``secrets`` (and every URL's credentials) from every log record of this
    process, and from uncaught exceptions' tracebacks. Calling it again replaces the
    secrets (it never stacks). Returns the redactor, also usable on text to ``echo``."""
    redactor = Redactor(secrets)
    current = logging.getLogRecordFactory()
    if isinstance(current, RedactingRecordFactory):
        current.redact = redactor
        return redactor
    factory = RedactingRecordFactory(current, redactor)
    logging.setLogRecordFactory(factory)
    sys.excepthook = _RedactingExceptHook(sys.excepthook, factory)
    threading.excepthook = _RedactingThreadHook(threading.excepthook, factory)
    return redactor


def uninstall_redaction() -> None:
    """Undo :func:`install_redaction` (tests)."""
    current = logging.getLogRecordFactory()
    if isinstance(current, RedactingRecordFactory):
        logging.setLogRecordFactory(current.base)
    if isinstance(sys.excepthook, _RedactingExceptHook):
        sys.excepthook = sys.excepthook.base
    if isinstance(threading.excepthook, _RedactingThreadHook):
        threading.excepthook = threading.excepthook.base
