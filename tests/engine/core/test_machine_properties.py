"""Properties of the run machine on random graphs, answers and outcomes: its state is always
the fold of the events it handed out, every run ends with every task settled, and replaying
its log through a new machine hands out the same events."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerflow.engine.core.graph import Graph
from ledgerflow.engine.core.machine import RunMachine
from ledgerflow.engine.core.states import TaskState
from ledgerflow.engine.core.stimuli import HookDelivered

from .machines import later
from .replayer import recorded, replay
from .simulation import Simulation, graphs, machine_options, policies

SETTLED = {state for state in TaskState if state.is_terminal} | {TaskState.MAPPED}
RUNS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _simulated(graph: Graph, options: dict[str, Any], data: st.DataObject, **flags: bool) -> Simulation:
    chosen = {key: data.draw(policies(), label=f"{key} policy") for key in graph.nodes}
    return Simulation(graph, chosen, options, data, **flags)


@RUNS
@given(graphs(), machine_options(), st.data())
def test_the_machine_state_is_the_fold_of_its_events_and_every_run_ends(
    graph: Graph, options: dict[str, Any], data: st.DataObject
) -> None:
    simulation = _simulated(graph, options, data)
    machine: RunMachine = simulation.run()  # checks the fold after every handle
    view = machine.view()
    assert machine.is_finished and view.state == simulation.finished
    assert {key: task.state for key, task in view.tasks.items() if task.state not in SETTLED} == {}
    sent = {"hook": "notify", "trigger_seq": len(simulation.log), "attempts": 1}
    machine.handle([HookDelivered("hook.sent", sent)], later(3600))
    assert view.state == machine.view().state


@RUNS
@given(graphs(), machine_options(), st.data())
def test_a_run_s_log_replays_to_the_same_events(
    graph: Graph, options: dict[str, Any], data: st.DataObject
) -> None:
    # What a log cannot tell is left out: a refused slot, or the outcome of an earlier
    # attempt, makes a round that records nothing (a replay could only guess it).
    options = {**options, "has_limits": False}
    simulation = _simulated(graph, options, data, has_stale_outcomes=False)
    simulation.run()
    log = simulation.log
    assert recorded(replay(log, simulation.task_policies, **options)) == recorded(log[1:])
