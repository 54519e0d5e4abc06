"""`flowrun send` and `flowrun inputs`: inputs sent to running flows (Prefect's
send_input, and reading a run's inputs), as the person using the CLI."""
from __future__ import annotations

import json
import uuid
from typing import Any

from ..contract import run_inputs as ri
from ..kube.client import KubeError
from ..sdk.inbox import read_entries
from ..sdk.messages import create_input
from .errors import INVALID_INPUT, NOT_FOUND, OK, CliError
from .inputs import InputError, build_input, load_object, parse_json, read_text, split_assignment

STR_PREFIX = ri.automatic_prefix("str")


def _run(s: Any, name: str) -> dict[str, Any]:
    obj = s.kube.get_flowrun(s.namespace, name)
    if obj is None:
        raise CliError(f"FlowRun {name!r} not found in namespace {s.namespace!r}", NOT_FOUND)
    return obj


def cmd_send(args: Any, s: Any) -> int:
    obj = _run(s, args.name)
    receiving = (obj.get("status") or {}).get("receiving") or {}
    for pair in args.input or []:
        split_assignment(pair)  # a malformed --input fails before anything else
    prefix = args.key_prefix or (STR_PREFIX if args.value is not None else receiving.get("keyPrefix"))
    if not prefix:
        raise InputError(f"FlowRun {args.name!r} does not wait in receive_input now, so the kind of input is "
                         "not known: name it with --key-prefix (e.g. order-auto for a RunInput class Order), "
                         "or send a string with --value")
    schema = receiving.get("inputSchema") if receiving.get("keyPrefix") == prefix else None
    if args.value is not None:
        value: Any = {"value": args.value}
    elif args.json is not None:
        value = parse_json(args.json, "--json")
    else:
        file_data = load_object(read_text(args.input_file), args.input_file) if args.input_file else None
        value = build_input(args.input or [], file_data, schema)
        if value is None:
            raise InputError("nothing to send: give --input KEY=VALUE, --input-file, --json or --value")
    key = args.key or ri.new_key(prefix, str(uuid.uuid4()))
    try:
        sent = create_input(s.kube, s.namespace, args.name, key, value, run=obj)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    except PermissionError as exc:
        raise CliError(str(exc), 5) from None
    print(f"{args.name}: sent {key} ({sent['metadata']['name']})", file=s.out)
    return OK


def cmd_inputs(args: Any, s: Any) -> int:
    _run(s, args.name)
    try:
        entries = read_entries(s.kube, s.namespace, args.name)
    except PermissionError as exc:
        raise CliError(str(exc), 5) from None
    except KubeError:
        raise
    if args.key_prefix:
        entries = [e for e in entries if str(e.get("key", "")).startswith(args.key_prefix)]
    if args.output == "json":
        print(json.dumps(entries, indent=2), file=s.out)
        return OK
    if args.output == "yaml":
        import yaml
        print(yaml.safe_dump(entries, sort_keys=False), file=s.out, end="")
        return OK
    if args.output == "name":
        for e in entries:
            print(e.get("key", ""), file=s.out)
        return OK
    rows = [("KEY", "SENDER", "SENT", "VALUE")]
    for e in entries:
        sender = e.get("senderRun") and f"run {e['senderRun']}" or e.get("sender", "")
        shown = json.dumps(e.get("value"), separators=(",", ":"))
        rows.append((e.get("key", ""), sender, e.get("sentAt", ""), shown if len(shown) <= 60 else shown[:59] + "…"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + r[3], file=s.out)
    if len(rows) == 1:
        print(f"(no inputs sent to {args.name})", file=s.out)
    return OK


def add_commands(add: Any) -> None:
    """The parser entries of `send` and `inputs` (called by cli/parser.py)."""
    p = add("send", "send an input to a running flow (Prefect's send_input)",
            "  flowrun send greeter --value andrew\n"
            "  flowrun send shop --input item=towel --input quantity=2\n"
            "  flowrun send shop --key-prefix order-auto --json '{\"item\":\"towel\",\"quantity\":2}'",
            description="Send an input to a FlowRun, as you: the flow's receive_input yields it. "
                        "Without --key-prefix the kind of input is the one the flow waits for now "
                        "(status.receiving), and the input is checked against its schema before "
                        "anything is sent (exit 4 naming the bad fields); --input values are "
                        "converted to the fields' types as for `flowrun resume`. --value sends a "
                        "string (receive_input(str)). The input is stored when this returns.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--input", "-i", action="append", metavar="KEY=VALUE", help="a field of the input (repeatable)")
    p.add_argument("--input-file", "-f", metavar="FILE", help="a JSON/YAML object with the input ('-' reads stdin)")
    p.add_argument("--json", metavar="JSON", help="the input as JSON")
    p.add_argument("--value", metavar="TEXT", help="send a string, as send_input('TEXT', ...)")
    p.add_argument("--key-prefix", metavar="PREFIX",
                   help="the channel (default: what the flow waits for; with --value, a str's)")
    p.add_argument("--key", metavar="KEY", help="the exact key (default: <prefix>-<uuid>)")

    p = add("inputs", "list the inputs sent to a FlowRun, oldest first",
            "  flowrun inputs greeter\n  flowrun inputs greeter -o json\n"
            "  flowrun inputs greeter --key-prefix chat",
            description="The inputs delivered to a FlowRun (its inbox), in the order they were "
                        "sent: key, who sent them (a person's user name, or the run whose pod "
                        "sent it) and the value. Kept until the FlowRun is deleted.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--key-prefix", metavar="PREFIX", help="only keys starting with PREFIX")
    p.add_argument("-o", "--output", choices=["json", "yaml", "name"], help="print as json, yaml, or keys")
