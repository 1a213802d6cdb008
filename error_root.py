"""The root of every error ledgerflow raises, in a module that imports nothing of ledgerflow."""


class LedgerflowError(Exception):
    """Base class of all ledgerflow errors; each subclass names what went wrong and where."""
