"""One image through the steps, shared by the single-image and batch flows.

load -> encode -> generate -> upload, then one cleanup of what this image left in the
working directory (and the directory itself, when the run made it). Runs inside a flow or
a task. In the single-image flow every step is a Prefect task, named for its step and its
input ("encode logo.png"), and the run ends with its result artifact. In a batch
(``inline_local_steps``) the steps that only touch local disk (encode, save, cleanup,
loading a local file) are plain calls in the image's thread: they cannot fail
transiently, so retries and caching buy nothing, while each extra task run costs ~15 ms
of worker CPU and ~70 ms of Prefect-server CPU (docs/benchmarks.md).
Generate, upload and remote loads stay cached, retrying tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect.transactions import CommitMode, transaction
from pydantic import BaseModel

from prefect_image_pipeline.cache.storage import with_cache
from prefect_image_pipeline.checks.review import FlaggedOutputError, Review, review_output
from prefect_image_pipeline.inputs import ImageInput, parse_input
from prefect_image_pipeline.pacing.schedule import paced_at
from prefect_image_pipeline.pipeline.artifact import publish_result
from prefect_image_pipeline.pipeline.reporter import Say, StepReporter
from prefect_image_pipeline.pipeline.request import PipelineRequest
from prefect_image_pipeline.pipeline.tasks import (
    alias_task,
    cleanup_task,
    copies_task,
    encode_task,
    generate_task,
    load_task,
    retrying,
    save_task,
    upload_task,
)
from prefect_image_pipeline.pricing import CostEstimate, estimate_cost, load_price_table
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.steps.alias import AliasResult, alias_base
from prefect_image_pipeline.steps.cleanup import cleanup_temp_files
from prefect_image_pipeline.steps.encode import EncodedImage, encode_loaded
from prefect_image_pipeline.steps.generate import GeneratedImage
from prefect_image_pipeline.steps.load import LoadedImage, load_image
from prefect_image_pipeline.steps.upload import (
    PublishedImage,
    SavedImage,
    output_filename,
    output_stem,
    save_generated,
)
from prefect_image_pipeline.steps.usage import TokenUsage
from prefect_image_pipeline.steps.web_copies import WebCopies


class ProcessedImage(BaseModel):
    """What one image produced (no image bytes, no secrets)."""

    input: str
    s3_url: str
    public_url: str
    key: str
    loaded_bytes: int
    generated_bytes: int
    generator: str
    response_id: str | None = None
    usage: TokenUsage | None = None
    generation_cached: bool = False
    cost: CostEstimate | None = None
    review: Review | None = None
    # The key colour (#RRGGBB) cut out here because the image model cannot make a
    # transparent background (steps.transparency); None when it was not needed.
    background_cut_out: str | None = None
    copies: WebCopies | None = None  # --widths/--formats: the web copies published
    alias: AliasResult | None = None  # --alias: the stable address and what it rewrote


def _silent(line: str) -> None:
    del line


@dataclass(frozen=True)
class _Steps:
    """The steps of one image, as their own task runs or (``inline``) as plain calls."""

    request: PipelineRequest
    work_dir: str
    inline: bool

    def load(self, source: ImageInput) -> LoadedImage:
        if self.inline and source.kind == "file":
            return load_image(source, self.work_dir)
        load = retrying(load_task)
        return load(source, self.work_dir, self.request.store, label=source.name)

    def encode(self, loaded: LoadedImage) -> EncodedImage:
        return encode_loaded(loaded) if self.inline else encode_task(loaded, label=loaded.name)

    def generate(
        self, encoded: EncodedImage, source: ImageInput, label: str
    ) -> tuple[GeneratedImage, bool]:
        """The image and whether it came from the cache (no API call)."""
        generate = with_cache(retrying(generate_task), self.request.cache_block)
        state = generate(
            encoded,
            self.request.options,
            self.request.generator,
            references=self.request.references.for_input(source.raw),
            mask=self.request.mask,
            label=label,
            return_state=True,
        )
        return state.result(), state.name == "Cached"

    def price(self, generated: GeneratedImage, cached: bool) -> CostEstimate:
        """What this image cost: nothing when it came from the cache."""
        if self.request.generator.offline:
            return CostEstimate.free("offline")
        options = self.request.options
        table = load_price_table(settings().prices_file)
        # A cache hit's record keeps the usage it was paid for: that is what it saved.
        # An answer collected from a batch was paid at the Batch API's price.
        at_batch = self.request.generator.answers is not None and not cached
        # The Images API is always sent the model; the Responses tool runs on its default.
        image_model = options.resolved_image_model if options.api == "images" else None
        paid = estimate_cost(
            generated.usage, options.model, options.image_model or image_model, table, at_batch
        )
        return CostEstimate.free(saved_usd=paid.usd) if cached else paid

    def save(self, generated: GeneratedImage, name: str) -> SavedImage:
        if self.inline:
            return save_generated(generated, self.work_dir)
        return save_task(generated, self.work_dir, label=name)

    def upload(self, saved: SavedImage, name: str) -> PublishedImage:
        tag = self.request.output_tag
        filename = output_filename(
            f"generated_{name}" if tag is None else f"generated_{output_stem(name)}-{tag}",
            saved.extension,
        )
        upload = with_cache(retrying(upload_task), self.request.cache_block)
        return upload(saved, filename, self.request.s3_prefix, self.request.store, label=name)

    def copies(self, saved: SavedImage, published: PublishedImage, name: str) -> WebCopies | None:
        publish = self.request.publish
        if not (publish.widths or publish.formats):
            return None
        copies = with_cache(retrying(copies_task), self.request.cache_block)
        return copies(
            saved, published.key, publish.widths, publish.formats, self.request.store, label=name
        )

    def alias(
        self, saved: SavedImage, published: PublishedImage, copies: WebCopies | None, name: str
    ) -> AliasResult | None:
        publish = self.request.publish
        if publish.alias is None:
            return None
        stem = output_stem(name)
        base = self.request.store.key_prefix(alias_base(publish.alias, stem))
        point = retrying(alias_task)
        store = self.request.store
        return point(base, published, saved, copies, publish.alias_max_age, store, label=name)

    def cleanup(self, paths: list[str], name: str) -> None:
        if self.inline:
            cleanup_temp_files(*paths)
        else:
            cleanup_task(paths, label=name)


def run_pipeline(
    image: str,
    request: PipelineRequest,
    work_dir: Path,
    say: Say = _silent,
    inline_local_steps: bool = False,
    *,
    remove_work_dir: bool = False,
    artifact: bool = False,
) -> ProcessedImage:
    """Process one image; temporary files are removed however it ends (unless keep_temp).

    The one-image flow passes ``remove_work_dir`` when it made ``work_dir`` (removed in the
    same cleanup, after the files in it) and ``artifact`` for the run's result artifact.
    """
    source = parse_input(image)  # the flows refuse an unusable input before making work_dir
    steps = _Steps(request=request, work_dir=str(work_dir), inline=inline_local_steps)
    report = StepReporter(say, offline=request.generator.offline)
    temporary: list[str] = []  # what the steps leave on disk, as it appears
    try:
        # EAGER persists each step's cached result as the step ends (not when an enclosing
        # transaction or task finishes), so a crash right after an upload never costs a
        # second generation or a second object.
        with (
            transaction(commit_mode=CommitMode.EAGER),
            paced_at(request.images_per_minute, request.pacing_key),
        ):
            processed = _run_steps(source, steps, report, temporary)
    finally:
        # One cleanup however the run ends: the files first, then the directory made for them.
        if request.keep_temp:
            report.kept(work_dir)
        elif temporary or remove_work_dir:
            steps.cleanup([*temporary, *([str(work_dir)] if remove_work_dir else [])], source.name)
    if artifact:
        publish_result(processed)
    return processed


def _run_steps(
    source: ImageInput, steps: _Steps, report: StepReporter, temporary: list[str]
) -> ProcessedImage:
    """The steps; what they leave on disk is added to ``temporary`` as it appears."""
    report.loading(source)
    loaded = steps.load(source)
    if loaded.temporary:
        temporary.append(loaded.path)
    report.loaded(loaded)
    encoded = steps.encode(loaded)

    report.generating(steps.request.options)
    report.references(steps.request.references, source)
    generated, cached = steps.generate(encoded, source, label=loaded.name)
    cost = steps.price(generated, cached)
    report.generated(generated, cached)
    review = review_output(loaded.path, generated.png, steps.request.options)
    report.checked(review.checks)
    if review.checks.flags and steps.request.strict_checks:
        raise FlaggedOutputError(source.raw, review, cost)
    saved = steps.save(generated, loaded.name)
    temporary.append(saved.path)

    report.uploading()
    published = steps.upload(saved, loaded.name)
    report.uploaded()
    copies = steps.copies(saved, published, loaded.name)
    alias = steps.alias(saved, published, copies, loaded.name)
    return ProcessedImage(
        input=source.raw,
        s3_url=published.s3_url,
        public_url=published.public_url,
        key=published.key,
        loaded_bytes=loaded.size,
        generated_bytes=generated.size,
        generator=generated.generator,
        response_id=generated.response_id,
        usage=generated.usage,
        generation_cached=cached,
        cost=cost,
        review=review,
        background_cut_out=generated.cut_out_key,
        copies=copies,
        alias=alias,
    )
