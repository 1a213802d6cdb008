"""Properties of runs whose tasks may not persist their results, on random graphs, answers and
outcomes, with drivers that die and restarts: no attempt is ever submitted needing a result
that was not persisted by an earlier drive (what is lost is computed again first), every run
still ends with its tasks settled, and its log replays to the same events."""

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerflow.engine.core.commands import Append, Command, Submit
from ledgerflow.engine.core.events import is_persisted, unpersisted_result
from ledgerflow.engine.core.fold import RunView
from ledgerflow.engine.core.graph import Graph
from ledgerflow.engine.core.machine import RunMachine
from ledgerflow.engine.core.states import TaskState
from ledgerflow.engine.core.stimuli import AttemptEnded, Stimulus

from .replayer import recorded, replay
from .simulation import Simulation, graphs, machine_options, policies

SETTLED = {state for state in TaskState if state.is_terminal} | {TaskState.MAPPED}
RUNS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LOST = unpersisted_result("json", 3, "cd" * 32)


@dataclass
class UnpersistedSimulation(Simulation):
    """A simulation in which the tasks of ``unpersisted`` nodes keep their results in memory
    only, checking every submission against what this drive has produced."""

    unpersisted: frozenset[str] = frozenset()
    produced: set[str] = field(default_factory=set)  # succeeded in the current drive

    def _machine(self) -> RunMachine:
        self.produced = set()  # a new driver holds nothing
        return super()._machine()

    def _carry_out(self, machine: RunMachine, commands: list[Command]) -> list[Stimulus]:
        for command in commands:
            if isinstance(command, Append):
                for new in command.events:
                    if new.type == "task.succeeded" and new.task_key is not None:
                        self.produced.add(new.task_key)
            elif isinstance(command, Submit):
                view = machine.live_view()
                for key in command.task_keys:
                    missing = [
                        lost for lost in _lost_inputs(self.graph, view, key) if lost not in self.produced
                    ]
                    assert not missing, f"{key} submitted needing {missing}, lost with an earlier drive"
        return super()._carry_out(machine, commands)

    def _ended(self, machine: RunMachine, key: str) -> Stimulus:
        ended = super()._ended(machine, key)
        parent = machine.task(key).parent
        if (
            isinstance(ended, AttemptEnded)
            and ended.status == "SUCCEEDED"
            and (parent or key) in self.unpersisted
        ):
            return AttemptEnded(key, ended.attempt, ended.status, {**ended.payload, "result": LOST})
        return ended


def _lost_inputs(graph: Graph, view: RunView, key: str) -> list[str]:
    """The succeeded tasks with unpersisted results whose values task ``key`` takes."""
    parent = view.tasks[key].parent
    found = []
    for upstream in graph.nodes[parent or key].upstream:
        task = view.tasks[upstream]
        values = view.children(upstream) if task.state is TaskState.MAPPED else [task]
        found += [v.key for v in values if v.state is TaskState.SUCCEEDED and not is_persisted(v.result)]
    return found


def _simulated(
    graph: Graph, options: dict[str, Any], data: st.DataObject, **flags: bool
) -> UnpersistedSimulation:
    chosen = {key: data.draw(policies(), label=f"{key} policy") for key in graph.nodes}
    lost = data.draw(st.sets(st.sampled_from(sorted(graph.nodes))), label="not persisted")
    return UnpersistedSimulation(graph, chosen, options, data, unpersisted=frozenset(lost), **flags)


@RUNS
@given(graphs(), machine_options(), st.data())
def test_no_attempt_needs_a_result_lost_with_an_earlier_drive_and_every_run_ends(
    graph: Graph, options: dict[str, Any], data: st.DataObject
) -> None:
    simulation = _simulated(graph, options, data)
    machine = simulation.run()  # checks each submission, and the fold after every handle
    view = machine.view()
    assert machine.is_finished and view.state == simulation.finished
    assert {key: task.state for key, task in view.tasks.items() if task.state not in SETTLED} == {}


@RUNS
@given(graphs(), machine_options(), st.data())
def test_a_run_with_lost_results_replays_to_the_same_events(
    graph: Graph, options: dict[str, Any], data: st.DataObject
) -> None:
    options = {**options, "has_limits": False}  # as in test_machine_properties: a log cannot tell
    simulation = _simulated(graph, options, data, has_stale_outcomes=False)
    simulation.run()
    log = simulation.log
    assert recorded(replay(log, simulation.task_policies, **options)) == recorded(log[1:])
