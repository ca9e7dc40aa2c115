"""Deployments: prefect.yaml, the serve entry, the docs, and the whole path end to end.

The end-to-end test runs the commands of docs/deploy.md against a real `prefect server
start` and `prefect worker start`, with moto's S3 and the fake OpenAI server at the edges.
"""

from __future__ import annotations

import inspect
import json
import re
import shlex
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, cast

import pytest
import yaml  # type: ignore[import-untyped]
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, StateType
from prefect.utilities.schema_tools.validation import validate

from deployments.serve import build_deployments, deployment_specs, load_flow
from prefect_image_pipeline.options.sdk import choices
from tests.conftest import TEST_OPENAI_KEY, S3Env
from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo
from tests.paths import REPO
from tests.prefect_server import PREFECT, PYTHON, Finished, PrefectStack

# End to end through subprocesses or a real Prefect server: not in scripts/check --fast.
pytestmark = pytest.mark.slow


DEPLOY_DOC = REPO / "docs" / "deploy.md"
FLOW_NAMES = {
    "on-demand": "process-image",
    "batch": "process-images",
    "nightly": "reprocess-images",
    "every-10-minutes": "collect-batches",
    "on-upload": "process-image",
    "watch-uploads": "watch-sources",
}
# The deployments that process images: they load the key and the bucket from the blocks.
PROCESSING = {"on-demand", "batch", "nightly", "every-10-minutes", "on-upload"}

# The commands of docs/deploy.md, as the end-to-end test runs them (after `uv run`).
REGISTER = "prefect block register -m blocks"
SAVE_BLOCKS = "python -m blocks"
CREATE_GCL = "prefect gcl create openai-image-generation --limit 8"
CREATE_POOL = "prefect work-pool create images --type process"
DEPLOY = "prefect --no-prompt deploy --all"
WORKER = "prefect worker start --pool images"
RUN_ON_DEMAND = "prefect deployment run 'process-image/on-demand'"
RUN_BATCH = "prefect deployment run 'process-images/batch'"

# Withheld from the worker, and so from its runs: only the blocks can supply these.
WORKER_DROPS = (
    "OPENAI_",
    "ARTIFACTS_BUCKET",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
)


def argv(command: str, *extra: str) -> list[str]:
    """A documented command as argv, with this environment's prefect and python."""
    words = shlex.split(command)
    programs = {
        "prefect": [PREFECT],
        "python": [PYTHON],
        "process-image": [PYTHON, "-m", "prefect_image_pipeline.cli"],
    }
    return [*programs[words[0]], *words[1:], *extra]


def specs_by_name() -> dict[str, dict[str, Any]]:
    return {spec["name"]: spec for spec in deployment_specs()}


# -- prefect.yaml, serve, docs: fast checks -------------------------------------------


