"""Run with the Prefect venv's python (bench/peers.py does): the Kubernetes work pool
and the two deployments of prefectflows/peers.py, against PREFECT_API_URL.
argv: pool namespace image api_url_for_pods; prints {"quick": id, "pause_many": id}."""
import asyncio
import json
import sys

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate

pool, namespace, image, api_url = sys.argv[1:5]


async def pool_() -> None:
    from prefect_kubernetes.worker import KubernetesWorker
    template = KubernetesWorker.get_default_base_job_template()
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="kubernetes", base_job_template=template),
                                      overwrite=True)


def deploy() -> None:
    sys.path.insert(0, ".")
    from prefectflows.peers import pause_many, quick
    variables = {"image": image, "namespace": namespace, "image_pull_policy": "Never",
                 "env": {"PREFECT_API_URL": api_url}, "command": "python3 -m prefect.engine",
                 "finished_job_ttl": None}
    out = {}
    for fn in (quick, pause_many):
        out[fn.name.replace("-", "_")] = str(fn.deploy(name=fn.name, work_pool_name=pool, image=image, build=False,
                                                      push=False, job_variables=variables, print_next_steps=False))
    print(json.dumps(out))


asyncio.run(pool_())
deploy()
