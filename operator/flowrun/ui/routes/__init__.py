"""The UI's routes, a module per page: `runs` (the list), `run` (one run, its parts and
its actions), `events` (the live streams: server-sent events and logs), `signin`, and
`errors` (the pages for what went wrong). `ui/app.py` assembles them."""
