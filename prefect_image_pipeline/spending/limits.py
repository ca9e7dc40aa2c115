"""Spending limits: a cap per run (``max_cost_usd``) and a daily budget for the whole fleet
(IMAGE_PIPELINE_DAILY_BUDGET_USD), enforced around every paid request.

``BudgetedGenerator`` wraps the generator that calls OpenAI: before each request (each
retry too) it reserves the request's forecast (pricing.forecast) on the run's account and
today's; a request whose reservation would cross a limit is not sent
(``BudgetSpentError``), while requests already in flight finish. The answer's real cost
replaces its reservation. An answer refused by OpenAI (an HTTP error) costs nothing; a
request whose answer never came (a timeout, a reset) is counted at its forecast, since
OpenAI may have billed it.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from PIL import Image

from prefect_image_pipeline.edges.prefect_server.connect import prefect_home
from prefect_image_pipeline.errors import ConfigurationError, ImagePipelineError, is_transient
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.pricing import PriceTable, estimate_cost, load_price_table
from prefect_image_pipeline.pricing.forecast import Dimensions, forecast
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.spending.events import announce_budget_reached
from prefect_image_pipeline.spending.ledger import Account, Ledger, LocalLedger
from prefect_image_pipeline.steps.encode import EncodedImage
from prefect_image_pipeline.steps.generate import GeneratedImage, ImageGenerator
from prefect_image_pipeline.steps.references import ReferenceImage

DAILY_BUDGET_VARIABLE = "IMAGE_PIPELINE_DAILY_BUDGET_USD"
DAY_PREFIX = "day:"


class BudgetSpentError(ImagePipelineError):
    """A request was not sent: it would have taken ``account`` over its limit."""

    def __init__(self, account: Account) -> None:
        super().__init__(f"not started: {account.label} is spent")
        self.account = account

    def __reduce__(self) -> tuple[type[BudgetSpentError], tuple[Account]]:
        return (type(self), (self.account,))


@dataclass(frozen=True)
class SpendLimits:
    """The limits a run's requests count against (no secrets: a task parameter)."""

    run_key: str = ""  # whose cap: a chunk's parent run, else this run
    max_cost_usd: float | None = None
    daily_budget_usd: float | None = None
    budget_name: str = "fleet"  # whose daily budget (IMAGE_PIPELINE_BUDGET_NAME)
    batch: bool = False  # reserve at the Batch API's price

    @property
    def active(self) -> bool:
        """Whether any limit applies."""
        return self.max_cost_usd is not None or self.daily_budget_usd is not None

    def accounts(self, now: datetime | None = None) -> list[Account]:
        """The accounts a request reserves on: this run's cap, today's budget (UTC)."""
        accounts = []
        if self.max_cost_usd is not None:
            label = f"this run's budget of ${self.max_cost_usd:.2f}"
            accounts.append(Account(f"run:{self.run_key}", self.max_cost_usd, label))
        if self.daily_budget_usd is not None:
            accounts.append(today_account(self.daily_budget_usd, self.budget_name, now))
        return accounts


def today_account(limit_usd: float, name: str, now: datetime | None = None) -> Account:
    """Budget ``name``'s account for the UTC day of ``now``."""
    day = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    label = f"today's budget of ${limit_usd:.2f} ({day} UTC, {DAILY_BUDGET_VARIABLE})"
    return Account(f"{DAY_PREFIX}{name}:{day}", limit_usd, label)


def open_ledger() -> Ledger:
    """The Redis ledger every host shares (IMAGE_PIPELINE_LOCK_URL), else this host's."""
    lock_url = settings().lock_url
    if lock_url:
        from prefect_image_pipeline.spending.redis_ledger import RedisLedger

        return RedisLedger(lock_url.get_secret_value())
    return LocalLedger(prefect_home() / "image-pipeline" / "spending.json")


