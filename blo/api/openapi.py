"""The OpenAPI 3.1 document of the query API (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from blo.api.params import BORDER_PATTERN, GROUPS, INTERIOR, STATISTICS


def _p(name: str, desc: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": desc, "required": required,
            "schema": schema}


def openapi_document(windows: list[str]) -> dict[str, Any]:
    t = {"type": "string", "format": "date-time"}
    rng = [
        _p("from", "start (ISO 8601; naive = UTC); default: `to` minus one day", t),
        _p("to", "end, exclusive; default: now", t),
        _p("window", "window kind whose rows are summed", {"type": "string", "enum": windows,
                                                            "default": "1h"}),
        _p("station", "one station (must be in scope, else 403)", {"type": "string"}),
        _p("country", "ISO 3166-1 alpha-2 (must be in scope, else 403)",
           {"type": "string", "pattern": "^[A-Z]{2}$"}),
        _p("border", f"country pair, sorted: AF-TJ; or `{INTERIOR}`: the interior posts "
           "(no land neighbour)", {"type": "string", "pattern": BORDER_PATTERN}),
        _p("event_type", "crossing, seizure, ...", {"type": "string"}),
        _p("drug", "seizures of one drug (heroin, hashish, ...)", {"type": "string"}),
    ]
    stat = _p("stat", "statistic", {"type": "string", "enum": list(STATISTICS),
                                    "default": "events"})
    err = {"description": "error", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}
    errors = {"400": {**err, "description": "invalid parameters (every reason listed)"},
              "401": {**err, "description": "no, unknown or revoked token"},
              "403": {**err, "description": "outside the token's scope"}}

    def get(summary: str, params: list[dict[str, Any]], desc: str = "") -> dict[str, Any]:
        return {"get": {"summary": summary, "description": desc, "parameters": params,
                        "security": [{"bearer": []}],
                        "responses": {"200": {"description": "JSON"}, **errors}}}

    file_params = [
        _p("format", "file format", {"type": "string", "enum": ["csv", "xlsx", "parquet"],
                                     "default": "csv"}),
        _p("lang", "language of the headers and column descriptions",
           {"type": "string", "enum": ["en", "ru"], "default": "en"})]

    def export(summary: str, params: list[dict[str, Any]], desc: str) -> dict[str, Any]:
        files = {m: {"schema": {"type": "string", "format": "binary"}} for m in (
            "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.apache.parquet")}
        return {"get": {"summary": summary, "description": desc, "parameters": params,
                        "security": [{"bearer": []}],
                        "responses": {"200": {"description": "the file (chunked), with "
                                              "Content-Disposition", "content": files},
                                      **errors, "413": {**err, "description": "more rows "
                                                        "than an export may hold"}}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "BLO monitoring API", "version": "1",
                 "description": "Statistics, station health and alerts for monitoring "
                                "centres. Every answer is limited to the token's scope: the "
                                "stations of its countries (and agencies), plus aggregated "
                                "figures of the foreign posts paired with them. Every call "
                                "is audited."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from `blo tokens create`"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"},
                "problems": {"type": "array", "items": {"type": "string"}}}}},
        },
        "paths": {
            "/api/v1/whoami": get("The token's name, scope and expiry (expires_at)", []),
            "/api/v1/stats": get(
                "Statistics over a time range",
                [*rng, _p("group_by", "comma-separated: " + ", ".join(GROUPS)
                          + f" (by border, the interior posts are one group `{INTERIOR}`)",
                          {"type": "string", "default": "country"})],
                "Sums of every statistic over the visible stations' window rows. `paired`: "
                "the same figures for the foreign posts paired with the token's own, "
                "aggregated (never per station)."),
            "/api/v1/top": get("Top-N stations by a statistic", [*rng, stat, _p(
                "n", "how many", {"type": "integer", "minimum": 1, "maximum": 100,
                                  "default": 10})]),
            "/api/v1/series": get("Time series of a statistic, one point per window",
                                  [*rng, stat]),
            "/api/v1/stations": get("Visible stations (registry, coordinates)", []),
            "/api/v1/health": get("Station health: last event seen, event-time lag, late "
                                  "events and dead letters (24 h)", []),
            "/api/v1/alerts": get("Alerts (current version of each): exact counts, "
                                  "filters, sorting, grouping", [
                _p("open", "only firing ones (= state=firing)",
                   {"type": "boolean", "default": False}),
                _p("state", "firing or resolved", {"type": "string",
                                                   "enum": ["firing", "resolved"]}),
                _p("severity", "comma-separated: info, warning, critical", {"type": "string"}),
                _p("rule", "a rule id", {"type": "string"}),
                _p("country", "alerts about this country: its posts (pairs with one of "
                   "them), its roll-up, its borders' (in scope, else 403)",
                   {"type": "string", "pattern": "^[A-Z]{2}$"}),
                _p("station", "alerts about this post (its gaps, the pairs it is in; in "
                   "scope, else 403)", {"type": "string"}),
                _p("acknowledged", "only acknowledged (true) or not yet (false)",
                   {"type": "boolean"}),
                _p("muted", "only alerts an active mute covers (true) or none covers (false)",
                   {"type": "boolean"}),
                _p("sort", "severity: unmuted first, worst first, then newest fired; time: "
                   "newest fired first", {"type": "string", "enum": ["severity", "time"],
                                          "default": "severity"}),
                _p("group", "rule_scope: one entry per (rule, scope key; a station for its "
                   "gaps) with count, firing, acked, muted, worst severity, first and latest "
                   "firing", {"type": "string", "enum": ["rule_scope"]}),
                _p("limit", "page size; over 1000 is a 400 (total and counts are always "
                   "over every match)", {"type": "integer", "minimum": 1, "maximum": 1000,
                                         "default": 100}),
                _p("offset", "page start", {"type": "integer", "minimum": 0, "default": 0})],
                "`total`: every alert (or group) the filter keeps, `counts`: of the alerts by "
                "severity, state, acknowledgement, muted, and `open` (firing, not muted) / "
                "`open_muted` by severity; `alerts` (or `groups`): the page. Each alert's "
                "`muted`: the mute covering it, or null."),
            "/api/v1/alerts/mutes": {
                **get("Mutes visible to the token (active first, then expired and ended)",
                      [_p("active", "only the active ones", {"type": "boolean",
                                                             "default": False})]),
                "post": {
                    "summary": "Mute a rule and/or a scope for a time, with a reason",
                    "description": "A muted alert still fires and is stored and listed "
                                   "(with `muted`), but is not notified and is counted "
                                   "apart. The alert engine stores the mute; a national "
                                   "token may mute only scopes within its countries.",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"type": "object", "additionalProperties": False,
                                   "required": ["duration", "reason"],
                                   "description": "at least one of rule, scope",
                                   "properties": {
                                       "rule": {"type": "string"},
                                       "scope": {"type": "string", "description":
                                                 "a country (KZ), border (KG-KZ) or station"},
                                       "duration": {"type": ["string", "integer"],
                                                    "description": "6h, 30m, 2d, 1h30m or "
                                                                   "seconds; at most 30 d"},
                                       "reason": {"type": "string"}}}}}},
                    "security": [{"bearer": []}],
                    "responses": {"200": {"description": "sent to the alert engine: {mute}"},
                                  **errors}}},
            "/api/v1/alerts/mutes/{mute_id}": {"delete": {
                "summary": "End a mute now (it stays listed, as unmuted)",
                "parameters": [{"name": "mute_id", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}}],
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "sent to the alert engine"}, **errors,
                              "404": {**err, "description": "no such mute in scope"},
                              "409": {**err, "description": "the mute already ended"}}}},
            "/api/v1/alerts/{alert_id}/ack": {"post": {
                "summary": "Acknowledge an alert (as the token's name)",
                "parameters": [{"name": "alert_id", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}}],
                "requestBody": {"content": {"application/json": {"schema": {
                    "type": "object", "properties": {"comment": {"type": "string"}}}}}},
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "sent to the alert engine"}, **errors,
                              "404": {**err, "description": "no such alert in scope"}}}},
            "/api/v1/alerts/ack": {"post": {
                "summary": "Acknowledge every visible, not yet acknowledged alert a filter "
                           "names (as the token's name)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": False,
                    "description": "at least one of rule, scope, since, until",
                    "properties": {
                        "rule": {"type": "string", "description": "a rule id"},
                        "scope": {"type": "string", "description": "a scope key (station, "
                                  "country, border, pair, all) or a station: its own "
                                  "alerts, gaps and pairs"},
                        "since": {"type": "string", "format": "date-time",
                                  "description": "fired at or after"},
                        "until": {"type": "string", "format": "date-time",
                                  "description": "fired before"},
                        "open": {"type": "boolean", "default": False,
                                 "description": "only firing ones"},
                        "comment": {"type": "string"},
                        "dry_run": {"type": "boolean", "default": False,
                                    "description": "only count them"}}}}}},
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "matched, sent to the alert engine "
                                      "(unless dry_run): {matched, sent, alert_ids}"},
                              **errors,
                              "403": {**err, "description": "scope outside the token's"}}}},
            "/api/v1/events/{event_id}/history": {"get": {
                "summary": "Every stored revision of one event (corrections and voids)",
                "description": "Per revision: revision, kind (original, revision, void), "
                               "reason, event_type, occurred_at, reported_at, ingested_at, "
                               "body_hash, changes from the previous revision "
                               "[{field, old, new}] and the event as stored. An event of a "
                               "station outside the token's scope is 404, as an unknown "
                               "one.",
                "parameters": [{"name": "event_id", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}},
                               _p("station", "only when two stations used the same id",
                                  {"type": "string"})],
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "JSON"},
                              "400": errors["400"], "401": errors["401"],
                              "404": {**err, "description": "no such event in scope"}}}},
            "/api/v1/feed": get(
                "Significant events, newest first: seizures (drug, kg), detentions "
                "(counts, offence; never names), incidents (type, impact)",
                [_p("limit", "at most", {"type": "integer", "minimum": 1, "maximum": 500,
                                         "default": 50}),
                 _p("since", "occurred at or after (ISO 8601); default 7 days ago, at most "
                    "31 days back", t),
                 _p("station", "one post (must be in scope, else 403)", {"type": "string"}),
                 _p("event_type", "one type", {"type": "string",
                                               "enum": ["seizure", "detention", "incident"]})],
                "Read from the events as corrected (latest revision; voided events left "
                "out), of the token's visible stations only."),
            "/api/v1/posts/{station_id}": {"get": {
                "summary": "One post: registry card, events per event type over 24 h "
                           "(1-hour windows) and 7 d (daily windows), health",
                "parameters": [{"name": "station_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "JSON"},
                              "400": errors["400"], "401": errors["401"],
                              "404": {**err, "description": "no such post in scope"}}}},
            "/api/v1/export/stats": export(
                "The figures of /api/v1/stats as a file (CSV, XLSX, Parquet)",
                [*rng, _p("group_by", "comma-separated: " + ", ".join(GROUPS),
                          {"type": "string", "default": "country"}), *file_params],
                "The same rows as /api/v1/stats for the same parameters (column `block`: "
                "`own`, or `paired` for the foreign posts paired with the token's own, "
                "aggregated, never per station), one row per group, with the window and "
                "range. Streamed; audited with the rows exported (docs/exports.md)."),
            "/api/v1/export/events": export(
                "The visible posts' events as a file (CSV, XLSX, Parquet)",
                [*(q for q in rng if q["name"] != "window"), *file_params],
                "The readers' view (latest revision, voided events left out) of the "
                "token's visible posts' events that occurred in [from, to), by post, "
                "month and time; never the raw payload (a seizure's route is in its own "
                "columns). Read and streamed a page at a time; audited with the rows "
                "exported (docs/exports.md)."),
            "/api/v1/live": get("Server-sent events: a dashboard snapshot every few seconds",
                                [_p("access_token", "the token, for EventSource (only here)",
                                    {"type": "string"})],
                                "Events: `snapshot` (JSON) each interval; `unavailable` "
                                "instead while ClickHouse does not answer (the stream stays "
                                "open); `error` once the token is revoked or expired, then "
                                "the stream ends."),
            **_analysis_paths(get, rng, stat),
            "/api/v1/bulletins": _bulletin_path(errors),
            **_edition_paths(errors),
        },
    }


def _analysis_paths(get: Any, rng: list[dict[str, Any]], stat: dict[str, Any]
                    ) -> dict[str, Any]:
    """Routes and trends (docs/analysis.md)."""
    t = {"type": "string", "format": "date-time"}
    period = _p("period", "a reporting period of station-local months: 2026-10, 2026-Q3 or "
                "2026 (read from the `month` windows; instead of from/to)", {"type": "string"})
    against = _p("against", "comma-separated: previous (the period before, or the equally "
                 "long range before), year_before (the same period a year earlier)",
                 {"type": "string", "default": "previous,year_before"})
    groups = _p("group_by", "comma-separated: " + ", ".join(GROUPS),
                {"type": "string", "default": "country"})
    return {
        "/api/v1/routes": get(
            "Trafficking routes: flows of seized drugs between countries", [
                period,
                _p("from", "start (ISO 8601); default: `to` minus 30 days", t),
                _p("to", "end, exclusive; default: now", t),
                _p("drug", "one drug (heroin, hashish, ...)", {"type": "string"}),
                _p("weight", "order flows and edges by kg or by cases",
                   {"type": "string", "enum": ["kg", "cases"], "default": "kg"}),
                _p("station", "one post (in scope, else 403)", {"type": "string"}),
                _p("country", "the posts of one country (in scope, else 403)",
                   {"type": "string", "pattern": "^[A-Z]{2}$"}),
                _p("border", f"the posts of one border, or `{INTERIOR}`",
                   {"type": "string", "pattern": BORDER_PATTERN}),
                _p("limit", "at most this many flows (totals and edges count all)",
                   {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})],
            "From the seizures made at the token's own posts (never the paired foreign "
            "posts'), as corrected (latest revision, voided left out): `flows` per route "
            "(producing, departure, transit in order, destination; '' unknown) and drug "
            "with kg summed and cases counted, `chain` the known countries in order; "
            "`edges` the steps between countries weighted by every flow taking them."),
        "/api/v1/trends/compare": get(
            "A statistic per group against the period before and a year before", [
                period, *rng, groups, stat, against],
            "Per group: `current`, `base`, `change` (absolute) and `change_pct` (percent "
            "of the base; null when the base is 0, with `note` saying so). Visible "
            "stations only."),
        "/api/v1/trends/ranked": get(
            "The groups (posts by default) whose statistic rose or fell most", [
                period, *rng, _p("group_by", "comma-separated: " + ", ".join(GROUPS),
                                 {"type": "string", "default": "station"}), stat,
                _p("against", "previous or year_before", {
                    "type": "string", "enum": ["previous", "year_before"],
                    "default": "previous"}),
                _p("by", "absolute or relative change", {
                    "type": "string", "enum": ["absolute", "relative"],
                    "default": "absolute"}),
                _p("direction", "rise or fall", {"type": "string", "enum": ["rise", "fall"],
                                                 "default": "rise"}),
                _p("n", "how many", {"type": "integer", "minimum": 1, "maximum": 100,
                                     "default": 10}),
                _p("min_base", "only groups whose base is at least this (so 1 -> 3 is not "
                   "+200 % at the top)", {"type": "number", "minimum": 0, "default": 1})]),
        "/api/v1/trends/baseline": get(
            "A baseline alert rule's seasonal band per window", [
                _p("rule", "a baseline rule's id", {"type": "string"}, required=True),
                _p("key", "the scope key: a station, country or border, as the rule's "
                   "scope; every post the key sums must be in the token's scope, else 403",
                   {"type": "string"}, required=True),
                _p("from", "windows starting at or after (default: `to` minus 7 days); at "
                   "most 2000 windows in the range, else 400", t),
                _p("to", "windows starting before (default: now)", t)],
            "Per window with rows: `value`, the history `weeks`, `mean` and `stddev` (the "
            "same hour of week in past weeks, as the alert engine reads them), `upper` = "
            "mean + k·stddev (the rule fires above it), `clear` = mean + clear_k·stddev, "
            "`lower` = mean - k·stddev (at least 0), `above`."),
    }


def _bulletin_path(errors: dict[str, Any]) -> dict[str, Any]:
    """A bulletin (docs/bulletins.md)."""
    return {"get": {
        "summary": "A bulletin of a scope and period: HTML, PDF or its figures as JSON",
        "description": "Headline figures with change against the previous period and the "
                       "same period a year before, seizures by drug and by post, crossings "
                       "and refusals, detentions (counts only), alerts, a map, a route chart "
                       "and a method note with the data version (also in the "
                       "`X-BLO-Data-Version` header). The same request on the same data "
                       "gives the same bytes. A national token: its own country only; "
                       "`region`: the regional token only; agency-limited tokens: none.",
        "parameters": [
            _p("scope", "a country code or `region`; default: the token's own",
               {"type": "string", "pattern": "^([A-Za-z]{2}|region)$"}),
            _p("period", "2026-10 (month), 2026-Q3 (quarter) or 2026 (year): each post's "
               "local months", {"type": "string"}, required=True),
            _p("lang", "the document's language", {"type": "string", "enum": ["en", "ru"],
                                                   "default": "ru"}),
            _p("format", "html, pdf or json (the figures)",
               {"type": "string", "enum": ["html", "pdf", "json"], "default": "html"})],
        "security": [{"bearer": []}],
        "responses": {"200": {"description": "the bulletin", "content": {
            "text/html": {}, "application/pdf": {}, "application/json": {}}},
            **errors, "404": {"description": "the registry has no post of the scope"}}}}


def _edition_paths(errors: dict[str, Any]) -> dict[str, Any]:
    """Stored bulletin editions (docs/bulletins.md, "Scheduled bulletins")."""
    scope = _p("scope", "a country code or `region`", {"type": "string",
                                                       "pattern": "^([A-Za-z]{2}|region)$"})
    month = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}
    return {
        "/api/v1/bulletins/editions": {"get": {
            "summary": "The stored bulletin editions the token may see",
            "description": "Each edition: the bulletin of a scope, month and language as a "
                           "worker made it when the month closed (or `blo report editions "
                           "make`), with the data version it was cut from; a correction of "
                           "the month adds an edition. A national token sees its countries' "
                           "editions, the regional token every scope's (`region` included), "
                           "an agency-limited token none (403). Newest month first. "
                           "`scopes`: what the token may see (null: all).",
            "parameters": [scope, _p("period", "only this month (YYYY-MM)", month)],
            "security": [{"bearer": []}],
            "responses": {"200": {"description": "{scopes, editions: [{scope, period, lang, "
                                                 "data_version, made_at, made_by, posts, "
                                                 "events, last_ingested, pdf_size, "
                                                 "html_size}]}"},
                          **errors}}},
        "/api/v1/bulletins/editions/download": {"get": {
            "summary": "One stored edition's PDF or HTML, as it was made",
            "description": "The latest edition made of the scope, month and language, or the "
                           "one of `version`; its data version in `X-BLO-Data-Version`. "
                           "Scopes as for `/api/v1/bulletins`; audited with the data version.",
            "parameters": [
                _p("scope", "a country code or `region`; default: the token's own",
                   {"type": "string", "pattern": "^([A-Za-z]{2}|region)$"}),
                _p("period", "the month (YYYY-MM)", month, required=True),
                _p("lang", "the edition's language", {"type": "string", "enum": ["en", "ru"],
                                                      "default": "ru"}),
                _p("format", "pdf or html", {"type": "string", "enum": ["pdf", "html"],
                                             "default": "pdf"}),
                _p("version", "a data version (16 hex digits); default: the latest made",
                   {"type": "string", "pattern": "^[0-9a-f]{16}$"})],
            "security": [{"bearer": []}],
            "responses": {"200": {"description": "the edition", "content": {
                "application/pdf": {}, "text/html": {}}},
                **errors, "404": {"description": "no such edition stored"}}}},
    }
