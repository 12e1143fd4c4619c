"""A board profile (`boards/<name>/board.py`) read by the rig: literal constants parsed with `ast`."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ProfileError(ValueError):
    """The profile file is missing or lacks a constant the rig needs."""


@dataclass(frozen=True)
class BoardProfile:
    path: Path
    constants: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> BoardProfile:
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except OSError as exc:
            raise ProfileError(f"board profile not readable: {path} ({exc})") from exc
        constants: dict[str, Any] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id.isupper():
                    try:
                        constants[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass  # computed at run time on the board (e.g. CONFIG_AP_ADDR)
        return cls(path, constants)

    def get(self, name: str, default: Any = None) -> Any:
        return self.constants.get(name, default)

    def require(self, name: str) -> Any:
        if name not in self.constants:
            raise ProfileError(f"{self.path} has no literal constant {name}")
        return self.constants[name]

    @property
    def button_pin(self) -> int:
        return int(self.require("BUTTON_PIN"))

    @property
    def button_active_low(self) -> bool:
        return bool(self.get("BUTTON_ACTIVE_LOW", True))

    def button_level(self, pressed: bool) -> int:
        """GPIO level of the button pin when pressed / released."""
        return int(pressed != self.button_active_low)
