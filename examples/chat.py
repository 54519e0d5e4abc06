"""Send and receive input at runtime (Prefect's send_input / receive_input): a flow that
greets every name sent to it, in the order sent, until it is sent "bye".

    flowrun send chat --value Marvin        # or the form on the run's page in the UI,
    flowrun send chat --value bye           # or send_input("Marvin", flow_run_id="chat")
"""
from flowrun import flow
from flowrun.input import receive_input


@flow
def greet_each(stop: str = "bye") -> list[str]:
    greetings = []
    for name in receive_input(str, timeout=600, with_metadata=True):
        if name.value == stop:
            break
        greetings.append(f"Hello, {name.value}! (sent by {name.metadata.sender})")
        print(greetings[-1], flush=True)
    return greetings
