"""The one exception type the policy engine raises for invalid packs, with located errors."""

from __future__ import annotations


class PolicyError(Exception):
    """An invalid pack: `.errors` lists dicts with file, line, path and message."""

    def __init__(self, errors: list[dict] | str, *, file: str = "<string>") -> None:
        if isinstance(errors, str):
            errors = [{"file": file, "line": None, "path": "", "message": errors}]
        self.errors: list[dict] = list(errors)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(format_error(error) for error in self.errors)


def format_error(error: dict) -> str:
    where = str(error.get("file") or "<string>")
    if error.get("line"):
        where += f":{error['line']}"
    path = error.get("path") or ""
    return f"{where}: {path + ': ' if path else ''}{error.get('message', '')}"