class BudgetedGenerator:
    """An ImageGenerator that reserves each request's cost before sending it."""

    def __init__(self, inner: ImageGenerator, limits: SpendLimits) -> None:
        self.inner = inner
        self.limits = replace(limits, batch=False)  # a request sent now: interactive price
        self.ledger = open_ledger()

    @property
    def name(self) -> str:
        """The wrapped generator's name."""
        return self.inner.name

    def warm_up(self) -> None:
        """As the wrapped generator."""
        self.inner.warm_up()

    def generate(
        self,
        image: EncodedImage,
        options: GenerationOptions,
        references: Sequence[ReferenceImage] = (),
        mask: ReferenceImage | None = None,
    ) -> GeneratedImage:
        """Reserve, send, settle."""
        table = load_price_table(settings().prices_file)
        others = (*references, *([mask] if mask else []))
        usd = expected_usd(self.limits, options, image, others, table)
        accounts = self.limits.accounts()
        token = uuid.uuid4().hex
        reserve_or_refuse(self.ledger, accounts, token, usd)
        spent = usd  # unless the answer says otherwise
        try:
            generated = self.inner.generate(image, options, references, mask)
        except Exception as exc:
            if getattr(exc, "status_code", None) is not None or not is_transient(exc):
                spent = 0.0  # OpenAI answered with an error, or nothing was sent: not billed
            raise
        else:
            actual = estimate_cost(
                generated.usage,
                options.model,
                options.resolved_image_model,
                table,
                batch=self.limits.batch,
            )
            spent = usd if actual.usd is None else actual.usd
            return generated
        finally:
            self.ledger.settle(accounts, token, spent)


def expected_usd(
    limits: SpendLimits,
    options: GenerationOptions,
    image: EncodedImage,
    others: Sequence[ReferenceImage],
    table: PriceTable,
) -> float:
    """One request's forecast at the price it is paid at; refused when a price is missing."""
    sizes = [reference_size(r) for r in others]
    expected = forecast(options, data_url_size(image.data_url), sizes, table=table)
    usd = expected.batch_usd if limits.batch else expected.usd
    if usd is None:
        raise ConfigurationError(
            f"Cannot hold this run to its budget: no price for {', '.join(expected.missing)}"
            "; add it with IMAGE_PIPELINE_PRICES_FILE"
        )
    return usd


def reserve_or_refuse(ledger: Ledger, accounts: Sequence[Account], token: str, usd: float) -> None:
    """Reserve ``usd`` on every account, or raise BudgetSpentError naming the one it would
    take over its limit (a day's budget also announces it: spending.events)."""
    over = ledger.reserve(accounts, token, usd)
    if over is None:
        return
    if over.name.startswith(DAY_PREFIX):
        announce_budget_reached(over, ledger.balance(over))
    raise BudgetSpentError(over)


def charge_submission(
    limits: SpendLimits,
    options: GenerationOptions,
    image: EncodedImage,
    others: Sequence[ReferenceImage],
) -> None:
    """A Batch API line about to be submitted: counted as spent at its forecast (OpenAI
    bills what it answers; its answer comes hours later, in another run), or refused."""
    usd = expected_usd(limits, options, image, others, load_price_table(settings().prices_file))
    ledger, accounts, token = open_ledger(), limits.accounts(), uuid.uuid4().hex
    reserve_or_refuse(ledger, accounts, token, usd)
    ledger.settle(accounts, token, usd)


def data_url_size(data_url: str) -> Dimensions | None:
    """Width and height of the image in a data URL (None if it cannot be read)."""
    try:
        payload = base64.b64decode(data_url.partition(",")[2])
        with Image.open(io.BytesIO(payload)) as opened:
            return opened.size
    except Exception:  # noqa: BLE001 - an unknown size is forecast as 1024x1024
        return None


def reference_size(reference: ReferenceImage) -> Dimensions | None:
    """A reference's width and height when it is sent inline (else unknown: None)."""
    return data_url_size(reference.value) if reference.kind == "data" else None


def check_cap(options: GenerationOptions, limits: SpendLimits) -> None:
    """Refuse, before any call, a run cap below what one image is expected to cost (an
    input of 1024x1024 with the run's options)."""
    if limits.max_cost_usd is None:
        return
    expected = forecast(options, None, table=load_price_table(settings().prices_file))
    one = expected.batch_usd if limits.batch else expected.usd
    if one is not None and limits.max_cost_usd < one:
        raise ConfigurationError(
            f"--max-cost ${limits.max_cost_usd:.4f} is below what one image is expected to "
            f"cost (${one:.4f}: {'; '.join(expected.assumptions)}), so nothing could be "
            f"generated; raise it to at least ${one:.4f}, or use --estimate to see each image"
        )
