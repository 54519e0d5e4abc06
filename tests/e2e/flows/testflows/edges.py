"""Flows that write hostile things where flow code may (issue 26)."""
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from flowrun import flow, pause_flow_run


class Word(BaseModel):
    # A catastrophic pattern for a backtracking engine: 'a'*26+'!' took 4 s in Python's re.
    word: Annotated[str, Field(pattern=r"^(a+)+$")]


class Echo(BaseModel):
    # A backreference: RE2 cannot compile it, so no pause may store it. (pydantic's own
    # default engine, Rust's regex, refuses it too: this model asks for Python's re.)
    model_config = ConfigDict(regex_engine="python-re")
    word: Annotated[str, Field(pattern=r"^(a)\1$")]


@flow
def pauses_with_hostile_pattern() -> str:
    return pause_flow_run(wait_for_input=Word, timeout=600).word


@flow
def pauses_with_backreference() -> str:
    return pause_flow_run(wait_for_input=Echo, timeout=600).word
