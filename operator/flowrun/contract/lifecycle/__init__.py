"""Every decision about a FlowRun's life, as pure functions, split by who acts.

Four writers change a FlowRun: a person (kubectl, the CLI, the UI), the admission
webhook, the operator, and the runner of one attempt inside the run's pod. Each of
them reads the FlowRun, asks a function here what to do, and does exactly that:

- `operator.operator_step(obj, world, policy, now)`: the operator's next single step,
  decided by `operator.RULES`, an ordered list of named rules (`attempts.py` follows a
  live attempt).
- `runner.runner_*(obj, attempt, ...)`: the runner's steps, each fenced first;
  `pausing.runner_pause` for a pause.
- `people.plan`, `people.user_change` and `people.review_update`: what a person may
  change, for the CLI, the UI, the SDK's client calls and the admission webhook alike.
- `subflows`: a child's outcome mirrored into its parent.

Below them: `steps` (what a decision can say), `world` (what the operator sees of the
world, and its settings), `view` (the typed, read-only view of a run every decision
reads: `RunView`, `PauseView`, `Approval`) and `vocabulary` (the words, each said once:
phases, states, the actions table, refusal codes, end reasons, kinds, the clock).
pyproject.toml's import-linter layers keep that order: a module never imports one
above it, so the rules stay readable on their own and no cycle can come back.

Nothing here does I/O or reads a clock (`vocabulary.now` is the clock the shells read;
no decision calls it): `now` is an argument, the world (Jobs, pods,
linked children) is a plain value, and the runner's model validation and volume reads
are callbacks. See docs/design.md, "The state machine", for the order of multi-write
decisions and why a crash or a concurrent write between them loses nothing.
"""
