"""Flows used only by the end-to-end tests. They are added to the runner image the way a
user adds their own (FROM flowrun-runner + COPY): see tests/e2e/flows/Dockerfile."""
