"""How a duration reads, shared by the CLI's tables and the web UI's pages."""


def format_duration(seconds: float | None) -> str:
    """``0.012s``, ``4.2s``, ``3m 07s``, ``2h 05m``; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
