"""The JSON Schema (draft 2020-12) of policy format v2; docs/policy-schema.json is generated from it."""

from __future__ import annotations

import json
from functools import lru_cache

from .vocabulary import ACTIONS, SEVERITIES, VERDICTS


@lru_cache(maxsize=1)
def policy_schema() -> dict:
    glob_list = {
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        ]
    }
    str_list = glob_list
    effect = {"enum": list(VERDICTS)}
    severity = {"enum": list(SEVERITIES)}
    actions = list(ACTIONS)
    action = {"enum": actions + ["any"]}

    def one_or_many(ref):
        return {"oneOf": [ref, {"type": "array", "items": ref, "minItems": 1}]}

    command_matcher = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "program": {"$ref": "#/$defs/globs"},
            "subcommand": {"$ref": "#/$defs/globs"},
            "flags": {"$ref": "#/$defs/strings"},
            "any_flags": {"$ref": "#/$defs/strings"},
            "without_flags": {"$ref": "#/$defs/strings"},
            "args": {"$ref": "#/$defs/globs"},
            "path_args": {"$ref": "#/$defs/globs"},
            "outside_repo": {"const": True},
            "text": {"$ref": "#/$defs/globs"},
            "regex": {"$ref": "#/$defs/globs"},
        },
    }
    git_ops = [
        "push",
        "merge",
        "rebase",
        "reset",
        "commit",
        "tag",
        "tag_delete",
        "branch",
        "branch_delete",
        "checkout",
        "cherry_pick",
        "revert",
        "clean",
        "filter_branch",
        "stash",
        "gc",
        "pull",
        "fetch",
        "clone",
        "config",
        "remote",
        "other",
    ]
    git_matcher = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "operation": one_or_many({"enum": git_ops}),
            "force": {"type": "boolean"},
            "branch": {"$ref": "#/$defs/globs"},
            "remote": {"$ref": "#/$defs/globs"},
            "tag": {"$ref": "#/$defs/globs"},
        },
    }
    caps = ["read", "write", "destructive", "execute", "network", "credentials", "admin", "unknown"]
    mcp_matcher = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "server": {"$ref": "#/$defs/globs"},
            "tool": {"$ref": "#/$defs/globs"},
            "capability": one_or_many({"enum": caps}),
            "arguments": {"type": "object", "additionalProperties": {"$ref": "#/$defs/globs"}},
        },
    }
    net_matcher = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "host": {"$ref": "#/$defs/globs"},
            "url": {"$ref": "#/$defs/globs"},
            "url_regex": {"$ref": "#/$defs/globs"},
            "method": {"$ref": "#/$defs/globs"},
            "scheme": {"$ref": "#/$defs/globs"},
            "port": one_or_many({"type": "integer", "minimum": 1, "maximum": 65535}),
        },
    }
    match = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "paths": {"$ref": "#/$defs/globs"},
            "path_regex": {"$ref": "#/$defs/globs"},
            "outside_repo": {"const": True},
            "exclude_paths": {"$ref": "#/$defs/globs"},
            "commands": one_or_many({"$ref": "#/$defs/commandMatcher"}),
            "pipelines": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/commandMatcher"}},
            },
            "exclude_commands": one_or_many({"$ref": "#/$defs/commandMatcher"}),
            "git": one_or_many({"$ref": "#/$defs/gitMatcher"}),
            "mcp": one_or_many({"$ref": "#/$defs/mcpMatcher"}),
            "network": one_or_many({"$ref": "#/$defs/networkMatcher"}),
            "ignore_case": {"type": "boolean"},
        },
    }
    when = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "repository": {"$ref": "#/$defs/globs"},
            "environment": {"$ref": "#/$defs/globs"},
            "agent_profile": {"$ref": "#/$defs/globs"},
            "context": {"type": "object", "additionalProperties": {"$ref": "#/$defs/globs"}},
        },
    }
    compliance = {
        "type": "object",
        "propertyNames": {"pattern": "^[a-z0-9_]+$"},
        "additionalProperties": {"type": "array", "items": {"type": ["string", "number"]}},
    }
    rule = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "effect"],
        "oneOf": [{"required": ["action"]}, {"required": ["actions"]}],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"},
            "action": one_or_many(action),
            "actions": one_or_many(action),
            "match": one_or_many({"$ref": "#/$defs/match"}),
            "when": {"$ref": "#/$defs/when"},
            "effect": effect,
            "severity": severity,
            "reason": {"type": "string"},
            "approvers": {"$ref": "#/$defs/strings"},
            "compliance": {"$ref": "#/$defs/compliance"},
            "description": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "enabled": {"type": "boolean"},
            "override": {"type": "boolean"},
        },
    }
    default_value = {
        "oneOf": [
            effect,
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["effect"],
                "properties": {
                    "effect": effect,
                    "severity": severity,
                    "reason": {"type": "string"},
                    "approvers": {"$ref": "#/$defs/strings"},
                },
            },
        ]
    }
    defaults = {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: default_value for k in actions + ["any", "unparseable_command"]},
    }
    request_fields = {
        "repository": {"type": "string"},
        "environment": {"type": "string"},
        "agent_profile": {"type": "string"},
        "repo_root": {"type": "string"},
        "git": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "operation": {"type": "string"},
                "branch": {"type": "string"},
                "force": {"type": "boolean"},
                "remote": {"type": "string"},
            },
        },
        "mcp": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "server": {"type": "string"},
                "tool": {"type": "string"},
                "capability": {"$ref": "#/$defs/strings"},
                "arguments": {"type": "object"},
            },
        },
        "network": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"method": {"type": "string"}},
        },
        "context": {"type": "object"},
    }
    test = {
        "type": "object",
        "additionalProperties": False,
        "required": ["action", "target", "expect"],
        "properties": {
            "name": {"type": "string"},
            "action": {"enum": actions},
            "target": {"type": "string"},
            "expect": effect,
            "rule": {"type": ["string", "null"]},
            **request_fields,
        },
    }
    metadata = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "version"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,79}$"},
            "title": {"type": "string", "minLength": 1},
            "version": {"type": ["string", "number"]},
            "description": {"type": "string"},
            "readme": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "authors": {"type": "array", "items": {"type": "string"}},
        },
    }
    mapping = {
        "type": "object",
        "additionalProperties": False,
        "required": ["rules", "compliance"],
        "properties": {"rules": {"$ref": "#/$defs/globs"}, "compliance": {"$ref": "#/$defs/compliance"}},
    }
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://cavra.dev/schemas/policy-v2.json",
        "title": "CAVRA policy pack (cavra.policy/v2)",
        "description": "See docs/policy-language.md. The loader also checks globs, regexes, rule ids and extends.",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "metadata"],
        "properties": {
            "apiVersion": {"const": "cavra.policy/v2"},
            "metadata": {"$ref": "#/$defs/metadata"},
            "extends": {"$ref": "#/$defs/strings"},
            "inherits": {"$ref": "#/$defs/strings"},
            "defaults": {"$ref": "#/$defs/defaults"},
            "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
            "mappings": {"type": "array", "items": {"$ref": "#/$defs/mapping"}},
            "tests": {"type": "array", "items": {"$ref": "#/$defs/test"}},
        },
        "$defs": {
            "globs": glob_list,
            "strings": str_list,
            "metadata": metadata,
            "defaults": defaults,
            "rule": rule,
            "match": match,
            "when": when,
            "commandMatcher": command_matcher,
            "gitMatcher": git_matcher,
            "mcpMatcher": mcp_matcher,
            "networkMatcher": net_matcher,
            "compliance": compliance,
            "mapping": mapping,
            "test": test,
        },
    }
    return schema


def schema_json() -> str:
    return json.dumps(policy_schema(), indent=2) + "\n"
