"""The building blocks of the OpenAPI document's schemas (rail/api/openapi.py, rail/api/openapi_workbench.py)."""

from __future__ import annotations

PAISA = {"type": "integer", "format": "int64", "description": "integer paisa (1/100 rupee)"}
BIC = {"type": "string", "pattern": "^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$", "example": "MEZNPKKA"}
IBAN = {"type": "string", "pattern": "^PK[0-9]{2}[A-Z]{4}[A-Z0-9]{16}$", "example": "PK17MEZN0005000000005000"}
TIME = {"type": "string", "format": "date-time"}
CODE = {"type": "string", "description": "ISO 20022 external code (e.g. AC04, AM04)", "example": "AC04"}


def object_schema(properties: dict, required: tuple[str, ...] = (), description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "required": list(required) or None}
    if description:
        schema["description"] = description
    return {k: v for k, v in schema.items() if v is not None}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}
