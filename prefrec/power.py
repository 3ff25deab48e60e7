"""Whether this machine runs on battery, from Linux's /sys/class/power_supply (standard library only).

On battery means: no mains or USB supply is online and at least one battery is discharging. A
desktop (no battery), a machine without that folder, or one whose files cannot be read counts as on
mains power, so nothing is ever deferred by mistake for long.
"""

from __future__ import annotations

from pathlib import Path

POWER_SUPPLY = Path("/sys/class/power_supply")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


def on_battery(root: Path | None = None) -> bool:
    """True when the machine draws from a discharging battery and no external supply is online.
    root: the power_supply folder (default POWER_SUPPLY)."""
    root = root if root is not None else POWER_SUPPLY
    try:
        supplies = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return False
    discharging = False
    for supply in supplies:
        kind = _read(supply / "type")
        if kind in ("Mains", "USB", "USB_C", "USB_PD") and _read(supply / "online") == "1":
            return False
        if kind == "Battery" and _read(supply / "scope") != "Device" and _read(supply / "status") == "Discharging":
            discharging = True
    return discharging
