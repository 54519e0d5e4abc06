# Mended copy of run_input_sender.py (the prefect.input.run_input API reference's
# sender): it read the answer from the RECEIVER's inputs (`receive(flow_run_id=
# receiver_flow_run_id)`), where Prefect hands back the number the sender sent itself
# (the log says "N squared is N"); the answer is sent to the sender, so it receives
# from itself. Here a run may not read another run's inputs at all (see
# tests/e2e/test_inputs.py, which runs the published one and sees it refused).
import random
from uuid import UUID
from prefect import flow
from prefect.logging import get_run_logger
from prefect.input import RunInput

class NumberData(RunInput):
    number: int


@flow
async def sender_flow(receiver_flow_run_id: UUID):
    logger = get_run_logger()

    the_number = random.randint(1, 100)

    await NumberData(number=the_number).send_to(receiver_flow_run_id)

    receiver = NumberData.receive()
    squared = await receiver.next()

    logger.info(f"{the_number} squared is {squared.number}")
