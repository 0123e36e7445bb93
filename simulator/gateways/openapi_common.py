"""The OpenAPI 3.0 document both REST gateways publish: one envelope, each
gateway filling in its own paths and its two signing headers."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def document(title: str, version: str, description: str, paths: Schema, key_header: str, sign_header: str) -> Schema:
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "securitySchemes": {
                name: {"type": "apiKey", "in": "header", "name": name} for name in (key_header, sign_header)
            }
        },
    }
