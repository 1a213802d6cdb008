"""Everything that decides, with no I/O: states, transitions, events, the graph, the fold,
the frontier, restart planning, schedules' fire times and the run state machine.

Modules here import only the standard library, orjson and each other; ``errors`` holds the
root of every ledgerflow error, so the layers above derive theirs from the core.
``tests/engine/test_purity.py`` checks it.
"""
