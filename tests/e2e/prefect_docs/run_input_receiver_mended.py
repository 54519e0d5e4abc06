# Mended copy of run_input_receiver.py (the prefect.input.run_input API reference's
# receiver): in an async flow, `data.respond(...)` without `await` makes a coroutine that
# never runs, in Prefect too (its respond is async_dispatch'ed), so the sender waits for
# ever. The one change: `await`.
import random
from uuid import UUID
from prefect import flow
from prefect.logging import get_run_logger
from prefect.input import RunInput

class NumberData(RunInput):
    number: int


@flow
async def receiver_flow():
    async for data in NumberData.receive():
        squared = data.number ** 2
        await data.respond(NumberData(number=squared))
