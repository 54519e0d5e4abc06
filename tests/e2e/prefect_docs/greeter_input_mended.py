# Mended copy of greeter_input.py ("Write interactive workflows", the GreeterInput
# example): it calls `receive_input` without importing it, a NameError in Prefect too.
# The one change: `receive_input` added to the import line.
from prefect import flow
from prefect.input.run_input import RunInput, receive_input

class GreeterInput(RunInput):
    value: str

@flow
async def greeter_flow():
    async for name_input in receive_input(GreeterInput, timeout=None):
        print(f"Hello, {name_input.value}!")
