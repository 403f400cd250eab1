"""OpenAPI 3 description of every JSON endpoint (kept next to the routes; a test checks that
every /api route appears here)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from ..services.pseudonyms import PSEUDONYM_PATTERN
from . import bp

_ERROR = {"description": "Client error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_STATE = {"description": "Round state", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RoundState"}}}}
_PLAYER = {"description": "The player", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Player"}}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _ERROR for c in codes}


_ROUND_ID = {"name": "round_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Drawing Attention game API", "version": "1.0",
             "description": "The page sends brush points; the server reveals, guesses and scores. See docs/API.md."},
    "paths": {
        "/api/me": {
            "get": {"summary": "The current player (before consent: nobody, needs_consent true; nothing is stored)",
                    "responses": {"200": _PLAYER}},
            "post": {"summary": "Change the pseudonym (403 before consent, 409 when a name that reads the same is taken)",
                     "requestBody": _body({"type": "object", "required": ["pseudonym"],
                                           "properties": {"pseudonym": {"type": "string", "pattern": PSEUDONYM_PATTERN}}}),
                     "responses": {"200": _PLAYER, **_errors(400, 403, 409, 413, 415)}},
        },
        "/api/consent": {
            "post": {"summary": "Agree to the current consent version (creates the player and its cookie; "
                                "429 when the address made too many players)",
                     "requestBody": _body({"type": "object", "required": ["version", "agree"],
                                           "properties": {"version": {"type": "string"}, "agree": {"type": "boolean", "enum": [True]}}}),
                     "responses": {"200": _PLAYER, **_errors(400, 403, 409, 413, 415, 429)}},
        },
        "/api/leaderboard": {
            "get": {"summary": "Best players by total score",
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                    "responses": {"200": {"description": "Leaderboard", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"entries": {"type": "array", "items": {"type": "object", "properties": {
                            "rank": {"type": "integer"}, "pseudonym": {"type": "string"}, "total_score": {"type": "integer"},
                            "best_round": {"type": "integer"}, "rounds_played": {"type": "integer"},
                            "me": {"type": "boolean", "description": "the caller's own row"}}}}}}}}},
                                  **_errors(400)}},
        },
        "/api/rounds": {
            "post": {"summary": "Start a round (idempotent for the same round_id)",
                     "requestBody": _body({"type": "object", "required": ["round_id"],
                                           "properties": {"round_id": {"type": "string", "format": "uuid"},
                                                          "study": {"type": "string", "nullable": True},
                                                          "device_class": {
                                                              "type": "string", "nullable": True,
                                                              "description": "phone | tablet | desktop; "
                                                                             "any other value is stored as null"}}}),
                     "responses": {"200": _STATE, "201": _STATE, **_errors(400, 403, 404, 409, 413, 415, 429)}},
        },
        "/api/rounds/{round_id}": {
            "get": {"summary": "The round's state", "parameters": [_ROUND_ID],
                    "responses": {"200": _STATE, **_errors(403, 404)}},
        },
        "/api/rounds/{round_id}/points": {
            "post": {"summary": "Append brush points; the server reveals, guesses and decides",
                     "parameters": [_ROUND_ID],
                     "requestBody": _body({"type": "object", "required": ["start_index", "points"], "properties": {
                         "start_index": {"type": "integer", "minimum": 0},
                         "points": {"type": "array", "items": {"type": "array", "minItems": 3, "maxItems": 3,
                                                                "items": {"type": "number", "minimum": 0}},
                                    "description": "[x, y, t_ms]: x <= width and y <= height of the round's "
                                                   "stimulus (400 otherwise); t_ms never decreasing"},
                         "end": {"type": "string", "enum": ["skip"], "nullable": True,
                                 "description": "store the points, then end the round as skipped"}}}),
                     "responses": {"200": _STATE, **_errors(400, 403, 404, 409, 413, 415, 429)}},
        },
        "/api/rounds/{round_id}/end": {
            "post": {"summary": "Skip, or report the page's timer ran out (idempotent)",
                     "parameters": [_ROUND_ID],
                     "requestBody": _body({"type": "object", "required": ["reason"],
                                           "properties": {"reason": {"type": "string", "enum": ["skip", "timeout"]}}}),
                     "responses": {"200": _STATE, **_errors(400, 403, 404, 409, 413, 415)}},
        },
        "/api/stimuli/{stimulus_id}/image.png": {
            "get": {"summary": "The stimulus image (grayscale PNG, native resolution)",
                    "parameters": [{"name": "stimulus_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "PNG", "content": {"image/png": {}}}, **_errors(404)}},
        },
        "/api/socket": {
            "get": {"summary": "The game's WebSocket: the round requests above over one connection",
                    "description": "Upgrade to a WebSocket (a plain GET is 400). Each message is "
                                   "{\"id\", \"method\", \"path\", \"body\"} for POST /api/rounds, "
                                   "GET /api/rounds/{round_id}, POST /api/rounds/{round_id}/points or "
                                   "/end; each answer {\"id\", \"status\", \"body\", "
                                   "\"retry_after\"?} mirrors the HTTP answer. See docs/API.md.",
                    "parameters": [
                        {"name": "Upgrade", "in": "header", "required": True,
                         "schema": {"type": "string", "enum": ["websocket"]}},
                        {"name": "Connection", "in": "header", "required": True,
                         "schema": {"type": "string", "enum": ["Upgrade"]}},
                        {"name": "Sec-WebSocket-Version", "in": "header", "required": True,
                         "schema": {"type": "string", "enum": ["13"]}},
                        {"name": "Sec-WebSocket-Key", "in": "header", "required": True,
                         "schema": {"type": "string"}}],
                    "responses": {"101": {"description": "Switching to the WebSocket protocol"},
                                  **_errors(400, 403, 503)}},
        },
        "/api/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3 document"}}},
        },
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "Player": {"type": "object", "properties": {
            "pseudonym": {"type": "string", "nullable": True}, "total_score": {"type": "integer"}, "best_round": {"type": "integer"},
            "rounds_played": {"type": "integer"}, "consent_version": {"type": "string", "nullable": True},
            "consent_required": {"type": "string"}, "needs_consent": {"type": "boolean"}}},
        "Guess": {"type": "object", "properties": {
            "top5": {"type": "array", "items": {"type": "object", "properties": {
                "label": {"type": "string"}, "p": {"type": "number"}}}},
            "correct": {"type": "boolean"}, "n_points": {"type": "integer"}}},
        "RoundState": {"type": "object", "properties": {
            "round_id": {"type": "string"}, "status": {"type": "string", "enum": ["active", "recognized", "timeout", "skipped", "abandoned"]},
            "category": {"type": "string"},
            "stimulus": {"type": "object", "properties": {
                "id": {"type": "integer"}, "key": {"type": "string"}, "category": {"type": "string"},
                "width": {"type": "integer"}, "height": {"type": "integer"}, "image_url": {"type": "string"}}},
            "settings": {"type": "object", "properties": {
                "timer_ms": {"type": "integer"}, "brush_fraction": {"type": "number"}, "brush_radius_px": {"type": "number"},
                "recognition_min_prob": {"type": "number"}, "max_points_per_round": {"type": "integer"}}},
            "n_points": {"type": "integer"}, "elapsed_ms": {"type": "integer"}, "remaining_ms": {"type": "integer"},
            "duration_ms": {"type": "integer", "nullable": True},
            "guess": {"allOf": [{"$ref": "#/components/schemas/Guess"}], "nullable": True},
            "points": {"type": "integer"}, "credited": {"type": "boolean"},
            "total_score": {"type": "integer"}, "best_round": {"type": "integer"},
            "model_version": {"type": "string"},
            "study_credit": {"type": "object", "required": ["counts", "reason"], "properties": {
                "counts": {"type": "boolean"}, "reason": {"type": "string", "nullable": True}}}}},
    }},
}


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(SPEC)
