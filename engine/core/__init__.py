"""Everything that decides, with no I/O: states, transitions, events, the graph, the fold,
the frontier, restart planning, schedules' fire times and the run state machine.

Modules here import only the standard library, orjson, each other and the root error
(``ledgerflow.error_root``, itself a leaf); ``tests/engine/test_purity.py`` checks it.
"""
