"""How amounts read in the CLI's tables and lines: bytes, and counted things."""


def size_text(size: int) -> str:
    """``512 B``, ``3.2 KiB``, ``41.0 MiB``."""
    if size < 1024:
        return f"{size} B"
    amount = size / 1024
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


def counted(count: int, noun: str) -> str:
    """``1 orphan``, ``2 orphans``, ``0 stored results`` (``noun`` singular, plural by an s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