def test_prefect_yaml_deploys_typed_flows_to_the_images_pool() -> None:
    document = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert document["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}
    ]
    specs = specs_by_name()
    assert set(specs) == set(FLOW_NAMES)
    for name, spec in specs.items():
        flow = load_flow(spec["entrypoint"])
        assert flow.name == FLOW_NAMES[name]
        assert spec["work_pool"]["name"] == "images"
        assert spec["enforce_parameter_schema"] is True
        if name in PROCESSING:
            assert spec["parameters"]["openai_credentials_block"] == "openai"
            assert spec["parameters"]["s3_bucket_block"] == "images"
        # Every default is a parameter of the flow (a renamed one would break the form).
        assert set(spec["parameters"]) <= set(inspect.signature(flow.fn).parameters), name
    nightly = specs["nightly"]
    assert nightly["schedules"] == [{"cron": "0 3 * * *", "timezone": "UTC", "active": True}]
    assert nightly["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


@pytest.mark.parametrize(
    ("pool", "collection", "worker_type"),
    [
        ("docker", "prefect-docker", "docker"),
        ("kubernetes", "prefect-kubernetes", "kubernetes"),
        ("ecs", "prefect-aws", "ecs"),
    ],
)
def test_container_pool_job_variables_fit_the_pool_templates(
    pool: str, collection: str, worker_type: str
) -> None:
    # The base job templates `prefect work-pool create --type ...` installs, as bundled
    # with prefect: the server validates a deployment's job variables against these.
    views = resources.files("prefect.server.api.collections_data") / "views"
    workers = json.loads((views / "aggregate-worker-metadata.json").read_text())
    template = workers[collection][worker_type]["default_base_job_configuration"]
    schema = template["variables"]
    definitions = yaml.safe_load((REPO / "prefect.yaml").read_text())["definitions"]
    job_variables = definitions["work_pools"][pool]["job_variables"]
    assert set(job_variables) <= set(schema["properties"])
    assert validate(job_variables, schema, preprocess=True, ignore_required=True) == []
    assert definitions["pull_in_image"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/image-pipeline"}}
    ]


def test_serve_builds_the_deployments_of_prefect_yaml() -> None:
    served = {d.name: d for d in build_deployments()}
    specs = specs_by_name()
    assert set(served) == set(specs)
    for name, deployment in served.items():
        assert deployment.flow_name == FLOW_NAMES[name]
        assert deployment.parameters == specs[name]["parameters"]
        assert deployment.tags == specs[name]["tags"]
        # Served by module path: the installed package's flow, which flows/ re-exports.
        entrypoint = specs[name]["entrypoint"].replace("flows/", "prefect_image_pipeline/")
        assert deployment.entrypoint == entrypoint.replace(".py:", ".").replace("/", ".")
        assert deployment.work_pool_name is None
    (schedule,) = served["nightly"].schedules or []
    assert schedule.schedule.cron == "0 3 * * *"  # type: ignore[union-attr]
    assert schedule.schedule.timezone == "UTC"
    assert schedule.active is True
    assert served["nightly"].concurrency_limit == 1
    options = served["nightly"].concurrency_options
    assert options is not None and options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert served["on-demand"].schedules == []


def test_served_deployments_are_accepted_by_the_server(prefect_api_url: str) -> None:
    from prefect.client.orchestration import get_client

    ids = [
        cast(uuid.UUID, deployment.apply(_sync=True))  # type: ignore[call-arg]
        for deployment in build_deployments()
    ]
    with get_client(sync_client=True) as client:
        try:
            nightly = client.read_deployment_by_name("reprocess-images/nightly")
            on_demand = client.read_deployment_by_name("process-image/on-demand")
        finally:  # the session's server is shared: leave no schedule behind
            for deployment_id in ids:
                client.delete_deployment(deployment_id)
    (schedule,) = nightly.schedules
    assert schedule.schedule.cron == "0 3 * * *"  # type: ignore[union-attr]
    assert nightly.global_concurrency_limit is not None
    assert nightly.global_concurrency_limit.limit == 1
    assert nightly.work_pool_name is None
    assert on_demand.entrypoint == "prefect_image_pipeline.process_image.process_image"
    assert on_demand.enforce_parameter_schema is True


def test_every_flow_parameter_is_described_in_the_ui_form() -> None:
    from prefect.utilities.callables import parameter_schema

    for name, spec in specs_by_name().items():
        schema = parameter_schema(load_flow(spec["entrypoint"])).model_dump()
        missing = [p for p, prop in schema["properties"].items() if not prop.get("description")]
        assert missing == [], f"{name}: no description for {missing}"


def test_deploy_docs_show_the_commands_the_end_to_end_test_runs() -> None:
    doc = DEPLOY_DOC.read_text()
    assert doc.startswith("## Deploy\n")
    for command in (REGISTER, SAVE_BLOCKS, CREATE_GCL, CREATE_POOL, DEPLOY, WORKER):
        assert f"uv run {command}\n" in doc, command
    assert f"uv run {RUN_ON_DEMAND} -p image=" in doc
    assert f"uv run {RUN_BATCH} -p 'images=[" in doc
    assert "uv run prefect server start --host 127.0.0.1 --port 4200\n" in doc


def test_the_readme_links_the_deploy_doc_instead_of_copying_it() -> None:
    readme = (REPO / "README.md").read_text()
    assert "(docs/deploy.md)" in readme
    assert f"uv run {DEPLOY}" not in readme


def test_dockerfile_copies_files_that_exist() -> None:
    dockerfile = (REPO / "deployments" / "Dockerfile").read_text()
    sources = [
        word
        for line in dockerfile.splitlines()
        if line.startswith("COPY ")
        for word in line.split()[1:-1]
    ]
    assert "flows/" in sources and "uv.lock" in sources
    for source in sources:
        assert (REPO / source).exists(), source
    ignore = (REPO / "deployments" / "Dockerfile.dockerignore").read_text().splitlines()
    for source in sources:
        assert f"!{source}" in ignore, f"{source} is excluded from the build context"


# -- end to end -----------------------------------------------------------------------


def run_id(done: Finished) -> uuid.UUID:
    """The flow run id `prefect deployment run` printed."""
    match = re.search(r"UUID: ([0-9a-f-]{36})", done.output)
    assert match, done.output
    return uuid.UUID(match.group(1))


def succeeded(done: Finished) -> Finished:
    assert done.returncode == 0, f"{' '.join(done.argv)} exited {done.returncode}:\n{done.output}"
    return done


@pytest.mark.timeout(480)
def test_deployments_run_on_a_real_server_and_worker(
    s3: S3Env,
    openai_fake: FakeOpenAIServer,
    http_server: ImageHTTPServer,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)

    on_demand_image = tmp_path / "on-demand.png"
    on_demand_image.write_bytes(logo(seed=1))
    batch_local = tmp_path / "batch-local.png"
    batch_local.write_bytes(logo(seed=2))
    batch_url = http_server.add("/batch-url.png", logo(seed=3))
    s3.client.put_object(Bucket=s3.bucket, Key="inbox/batch-s3.png", Body=logo(seed=4))  # type: ignore[attr-defined]
    batch = [str(batch_local), batch_url, f"s3://{s3.bucket}/inbox/batch-s3.png"]

    with PrefectStack(root=tmp_path / "e2e", cwd=REPO) as stack:
        stack.start_server()
        lap("server healthy")

        # Started as soon as what they need exists: the pool before `deploy` and the
        # worker, our block type in the catalog before `python -m blocks` saves documents.
        pool = stack.start("work-pool-create", *argv(CREATE_POOL))
        register = stack.start("block-register", *argv(REGISTER))
        gcl = stack.start("gcl-create", *argv(CREATE_GCL))
        succeeded(pool.finish(180))
        deploy = stack.start("deploy", *argv(DEPLOY))
        worker_env = stack.worker_env(tmp_path / "results", drop=WORKER_DROPS)
        stack.start("worker", *argv(WORKER), env=worker_env)
        registered = succeeded(register.finish(180))
        assert "Image Pipeline OpenAI Credentials" in registered.output
        save_blocks = stack.start("python-m-blocks", *argv(SAVE_BLOCKS))
        succeeded(gcl.finish(180))
        saved = succeeded(save_blocks.finish(180))
        assert TEST_OPENAI_KEY not in saved.output
        deployed = succeeded(deploy.finish(240))
        for name, flow_name in FLOW_NAMES.items():
            assert f"Deployment '{flow_name}/{name}' successfully created" in deployed.output
        lap("deployed")

        rejected = stack.start(
            "run-bad-quality",
            *argv(RUN_ON_DEMAND, "-p", f"image={on_demand_image}", "-p", "quality=ultra"),
        )
        one = stack.start(
            "run-on-demand", *argv(RUN_ON_DEMAND, "-p", f"image={on_demand_image}", "--watch")
        )
        many = stack.start(
            "run-batch", *argv(RUN_BATCH, "-p", f"images={json.dumps(batch)}", "--watch")
        )

        bad = rejected.finish(120)
        assert bad.returncode != 0, bad.output
        assert f"'ultra' is not one of {list(choices('quality'))}" in bad.output
        on_demand_id = run_id(succeeded(one.finish(240)))
        batch_id = run_id(succeeded(many.finish(240)))
        lap("runs completed")

        with stack.client() as client:
            deployments = {
                name: client.read_deployment_by_name(f"{flow}/{name}")
                for name, flow in FLOW_NAMES.items()
            }
            runs = {
                "on-demand": client.read_flow_run(on_demand_id),
                "batch": client.read_flow_run(batch_id),
            }
            on_demand_runs = client.read_flow_runs(
                deployment_filter=_deployment_filter(deployments["on-demand"].id)
            )
            block_type = client.read_block_type_by_slug("image-pipeline-openai-credentials")
            schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
            openai_block = client.read_block_document_by_name(
                "openai", "image-pipeline-openai-credentials", include_secrets=False
            )
            bucket_block = client.read_block_document_by_name(
                "images", "s3-bucket", include_secrets=False
            )
            gcl_after = client.read_global_concurrency_limit_by_name("openai-image-generation")

    lap("stopped")
    print("e2e timings (s since start):", timings)

    # Each run came from its deployment, carried the block defaults and completed.
    for name, run in runs.items():
        assert run.deployment_id == deployments[name].id
        assert run.state is not None and run.state.type == StateType.COMPLETED, run.state
        assert run.parameters["openai_credentials_block"] == "openai"
        assert run.parameters["s3_bucket_block"] == "images"
    assert runs["on-demand"].parameters["image"] == str(on_demand_image)
    assert runs["batch"].parameters["images"] == batch
    # The rejected run was never created.
    assert [r.id for r in on_demand_runs] == [on_demand_id]

    # Outputs in S3, published as PNGs: one on demand, three from the batch.
    generated = s3.keys("generated-images/")
    for stem in ("on-demand", "batch-local", "batch-url", "batch-s3"):
        assert len([k for k in generated if k.endswith(f"_generated_{stem}.png")]) == 1, generated
    assert len(generated) == 4
    for key in generated:
        head = s3.head(key)
        assert head["ContentType"] == "image/png"
        assert s3.read(key).startswith(b"\x89PNG\r\n\x1a\n")
    # Four images, four OpenAI calls, each with the key from the block.
    calls = openai_fake.responses_requests
    assert len(calls) == 4
    assert {c.headers["authorization"] for c in calls} == {f"Bearer {TEST_OPENAI_KEY}"}

    # What the deployments carry: pool, pull step from this clone, typed forms, schedule.
    for name, deployment in deployments.items():
        assert deployment.work_pool_name == "images"
        assert deployment.enforce_parameter_schema is True
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ], name
    on_demand_form = (deployments["on-demand"].parameter_openapi_schema or {})["properties"]
    assert on_demand_form["quality"]["enum"] == list(choices("quality"))
    batch_form = (deployments["batch"].parameter_openapi_schema or {})["properties"]
    assert batch_form["images"]["minItems"] == 1
    assert batch_form["concurrency"]["maximum"] == 64

    nightly = deployments["nightly"]
    (schedule,) = nightly.schedules
    assert schedule.schedule.cron == "0 3 * * *"  # type: ignore[union-attr]
    assert schedule.schedule.timezone == "UTC"
    assert schedule.active is True
    assert nightly.parameters["source_prefix"] == "incoming/"
    assert nightly.parameters["destination_prefix"] == "reprocessed"
    assert nightly.global_concurrency_limit is not None
    assert nightly.global_concurrency_limit.limit == 1
    assert nightly.concurrency_options is not None
    assert nightly.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert deployments["on-demand"].schedules == []

    # Blocks: our type is in the catalog with a secret field; the saved key stays masked.
    assert "api_key" in schema.fields["secret_fields"]
    assert TEST_OPENAI_KEY not in json.dumps(openai_block.data, default=str)
    assert bucket_block.data["bucket_name"] == s3.bucket
    # The OpenAI cap exists as documented, with every slot given back.
    assert gcl_after.limit == 8 and gcl_after.active_slots == 0


def _deployment_filter(deployment_id: uuid.UUID) -> Any:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
