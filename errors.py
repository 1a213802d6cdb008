"""The root of every error ledgerflow raises."""


class LedgerflowError(Exception):
    """Base class of all ledgerflow errors; each subclass names what went wrong and where."""
